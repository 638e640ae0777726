/* Decoding and validation of stream entries (sync/event.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <hiredis/hiredis.h>
#include "event.h"
#include "ig_keys.h"

#define CODE "A7F3E9D2B4C5HJKM"
#define AT "1700000000000"
#define ID "1700000000000-0"
#define RESP_BYTES 65536

/* One field of an entry; len SIZE_MAX means strlen(value). */
typedef struct field_t {
    const char *name;
    const char *value;
    size_t len;
} field_t;

#define F(n, v)                                                                                                                    \
    {                                                                                                                              \
        (n), (v), SIZE_MAX                                                                                                         \
    }

static const field_t issued[] = {F("t", "issued"),           F("code", CODE), F("batch", "b-2024-05"),
                                 F("cohort", "spring"),      F("max", "3"),   F("exp", "1900000000"),
                                 F("to", "ann@example.com"), F("by", "ops"),  F("at", AT)};
static const field_t redeemed[] = {F("t", "redeemed"), F("code", CODE),      F("email", "bob@example.com"),
                                   F("n", "2"),        F("ip", "192.0.2.7"), F("at", AT)};
static const field_t revoked[] = {F("t", "revoked"), F("code", CODE), F("at", AT)};

/* The waitlist, referral and points events of IG_KEY_WL_EVENTS. */
#define UUID "0f1e2d3c-4b5a-8697-a8b9-cadbecfd0e1f"
#define REF "K7QX9MAB"
static const field_t joined[] = {F("t", "joined"),
                                 F("email", "ann@example.com"),
                                 F("persona", "small_team"),
                                 F("use_case", "Marketing automation"),
                                 F("score", "20"),
                                 F("seq", "41"),
                                 F("ref", REF),
                                 F("ref_email", "bob@example.com"),
                                 F("ip", "192.0.2.7"),
                                 F("at", AT)};
static const field_t admitted[] = {F("t", "admitted"), F("email", "ann@example.com"), F("code", CODE), F("at", AT)};
static const field_t shared[] = {F("t", "shared"), F("id", UUID), F("inviter", "ann@example.com"), F("recipient", "cy@example.org"),
                                 F("at", AT)};
static const field_t clicked[] = {F("t", "clicked"), F("ref", REF), F("at", AT)};
static const field_t earned[] = {F("t", "earned"), F("email", "ann@example.com"), F("tranche", "2"),
                                 F("codes", CODE " 23456789ABCDEFGH JKMNOPQRSTUVWXYZ"), F("at", AT)};
static const field_t lifecycle[] = {F("t", "lifecycle"), F("email", "ann@example.com"), F("kind", "paid"), F("amount", "1999"),
                                    F("at", AT)};
static const field_t spent[] = {F("t", "spent"),          F("email", "ann@example.com"),
                                F("amount", "300"),       F("kind", "REDEMPTION_QUOTA"),
                                F("note", "extra quota"), F("at", AT)};
static const field_t erased[] = {F("t", "erased"), F("uid", UUID), F("at", AT)};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* The reply the current event borrows from, freed before the next one and after each test. */
static redisReply *held;

static int teardown(void **state)
{
    if (held != NULL)
        freeReplyObject(held);
    held = NULL;
    return 0;
}

/* Parses RESP with hiredis's own reader, as the daemon gets its replies. */
static redisReply *parse_resp(const char *resp, size_t len)
{
    redisReader *r = redisReaderCreate();
    void *reply = NULL;
    assert_non_null(r);
    assert_int_equal(redisReaderFeed(r, resp, len), REDIS_OK);
    assert_int_equal(redisReaderGetReply(r, &reply), REDIS_OK);
    assert_non_null(reply);
    redisReaderFree(r);
    return reply;
}

static size_t put_bulk(char *buf, size_t at, const char *s, size_t len)
{
    if (len == SIZE_MAX)
        len = strlen(s);
    assert_true(at + len + 32 < RESP_BYTES);
    at += (size_t)sprintf(buf + at, "$%zu\r\n", len);
    memcpy(buf + at, s, len);
    memcpy(buf + at + len, "\r\n", 2);
    return at + len + 2;
}

/*
 * Builds [id, [name, value, ...]] from fields, with the field called name
 * given value (len bytes, SIZE_MAX for strlen) instead, removed when value is
 * NULL, or appended when fields lacks it; name NULL changes nothing.
 */
static redisReply *entry_with(const field_t *fields, size_t n, const char *name, const char *value, size_t len)
{
    static char buf[RESP_BYTES];
    field_t out[32];
    size_t k = 0, at;
    int replaced = 0;

    for (size_t i = 0; i != n; ++i) {
        if (name != NULL && strcmp(fields[i].name, name) == 0) {
            replaced = 1;
            if (value != NULL)
                out[k++] = (field_t){name, value, len};
        } else {
            out[k++] = fields[i];
        }
    }
    if (name != NULL && !replaced && value != NULL)
        out[k++] = (field_t){name, value, len};
    at = (size_t)sprintf(buf, "*2\r\n");
    at = put_bulk(buf, at, ID, SIZE_MAX);
    at += (size_t)sprintf(buf + at, "*%zu\r\n", 2 * k);
    for (size_t i = 0; i != k; ++i) {
        at = put_bulk(buf, at, out[i].name, SIZE_MAX);
        at = put_bulk(buf, at, out[i].value, out[i].len);
    }
    return parse_resp(buf, at);
}

/* Decodes a one-event entry from bucket 3, keeping its reply alive until the next call: 1, or -1 without a usable id. */
static long decode_resp(sync_event_t *ev, const char *resp, size_t len)
{
    teardown(NULL);
    held = parse_resp(resp, len);
    assert_int_equal(sync_event_count(held), sync_event_decode(ev, 3, held));
    return sync_event_decode(ev, 3, held);
}

static void decode_with(sync_event_t *ev, const field_t *fields, size_t n, const char *name, const char *value, size_t len)
{
    teardown(NULL);
    char entry[SYNC_ENTRY_ID_BYTES];
    held = entry_with(fields, n, name, value, len);
    assert_int_equal(sync_event_count(held), 1);
    assert_int_equal(sync_event_decode(ev, 3, held), 1);
    assert_string_equal(ev->event_id, "3-" ID);
    assert_string_equal(sync_event_entry_id(entry, ev), ID);
    assert_int_equal(ev->item, 0);
    assert_int_equal(ev->bucket, 3);
    if (ev->type == SYNC_EVENT_MALFORMED)
        assert_non_null(ev->reason);
    else
        assert_null(ev->reason);
}

#define DECODE(ev, base) decode_with((ev), (base), COUNT(base), NULL, NULL, 0)
#define WITH(ev, base, name, value) decode_with((ev), (base), COUNT(base), (name), (value), SIZE_MAX)
#define WITH_N(ev, base, name, value, len) decode_with((ev), (base), COUNT(base), (name), (value), (len))
#define WITHOUT(ev, base, name) decode_with((ev), (base), COUNT(base), (name), NULL, 0)

/* A string of n copies of unit. */
static char *repeat(const char *unit, size_t n)
{
    size_t u = strlen(unit);
    char *s = malloc(u * n + 1);
    assert_non_null(s);
    for (size_t i = 0; i != n; ++i)
        memcpy(s + i * u, unit, u);
    s[u * n] = '\0';
    return s;
}

static void issued_entry_decodes_every_field(void **state)
{
    sync_event_t ev;
    DECODE(&ev, issued);
    assert_int_equal(ev.type, SYNC_EVENT_ISSUED);
    assert_string_equal(ev.code, CODE);
    assert_string_equal(ev.batch, "b-2024-05");
    assert_string_equal(ev.cohort, "spring");
    assert_string_equal(ev.issued_to, "ann@example.com");
    assert_string_equal(ev.created_by, "ops");
    assert_int_equal(ev.max_uses, 3);
    assert_int_equal(ev.expires_s, 1900000000LL);
    assert_int_equal(ev.at_ms, 1700000000000LL);
    assert_null(ev.email);
    assert_null(ev.ip);
}

static void redeemed_entry_decodes_every_field(void **state)
{
    sync_event_t ev;
    DECODE(&ev, redeemed);
    assert_int_equal(ev.type, SYNC_EVENT_REDEEMED);
    assert_string_equal(ev.code, CODE);
    assert_string_equal(ev.email, "bob@example.com");
    assert_string_equal(ev.ip, "192.0.2.7");
    assert_int_equal(ev.use_number, 2);
    assert_int_equal(ev.at_ms, 1700000000000LL);
    assert_null(ev.batch);
    assert_null(ev.cohort);
    assert_null(ev.issued_to);
    assert_null(ev.created_by);
}

static void revoked_entry_decodes_code_and_time(void **state)
{
    sync_event_t ev;
    DECODE(&ev, revoked);
    assert_int_equal(ev.type, SYNC_EVENT_REVOKED);
    assert_string_equal(ev.code, CODE);
    assert_int_equal(ev.at_ms, 1700000000000LL);
    assert_null(ev.batch);
    assert_null(ev.email);
}

/* Fields come in any order; fields the decoder does not know are ignored. */
static void field_order_and_unknown_fields_do_not_matter(void **state)
{
    const field_t shuffled[] = {F("at", AT),     F("v", "2"),       F("n", "2"),        F("ip", "192.0.2.7"),
                                F("code", CODE), F("T", "revoked"), F("t", "redeemed"), F("email", "bob@example.com"),
                                F("", "")};
    sync_event_t ev;
    DECODE(&ev, shuffled);
    assert_int_equal(ev.type, SYNC_EVENT_REDEEMED);
    assert_string_equal(ev.email, "bob@example.com");
    assert_int_equal(ev.use_number, 2);
    /* Revoked takes no other fields, and ignores those of other types. */
    const field_t busy[] = {F("t", "revoked"), F("code", CODE), F("at", AT), F("email", "\xff"), F("max", "-1")};
    DECODE(&ev, busy);
    assert_int_equal(ev.type, SYNC_EVENT_REVOKED);
}

static void optional_fields_absent_or_empty_are_null(void **state)
{
    const char *optional[] = {"cohort", "to", "by"};
    sync_event_t ev;
    for (size_t i = 0; i != COUNT(optional); ++i) {
        WITHOUT(&ev, issued, optional[i]);
        assert_int_equal(ev.type, SYNC_EVENT_ISSUED);
        WITH(&ev, issued, optional[i], "");
        assert_int_equal(ev.type, SYNC_EVENT_ISSUED);
    }
    const field_t minimal[] = {F("t", "issued"), F("code", CODE), F("batch", "b"), F("max", "1"), F("exp", "1"), F("at", "1")};
    DECODE(&ev, minimal);
    assert_int_equal(ev.type, SYNC_EVENT_ISSUED);
    assert_null(ev.cohort);
    assert_null(ev.issued_to);
    assert_null(ev.created_by);
    const field_t empties[] = {F("t", "issued"), F("code", CODE), F("batch", "b"), F("max", "1"), F("exp", "1"),
                               F("at", "1"),     F("cohort", ""), F("to", ""),     F("by", "")};
    DECODE(&ev, empties);
    assert_int_equal(ev.type, SYNC_EVENT_ISSUED);
    assert_null(ev.cohort);
    assert_null(ev.issued_to);
    assert_null(ev.created_by);

    WITHOUT(&ev, redeemed, "ip");
    assert_int_equal(ev.type, SYNC_EVENT_REDEEMED);
    assert_null(ev.ip);
    WITH(&ev, redeemed, "ip", "");
    assert_int_equal(ev.type, SYNC_EVENT_REDEEMED);
    assert_null(ev.ip);
}

static void unknown_or_missing_type_is_malformed(void **state)
{
    const char *types[] = {"", "ISSUED", "Issued", "issue", "issuedx", " issued", "redeemed ", "revoke", "malformed", "x"};
    sync_event_t ev;
    for (size_t i = 0; i != COUNT(types); ++i) {
        WITH(&ev, issued, "t", types[i]);
        assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
    }
    WITH_N(&ev, revoked, "t", "revoked\0", 8);
    assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
    WITHOUT(&ev, revoked, "t");
    assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
    const field_t none[] = {F("code", CODE)};
    decode_with(&ev, none, 0, NULL, NULL, 0);
    assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
}

static void code_must_be_a_body_of_the_alphabet(void **state)
{
    const char *bad[] = {"",
                         "A7F3E9D2B4C5HJK",   /* 15 characters */
                         "A7F3E9D2B4C5HJKMN", /* 17 */
                         "a7f3e9d2b4c5hjkm",  /* bodies are upper case */
                         "A7F3E9D2B4C5HJK0",  /* 0, 1, I and L are not in the alphabet */
                         "A7F3E9D2B4C5HJK1",
                         "A7F3E9D2B4C5HJKI",
                         "A7F3E9D2B4C5HJKL",
                         "VOBEE-A7F3E9D2B4C5HJKM", /* the prefix is presentation only */
                         "A7F3-E9D2-B4C5-H",       /* 16 bytes with dashes */
                         "A7F3E9D2B4C5HJ\xc3\xa9", /* 16 bytes, 15 characters */
                         " A7F3E9D2B4C5HJK"};
    const field_t *types[] = {issued, redeemed, revoked};
    const size_t counts[] = {COUNT(issued), COUNT(redeemed), COUNT(revoked)};
    sync_event_t ev;
    for (size_t t = 0; t != 3; ++t) {
        for (size_t i = 0; i != COUNT(bad); ++i) {
            decode_with(&ev, types[t], counts[t], "code", bad[i], SIZE_MAX);
            assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
            assert_null(ev.code);
        }
        decode_with(&ev, types[t], counts[t], "code", "A7F3E9D2\0B4C5HJK", 16);
        assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
        assert_null(ev.code);
        decode_with(&ev, types[t], counts[t], "code", NULL, 0);
        assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
        assert_null(ev.code);
    }
    /* Every character of the alphabet is accepted. */
    WITH(&ev, revoked, "code", "23456789ABCDEFGH");
    assert_int_equal(ev.type, SYNC_EVENT_REVOKED);
    assert_string_equal(ev.code, "23456789ABCDEFGH");
    WITH(&ev, revoked, "code", "JKMNOPQRSTUVWXYZ");
    assert_int_equal(ev.type, SYNC_EVENT_REVOKED);
}

/* Times and counts: decimal digits only, within the range of their columns. */
static void numbers_must_be_plain_decimals_in_range(void **state)
{
    const char *not_numbers[] = {"", "-1", "+1", " 1", "1 ", "1.5", "1e3", "0x10", "1,000", "\xd9\xa1", "one"};
    const char *numeric[] = {"at", "max", "exp"};
    sync_event_t ev;
    for (size_t f = 0; f != COUNT(numeric); ++f) {
        for (size_t i = 0; i != COUNT(not_numbers); ++i) {
            WITH(&ev, issued, numeric[f], not_numbers[i]);
            assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
        }
        WITH(&ev, issued, numeric[f], "0");
        assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
        WITHOUT(&ev, issued, numeric[f]);
        assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
        WITH_N(&ev, issued, numeric[f], "12\0", 3);
        assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
        /* Past 64 bits, and past any range of ours. */
        WITH(&ev, issued, numeric[f], "9223372036854775808");
        assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
        WITH(&ev, issued, numeric[f], "18446744073709551617");
        assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
        WITH(&ev, issued, numeric[f], "1");
        assert_int_equal(ev.type, SYNC_EVENT_ISSUED);
    }
    for (size_t i = 0; i != COUNT(not_numbers); ++i) {
        WITH(&ev, redeemed, "n", not_numbers[i]);
        assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
    }
    WITHOUT(&ev, redeemed, "n");
    assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
    WITHOUT(&ev, revoked, "at");
    assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
    WITH(&ev, revoked, "at", "-1700000000000");
    assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
}

static void numbers_at_the_edges_of_their_ranges(void **state)
{
    sync_event_t ev;
    /* max_uses and use_number: 1..INT_MAX, the INT columns. */
    WITH(&ev, issued, "max", "2147483647");
    assert_int_equal(ev.type, SYNC_EVENT_ISSUED);
    assert_int_equal(ev.max_uses, INT_MAX);
    WITH(&ev, issued, "max", "2147483648");
    assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
    WITH(&ev, redeemed, "n", "1");
    assert_int_equal(ev.type, SYNC_EVENT_REDEEMED);
    assert_int_equal(ev.use_number, 1);
    WITH(&ev, redeemed, "n", "2147483647");
    assert_int_equal(ev.type, SYNC_EVENT_REDEEMED);
    assert_int_equal(ev.use_number, INT_MAX);
    WITH(&ev, redeemed, "n", "0");
    assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
    WITH(&ev, redeemed, "n", "2147483648");
    assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);

    /* exp: Unix seconds up to 9999-12-31T23:59:59Z. */
    WITH(&ev, issued, "exp", "253402300799");
    assert_int_equal(ev.type, SYNC_EVENT_ISSUED);
    assert_int_equal(ev.expires_s, 253402300799LL);
    WITH(&ev, issued, "exp", "253402300800");
    assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
    /* Milliseconds where seconds belong are out of range. */
    WITH(&ev, issued, "exp", AT);
    assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);

    /* at: Unix milliseconds up to the same instant. */
    const field_t *types[] = {issued, redeemed, revoked};
    const size_t counts[] = {COUNT(issued), COUNT(redeemed), COUNT(revoked)};
    for (size_t t = 0; t != 3; ++t) {
        decode_with(&ev, types[t], counts[t], "at", "253402300799000", SIZE_MAX);
        assert_int_not_equal(ev.type, SYNC_EVENT_MALFORMED);
        assert_int_equal(ev.at_ms, 253402300799000LL);
        decode_with(&ev, types[t], counts[t], "at", "1", SIZE_MAX);
        assert_int_not_equal(ev.type, SYNC_EVENT_MALFORMED);
        assert_int_equal(ev.at_ms, 1);
        decode_with(&ev, types[t], counts[t], "at", "253402300800000", SIZE_MAX);
        assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
        decode_with(&ev, types[t], counts[t], "at", "9223372036854775807", SIZE_MAX);
        assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
    }
}

/* Text fields are counted in characters against their VARCHAR, not in bytes. */
static void text_fields_fit_their_columns(void **state)
{
    static const struct {
        const field_t *base;
        size_t count;
        const char *name;
        size_t max_chars;
        int required;
    } cases[] = {
        {issued, COUNT(issued), "batch", 64, 1},      {issued, COUNT(issued), "cohort", 64, 0},
        {issued, COUNT(issued), "to", 320, 0},        {issued, COUNT(issued), "by", 64, 0},
        {redeemed, COUNT(redeemed), "email", 320, 1},
    };
    const char *units[] = {"x", "\xc3\xa9", "\xe6\x97\xa5", "\xf0\x9f\x98\x80"};
    sync_event_t ev;
    for (size_t c = 0; c != COUNT(cases); ++c) {
        for (size_t u = 0; u != COUNT(units); ++u) {
            char *fits = repeat(units[u], cases[c].max_chars), *over = repeat(units[u], cases[c].max_chars + 1);
            decode_with(&ev, cases[c].base, cases[c].count, cases[c].name, fits, SIZE_MAX);
            assert_int_not_equal(ev.type, SYNC_EVENT_MALFORMED);
            decode_with(&ev, cases[c].base, cases[c].count, cases[c].name, over, SIZE_MAX);
            assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
            free(fits);
            free(over);
        }
        decode_with(&ev, cases[c].base, cases[c].count, cases[c].name, "a", SIZE_MAX);
        assert_int_not_equal(ev.type, SYNC_EVENT_MALFORMED);
        if (cases[c].required) {
            decode_with(&ev, cases[c].base, cases[c].count, cases[c].name, "", SIZE_MAX);
            assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
            decode_with(&ev, cases[c].base, cases[c].count, cases[c].name, NULL, 0);
            assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
        }
    }
}

/* What PostgreSQL would refuse in a UTF8 database never reaches it. */
static void bad_utf8_or_nul_in_text_is_malformed(void **state)
{
    static const struct {
        const char *s;
        size_t len;
    } bad[] = {
        {"\xff", 1},         {"ann\x80@example.com", 16}, {"\xc3", 1}, {"\xc0\xaf", 2},
        {"\xed\xa0\x80", 3}, {"\xf4\x90\x80\x80", 4},     {"a\0b", 3}, {"\0", 1},
        {"abc\xe6\x97", 5},
    };
    static const struct {
        const field_t *base;
        size_t count;
        const char *name;
    } fields[] = {
        {issued, COUNT(issued), "batch"}, {issued, COUNT(issued), "cohort"},    {issued, COUNT(issued), "to"},
        {issued, COUNT(issued), "by"},    {redeemed, COUNT(redeemed), "email"},
    };
    sync_event_t ev;
    for (size_t f = 0; f != COUNT(fields); ++f) {
        for (size_t i = 0; i != COUNT(bad); ++i) {
            decode_with(&ev, fields[f].base, fields[f].count, fields[f].name, bad[i].s, bad[i].len);
            assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
        }
    }
}

/* The client address is diagnostic: an unusable one is dropped, the redemption kept. */
static void unusable_ip_is_dropped_not_the_redemption(void **state)
{
    sync_event_t ev;
    char *longest = repeat("f", 128), *too_long = repeat("f", 129);
    WITH(&ev, redeemed, "ip", "2001:db8::1");
    assert_int_equal(ev.type, SYNC_EVENT_REDEEMED);
    assert_string_equal(ev.ip, "2001:db8::1");
    WITH(&ev, redeemed, "ip", longest);
    assert_int_equal(ev.type, SYNC_EVENT_REDEEMED);
    assert_string_equal(ev.ip, longest);
    WITH(&ev, redeemed, "ip", too_long);
    assert_int_equal(ev.type, SYNC_EVENT_REDEEMED);
    assert_null(ev.ip);
    WITH(&ev, redeemed, "ip", "\xff\xfe");
    assert_int_equal(ev.type, SYNC_EVENT_REDEEMED);
    assert_null(ev.ip);
    WITH_N(&ev, redeemed, "ip", "10.0.0.1\0", 9);
    assert_int_equal(ev.type, SYNC_EVENT_REDEEMED);
    assert_null(ev.ip);
    assert_string_equal(ev.email, "bob@example.com");
    assert_int_equal(ev.use_number, 2);
    free(longest);
    free(too_long);
}

static void issued_requires_its_own_fields(void **state)
{
    const char *required[] = {"batch", "max", "exp"};
    sync_event_t ev;
    for (size_t i = 0; i != COUNT(required); ++i) {
        WITHOUT(&ev, issued, required[i]);
        assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
    }
    /* A revoked entry relabelled as issued lacks them. */
    WITH(&ev, revoked, "t", "issued");
    assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
    WITH(&ev, revoked, "t", "redeemed");
    assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
    WITH(&ev, redeemed, "t", "issued");
    assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
    /* An issued entry relabelled as revoked has all a revocation needs. */
    WITH(&ev, issued, "t", "revoked");
    assert_int_equal(ev.type, SYNC_EVENT_REVOKED);
}

/* A pending entry deleted from the stream comes back with nil fields. */
static void deleted_entry_is_malformed_not_an_error(void **state)
{
    const char *nils[] = {"*2\r\n$15\r\n" ID "\r\n*-1\r\n", "*2\r\n$15\r\n" ID "\r\n$-1\r\n"};
    sync_event_t ev;
    char entry[SYNC_ENTRY_ID_BYTES];
    for (size_t i = 0; i != COUNT(nils); ++i) {
        assert_int_equal(decode_resp(&ev, nils[i], strlen(nils[i])), 1);
        assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
        assert_non_null(ev.reason);
        assert_null(ev.code);
        assert_string_equal(ev.event_id, "3-" ID);
        assert_string_equal(sync_event_entry_id(entry, &ev), ID);
    }
}

static void fields_that_are_not_string_pairs_are_malformed(void **state)
{
    const char *entries[] = {
        "*2\r\n$15\r\n" ID "\r\n*1\r\n$1\r\nt\r\n",                                /* odd count */
        "*2\r\n$15\r\n" ID "\r\n*3\r\n$1\r\nt\r\n$7\r\nrevoked\r\n$4\r\ncode\r\n", /* odd count */
        "*2\r\n$15\r\n" ID "\r\n*2\r\n$1\r\nt\r\n:1\r\n",                          /* integer value */
        "*2\r\n$15\r\n" ID "\r\n*2\r\n$1\r\nt\r\n$-1\r\n",                         /* nil value */
        "*2\r\n$15\r\n" ID "\r\n*2\r\n:1\r\n$7\r\nrevoked\r\n",                    /* integer name */
        "*2\r\n$15\r\n" ID "\r\n*2\r\n$1\r\nt\r\n*1\r\n$7\r\nrevoked\r\n",         /* array value */
        "*2\r\n$15\r\n" ID "\r\n*2\r\n$1\r\nt\r\n+revoked\r\n",                    /* status value */
        "*2\r\n$15\r\n" ID "\r\n$7\r\nrevoked\r\n",                                /* not an array */
        "*2\r\n$15\r\n" ID "\r\n:0\r\n",
        "*2\r\n$15\r\n" ID "\r\n*0\r\n", /* no fields */
        /* a complete revocation with a name left over */
        "*2\r\n$15\r\n" ID "\r\n*7\r\n$1\r\nt\r\n$7\r\nrevoked\r\n$4\r\ncode\r\n$16\r\n" CODE
        "\r\n$2\r\nat\r\n$1\r\n5\r\n$1\r\nx\r\n",
        "*2\r\n$15\r\n" ID "\r\n*6\r\n$1\r\nt\r\n$7\r\nrevoked\r\n$4\r\ncode\r\n$16\r\n" CODE "\r\n$2\r\nat\r\n:1\r\n",
    };
    sync_event_t ev;
    char entry[SYNC_ENTRY_ID_BYTES];
    for (size_t i = 0; i != COUNT(entries); ++i) {
        assert_int_equal(decode_resp(&ev, entries[i], strlen(entries[i])), 1);
        assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
        assert_non_null(ev.reason);
        assert_string_equal(sync_event_entry_id(entry, &ev), ID);
    }
}

/* Only an entry without a usable id is a protocol error. */
static void entry_without_a_usable_id_is_an_error(void **state)
{
    char id48[49], resp[256];
    memset(id48, '7', 48);
    id48[48] = '\0';
    snprintf(resp, sizeof(resp), "*2\r\n$48\r\n%s\r\n*-1\r\n", id48);
    const char *entries[] = {
        "$15\r\n" ID "\r\n",                             /* not an array */
        "*-1\r\n",                                       /* nil */
        ":1\r\n",                                        /* integer */
        "*0\r\n",                                        /* empty */
        "*1\r\n$15\r\n" ID "\r\n",                       /* no fields */
        "*3\r\n$15\r\n" ID "\r\n*0\r\n*0\r\n",           /* too many elements */
        "*2\r\n:1700000000000\r\n*0\r\n",                /* id not a string */
        "*2\r\n$-1\r\n*0\r\n",                           /* nil id */
        "*2\r\n*1\r\n$15\r\n" ID "\r\n*0\r\n",           /* array id */
        "*2\r\n$0\r\n\r\n*0\r\n",                        /* empty id */
        "*2\r\n$15\r\n1700000000000\0000\r\n*0\r\n",     /* NUL in the id */
        resp,                                            /* not "ms-seq" (and too long for one) */
        "*2\r\n$13\r\n1700000000000\r\n*0\r\n",          /* no sequence */
        "*2\r\n$14\r\n1700000000000-\r\n*0\r\n",         /* empty sequence */
        "*2\r\n$3\r\n-15\r\n*0\r\n",                     /* empty time */
        "*2\r\n$5\r\n1-2-3\r\n*0\r\n",                   /* three parts */
        "*2\r\n$4\r\n1-2 \r\n*0\r\n",                    /* trailing space */
        "*2\r\n$22\r\n18446744073709551616-0\r\n*0\r\n", /* past 64 bits */
    };
    size_t lens[COUNT(entries)];
    sync_event_t ev;
    for (size_t i = 0; i != COUNT(entries); ++i)
        lens[i] = strlen(entries[i]);
    lens[10] = sizeof("*2\r\n$15\r\n1700000000000\0000\r\n*0\r\n") - 1;
    for (size_t i = 0; i != COUNT(entries); ++i) {
        assert_int_equal(decode_resp(&ev, entries[i], lens[i]), -1);
    }
}

/* The event id is "B-<entry id>", the longest ids and buckets included. */
static void event_id_is_bucket_dash_entry_id(void **state)
{
    char resp[512], want[SYNC_EVENT_ID_BYTES + 16], entry[SYNC_ENTRY_ID_BYTES];
    const char *ids[] = {"0-1", "1700000000000-0", "18446744073709551615-18446744073709551615"};
    const unsigned buckets[] = {0, 3, IG_BUCKETS_MAX - 1};
    sync_event_t ev;

    for (size_t i = 0; i != COUNT(ids); ++i) {
        for (size_t b = 0; b != COUNT(buckets); ++b) {
            int len = snprintf(resp, sizeof(resp),
                               "*2\r\n$%zu\r\n%s\r\n*6\r\n$1\r\nt\r\n$7\r\nrevoked\r\n$4\r\ncode\r\n$16\r\n" CODE
                               "\r\n$2\r\nat\r\n$1\r\n5\r\n",
                               strlen(ids[i]), ids[i]);
            teardown(NULL);
            held = parse_resp(resp, (size_t)len);
            assert_int_equal(sync_event_decode(&ev, buckets[b], held), 1);
            assert_int_equal(ev.type, SYNC_EVENT_REVOKED);
            assert_int_equal(ev.bucket, buckets[b]);
            snprintf(want, sizeof(want), "%u-%s", buckets[b], ids[i]);
            assert_true(strlen(want) < SYNC_EVENT_ID_BYTES);
            assert_string_equal(ev.event_id, want);
            assert_string_equal(sync_event_entry_id(entry, &ev), ids[i]);
        }
    }
}

/* An entry of the items form: the shared fields, then d with each item's fields, each followed by a NUL. */
static redisReply *items_entry(const field_t *shared, size_t n, const char *d, size_t d_len)
{
    field_t fields[16];
    assert_true(n < COUNT(fields));
    memcpy(fields, shared, n * sizeof(*shared));
    return entry_with(fields, n, "d", d, d_len);
}

#define ITEMS(shared, d) items_entry((shared), COUNT(shared), (d), sizeof(d) - 1)

/* One entry per coalesced call: every item is an event of its own, in order, with the entry's shared fields. */
static void items_form_expands_into_one_event_per_item(void **state)
{
    static const field_t r_shared[] = {F("t", "redeemed"), F("at", AT)};
    static const field_t j_shared[] = {F("t", "joined"), F("at", AT)};
    static const field_t i_shared[] = {F("t", "issued"),       F("batch", "b-9"), F("cohort", ""), F("max", "5"),
                                       F("exp", "1900000000"), F("by", "ops"),    F("at", AT)};
    sync_event_t evs[4];
    char entry[SYNC_ENTRY_ID_BYTES];

    teardown(NULL);
    held = ITEMS(r_shared, CODE "\0ann@example.com\0"
                                "1\0"
                                "192.0.2.7\0"
                                "23456789ABCDEFGH\0bob@example.com\0"
                                "7\0\0");
    assert_int_equal(sync_event_count(held), 2);
    assert_int_equal(sync_event_decode(evs, 5, held), 2);
    for (int i = 0; i != 2; ++i) {
        assert_int_equal(evs[i].type, SYNC_EVENT_REDEEMED);
        assert_int_equal(evs[i].bucket, 5);
        assert_int_equal(evs[i].item, i);
        assert_int_equal(evs[i].at_ms, 1700000000000LL);
        assert_string_equal(sync_event_entry_id(entry, &evs[i]), ID);
    }
    assert_string_equal(evs[0].event_id, "5-" ID "/0");
    assert_string_equal(evs[1].event_id, "5-" ID "/1");
    assert_string_equal(evs[0].code, CODE);
    assert_string_equal(evs[0].email, "ann@example.com");
    assert_int_equal(evs[0].use_number, 1);
    assert_string_equal(evs[0].ip, "192.0.2.7");
    assert_string_equal(evs[1].code, "23456789ABCDEFGH");
    assert_string_equal(evs[1].email, "bob@example.com");
    assert_int_equal(evs[1].use_number, 7);
    assert_null(evs[1].ip);

    teardown(NULL);
    held = ITEMS(j_shared, "ann@example.com\0small_team\0Marketing\0"
                           "20\0"
                           "41\0" REF "\0bob@example.com\0"
                           "192.0.2.7\0"
                           "cy@example.org\0other\0\0"
                           "5\0"
                           "42\0\0\0\0");
    assert_int_equal(sync_event_count(held), 2);
    assert_int_equal(sync_event_decode(evs, 0, held), 2);
    assert_int_equal(evs[0].type, SYNC_EVENT_JOINED);
    assert_string_equal(evs[0].persona, "small_team");
    assert_string_equal(evs[0].use_case, "Marketing");
    assert_int_equal(evs[0].score, 20);
    assert_int_equal(evs[0].seq, 41);
    assert_string_equal(evs[0].ref, REF);
    assert_string_equal(evs[0].ref_email, "bob@example.com");
    assert_int_equal(evs[1].type, SYNC_EVENT_JOINED);
    assert_string_equal(evs[1].email, "cy@example.org");
    assert_string_equal(evs[1].use_case, "");
    assert_null(evs[1].ref);
    assert_null(evs[1].ip);

    teardown(NULL);
    held = ITEMS(i_shared, CODE "\0ann@example.com\0"
                                "23456789ABCDEFGH\0\0"
                                "JKMNOPQRSTUVWXYZ\0\0");
    assert_int_equal(sync_event_count(held), 3);
    assert_int_equal(sync_event_decode(evs, 2, held), 3);
    for (int i = 0; i != 3; ++i) {
        assert_int_equal(evs[i].type, SYNC_EVENT_ISSUED);
        assert_string_equal(evs[i].batch, "b-9");
        assert_null(evs[i].cohort);
        assert_int_equal(evs[i].max_uses, 5);
        assert_int_equal(evs[i].expires_s, 1900000000LL);
        assert_string_equal(evs[i].created_by, "ops");
    }
    assert_string_equal(evs[0].issued_to, "ann@example.com");
    assert_null(evs[1].issued_to);
    assert_string_equal(evs[2].code, "JKMNOPQRSTUVWXYZ");
}

/* A bad item is MALFORMED alone; a d that is not whole items makes the entry one MALFORMED event. */
static void items_form_is_checked_item_by_item(void **state)
{
    static const field_t r_shared[] = {F("t", "redeemed"), F("at", AT)};
    static const field_t c_shared[] = {F("t", "clicked"), F("at", AT)};
    static const field_t no_at[] = {F("t", "redeemed")};
    sync_event_t evs[4];

    teardown(NULL);
    held = ITEMS(r_shared, CODE "\0ann@example.com\0"
                                "0\0\0"
                                "23456789ABCDEFGH\0bob@example.com\0"
                                "1\0\0");
    assert_int_equal(sync_event_decode(evs, 1, held), 2);
    assert_int_equal(evs[0].type, SYNC_EVENT_MALFORMED);
    assert_non_null(evs[0].reason);
    assert_int_equal(evs[1].type, SYNC_EVENT_REDEEMED);

    /* Without the shared at, every item lacks it. */
    teardown(NULL);
    held = ITEMS(no_at, CODE "\0ann@example.com\0"
                             "1\0\0");
    assert_int_equal(sync_event_decode(evs, 1, held), 1);
    assert_int_equal(evs[0].type, SYNC_EVENT_MALFORMED);

    const struct {
        const field_t *shared;
        size_t n;
        const char *d;
        size_t len;
    } bad[] = {
        {r_shared, COUNT(r_shared),
         CODE "\0ann@example.com\0"
              "1\0",
         sizeof(CODE "\0ann@example.com\0"
                     "1\0") -
             1},
        {r_shared, COUNT(r_shared),
         CODE "\0ann@example.com\0"
              "1\0x",
         sizeof(CODE "\0ann@example.com\0"
                     "1\0x") -
             1},
        {r_shared, COUNT(r_shared), "", 0},
        {c_shared, COUNT(c_shared), REF "\0", sizeof(REF "\0") - 1},
    };
    for (size_t i = 0; i != COUNT(bad); ++i) {
        teardown(NULL);
        held = items_entry(bad[i].shared, bad[i].n, bad[i].d, bad[i].len);
        assert_int_equal(sync_event_count(held), 1);
        assert_int_equal(sync_event_decode(evs, 1, held), 1);
        assert_int_equal(evs[0].type, SYNC_EVENT_MALFORMED);
        assert_non_null(evs[0].reason);
        assert_string_equal(evs[0].event_id, "1-" ID);
    }
}

static void type_names(void **state)
{
    assert_string_equal(sync_event_type_name(SYNC_EVENT_ISSUED), "issued");
    assert_string_equal(sync_event_type_name(SYNC_EVENT_REDEEMED), "redeemed");
    assert_string_equal(sync_event_type_name(SYNC_EVENT_REVOKED), "revoked");
    assert_string_equal(sync_event_type_name(SYNC_EVENT_MALFORMED), "malformed");
}

static void utf8_chars_counts_characters(void **state)
{
    assert_int_equal(sync_utf8_chars("", 0), 0);
    assert_int_equal(sync_utf8_chars("abc", 3), 3);
    assert_int_equal(sync_utf8_chars("\x7f", 1), 1);
    assert_int_equal(sync_utf8_chars("\xc2\x80", 2), 1);          /* U+0080 */
    assert_int_equal(sync_utf8_chars("\xdf\xbf", 2), 1);          /* U+07FF */
    assert_int_equal(sync_utf8_chars("\xe0\xa0\x80", 3), 1);      /* U+0800 */
    assert_int_equal(sync_utf8_chars("\xed\x9f\xbf", 3), 1);      /* U+D7FF */
    assert_int_equal(sync_utf8_chars("\xee\x80\x80", 3), 1);      /* U+E000 */
    assert_int_equal(sync_utf8_chars("\xef\xbf\xbf", 3), 1);      /* U+FFFF */
    assert_int_equal(sync_utf8_chars("\xf0\x90\x80\x80", 4), 1);  /* U+10000 */
    assert_int_equal(sync_utf8_chars("\xf4\x8f\xbf\xbf", 4), 1);  /* U+10FFFF */
    assert_int_equal(sync_utf8_chars("\xc3\xa9t\xc3\xa9", 5), 3); /* été */
    assert_int_equal(sync_utf8_chars("\xe6\x97\xa5\xe6\x9c\xac", 6), 2);
    assert_int_equal(sync_utf8_chars("a\xf0\x9f\x98\x80z", 6), 3);
    /* len bounds the input: what follows is not read. */
    assert_int_equal(sync_utf8_chars("abc\xff", 3), 3);
    assert_int_equal(sync_utf8_chars("abc\0def", 3), 3);
}

static void utf8_chars_rejects_what_postgresql_refuses(void **state)
{
    static const struct {
        const char *s;
        size_t len;
    } bad[] = {
        {"\0", 1},
        {"abc\0", 4},
        {"a\0b", 3},
        {"\x80", 1}, /* continuation without a lead */
        {"a\xbf", 2},
        {"\xc0\x80", 2},         /* overlong NUL */
        {"\xc1\xbf", 2},         /* overlong */
        {"\xe0\x80\x80", 3},     /* overlong */
        {"\xe0\x9f\xbf", 3},     /* overlong U+07FF */
        {"\xf0\x80\x80\x80", 4}, /* overlong */
        {"\xf0\x8f\xbf\xbf", 4}, /* overlong U+FFFF */
        {"\xed\xa0\x80", 3},     /* surrogate U+D800 */
        {"\xed\xbf\xbf", 3},     /* surrogate U+DFFF */
        {"\xf4\x90\x80\x80", 4}, /* U+110000 */
        {"\xf5\x80\x80\x80", 4}, /* no such lead bytes */
        {"\xf8\x88\x80\x80\x80", 5},
        {"\xfe", 1},
        {"\xff", 1},
        {"\xc3", 1}, /* truncated */
        {"\xe2\x82", 2},
        {"\xf0\x9f\x98", 3},
        {"\xc3\xa9\xc3", 3},
        {"\xc3\x28", 2}, /* not a continuation */
        {"\xe2\x28\xa1", 3},
        {"\xe2\x82\x28", 3},
        {"\xf0\x9f\x28\x80", 4},
        {"\xc3\xc3\xa9", 3},
        {"\xc3\x00", 2},
        {"\xe6\x97\xa5\xe6\x9c", 5},
    };
    for (size_t i = 0; i != COUNT(bad); ++i)
        assert_int_equal(sync_utf8_chars(bad[i].s, bad[i].len), -1);
}

/* Every two-byte sequence, checked against the rules written out plainly. */
static void utf8_chars_matches_the_rules_for_two_bytes(void **state)
{
    for (unsigned a = 0; a != 256; ++a) {
        for (unsigned b = 0; b != 256; ++b) {
            const char s[2] = {(char)a, (char)b};
            long want;
            if (a != 0 && a < 0x80 && b != 0 && b < 0x80)
                want = 2;
            else if (a >= 0xc2 && a <= 0xdf && b >= 0x80 && b <= 0xbf)
                want = 1;
            else
                want = -1;
            assert_int_equal(sync_utf8_chars(s, 2), want);
        }
    }
}

static void joined_entry_decodes_every_field(void **state)
{
    sync_event_t ev;
    DECODE(&ev, joined);
    assert_int_equal(ev.type, SYNC_EVENT_JOINED);
    assert_true(sync_event_is_product(ev.type));
    assert_string_equal(ev.email, "ann@example.com");
    assert_string_equal(ev.persona, "small_team");
    assert_string_equal(ev.use_case, "Marketing automation");
    assert_int_equal(ev.score, 20);
    assert_int_equal(ev.seq, 41);
    assert_string_equal(ev.ref, REF);
    assert_string_equal(ev.ref_email, "bob@example.com");
    assert_string_equal(ev.ip, "192.0.2.7");
    assert_int_equal(ev.at_ms, 1700000000000LL);
    assert_null(ev.code);
}

static void joined_referrer_comes_as_a_pair(void **state)
{
    const field_t plain[] = {F("t", "joined"),      F("email", "ann@example.com"),
                             F("persona", "other"), F("score", "5"),
                             F("seq", "1"),         F("ref", ""),
                             F("ref_email", ""),    F("at", AT)};
    sync_event_t ev;
    DECODE(&ev, plain);
    assert_int_equal(ev.type, SYNC_EVENT_JOINED);
    assert_null(ev.ref);
    assert_null(ev.ref_email);
    assert_null(ev.ip);
    assert_string_equal(ev.use_case, ""); /* absent: the empty text, the column is NOT NULL */
    WITHOUT(&ev, joined, "ref");
    assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
    WITH(&ev, joined, "ref", "");
    assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
    WITHOUT(&ev, joined, "ref_email");
    assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
    WITH(&ev, joined, "ref_email", "");
    assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
    const char *bad_refs[] = {"K7QX9MA", "K7QX9MABC", "k7qx9mab", "K7QX9MA0", "K7QX9MAI", "K7QX-9MA", CODE};
    for (size_t i = 0; i != COUNT(bad_refs); ++i) {
        WITH(&ev, joined, "ref", bad_refs[i]);
        assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
    }
    WITH(&ev, joined, "ref", "23456789");
    assert_int_equal(ev.type, SYNC_EVENT_JOINED);
    /* An odd client address is dropped, not the join. */
    WITH(&ev, joined, "ip", "\xff");
    assert_int_equal(ev.type, SYNC_EVENT_JOINED);
    assert_null(ev.ip);
}

/* E-mails of product events must be in normal form: the user id derives from it. */
static void product_emails_must_be_normalised(void **state)
{
    const char *bad[] = {
        "",    "Ann@example.com", "ann@Example.com",  "a.nn@gmail.com",   "ann+tag@gmail.com",  "ann@googlemail.com",
        "ann", "ann@example",     "ann@@example.com", " ann@example.com", "ann@example.com\xff"};
    static const struct {
        const field_t *base;
        size_t count;
        const char *name;
    } fields[] = {
        {joined, COUNT(joined), "email"},       {joined, COUNT(joined), "ref_email"}, {admitted, COUNT(admitted), "email"},
        {shared, COUNT(shared), "inviter"},     {shared, COUNT(shared), "recipient"}, {earned, COUNT(earned), "email"},
        {lifecycle, COUNT(lifecycle), "email"}, {spent, COUNT(spent), "email"},
    };
    sync_event_t ev;
    for (size_t f = 0; f != COUNT(fields); ++f) {
        for (size_t i = 0; i != COUNT(bad); ++i) {
            decode_with(&ev, fields[f].base, fields[f].count, fields[f].name, bad[i], SIZE_MAX);
            assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
        }
        decode_with(&ev, fields[f].base, fields[f].count, fields[f].name, "ann@example.com\0", 16);
        assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
        decode_with(&ev, fields[f].base, fields[f].count, fields[f].name, "nn@gmail.com", SIZE_MAX);
        assert_int_not_equal(ev.type, SYNC_EVENT_MALFORMED);
    }
    WITHOUT(&ev, lifecycle, "email");
    assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
}

static void joined_requires_its_own_fields(void **state)
{
    sync_event_t ev;
    const char *required[] = {"email", "persona", "score", "seq", "at"};
    for (size_t i = 0; i != COUNT(required); ++i) {
        WITHOUT(&ev, joined, required[i]);
        assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
    }
    char *persona = repeat("p", 50), *long_persona = repeat("p", 51);
    WITH(&ev, joined, "persona", persona);
    assert_int_equal(ev.type, SYNC_EVENT_JOINED);
    WITH(&ev, joined, "persona", long_persona);
    assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
    free(persona);
    free(long_persona);
    char *use_case = repeat("\xc3\xa9", 4096), *long_use_case = repeat("u", 4097);
    WITH(&ev, joined, "use_case", use_case);
    assert_int_equal(ev.type, SYNC_EVENT_JOINED);
    WITH(&ev, joined, "use_case", long_use_case);
    assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
    WITH_N(&ev, joined, "use_case", "a\0b", 3);
    assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
    free(use_case);
    free(long_use_case);
    WITH(&ev, joined, "score", "2147483647");
    assert_int_equal(ev.type, SYNC_EVENT_JOINED);
    WITH(&ev, joined, "score", "2147483648");
    assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
    WITH(&ev, joined, "score", "-1");
    assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
    WITH(&ev, joined, "seq", "9007199254740992");
    assert_int_equal(ev.type, SYNC_EVENT_JOINED);
    WITH(&ev, joined, "seq", "9007199254740993");
    assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
}

static void admitted_needs_an_e_mail_and_a_code(void **state)
{
    sync_event_t ev;
    DECODE(&ev, admitted);
    assert_int_equal(ev.type, SYNC_EVENT_ADMITTED);
    assert_string_equal(ev.email, "ann@example.com");
    assert_string_equal(ev.code, CODE);
    WITH(&ev, admitted, "code", "VOBEE-" CODE);
    assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
    WITHOUT(&ev, admitted, "code");
    assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
    WITHOUT(&ev, admitted, "email");
    assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
}

static void shared_and_clicked_decode(void **state)
{
    sync_event_t ev;
    DECODE(&ev, shared);
    assert_int_equal(ev.type, SYNC_EVENT_SHARED);
    assert_string_equal(ev.share_id, UUID);
    assert_string_equal(ev.inviter, "ann@example.com");
    assert_string_equal(ev.recipient, "cy@example.org");
    assert_null(ev.email);
    WITH(&ev, shared, "id", "0F1E2D3C-4B5A-8697-A8B9-CADBECFD0E1F");
    assert_int_equal(ev.type, SYNC_EVENT_SHARED);
    const char *bad_ids[] = {"",
                             "0f1e2d3c4b5a8697a8b9cadbecfd0e1f",
                             "0f1e2d3c-4b5a-8697-a8b9-cadbecfd0e1",
                             "0f1e2d3c-4b5a-8697-a8b9-cadbecfd0e1fa",
                             "0f1e2d3c-4b5a-8697-a8b9_cadbecfd0e1f",
                             "0f1e2d3g-4b5a-8697-a8b9-cadbecfd0e1f"};
    for (size_t i = 0; i != COUNT(bad_ids); ++i) {
        WITH(&ev, shared, "id", bad_ids[i]);
        assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
    }
    DECODE(&ev, clicked);
    assert_int_equal(ev.type, SYNC_EVENT_CLICKED);
    assert_string_equal(ev.ref, REF);
    WITH(&ev, clicked, "ref", "K7QX9MA");
    assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
    WITHOUT(&ev, clicked, "ref");
    assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
}

static void earned_codes_are_space_separated_bodies(void **state)
{
    sync_event_t ev;
    DECODE(&ev, earned);
    assert_int_equal(ev.type, SYNC_EVENT_EARNED);
    assert_int_equal(ev.tranche, 2);
    assert_string_equal(ev.codes, CODE " 23456789ABCDEFGH JKMNOPQRSTUVWXYZ");
    WITH(&ev, earned, "codes", CODE);
    assert_int_equal(ev.type, SYNC_EVENT_EARNED);
    const char *bad[] = {"",        " " CODE,          CODE " ",           CODE "  " CODE,          CODE "," CODE,
                         CODE CODE, "A7F3E9D2B4C5HJK", "a7f3e9d2b4c5hjkm", CODE " A7F3E9D2B4C5HJK0"};
    for (size_t i = 0; i != COUNT(bad); ++i) {
        WITH(&ev, earned, "codes", bad[i]);
        assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
    }
    char *most = repeat(CODE " ", 1000), *too_many = repeat(CODE " ", 1001);
    most[strlen(most) - 1] = '\0';
    too_many[strlen(too_many) - 1] = '\0';
    WITH(&ev, earned, "codes", most);
    assert_int_equal(ev.type, SYNC_EVENT_EARNED);
    WITH(&ev, earned, "codes", too_many);
    assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
    free(most);
    free(too_many);
    WITH(&ev, earned, "tranche", "0");
    assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
    WITHOUT(&ev, earned, "tranche");
    assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
}

static void lifecycle_kinds_and_amounts(void **state)
{
    const char *kinds[] = {"activated", "paid", "churned", "fraud_flagged"};
    const sync_lifecycle_kind_t want[] = {SYNC_LIFECYCLE_ACTIVATED, SYNC_LIFECYCLE_PAID, SYNC_LIFECYCLE_CHURNED,
                                          SYNC_LIFECYCLE_FRAUD_FLAGGED};
    sync_event_t ev;
    DECODE(&ev, lifecycle);
    assert_int_equal(ev.type, SYNC_EVENT_LIFECYCLE);
    assert_int_equal(ev.lifecycle, SYNC_LIFECYCLE_PAID);
    assert_int_equal(ev.amount, 1999);
    for (size_t i = 0; i != COUNT(kinds); ++i) {
        WITH(&ev, lifecycle, "kind", kinds[i]);
        assert_int_equal(ev.type, SYNC_EVENT_LIFECYCLE);
        assert_int_equal(ev.lifecycle, want[i]);
        assert_string_equal(ev.kind, kinds[i]);
    }
    const char *bad_kinds[] = {"", "Paid", "paid ", "refunded", "fraud", "REDEMPTION_QUOTA"};
    for (size_t i = 0; i != COUNT(bad_kinds); ++i) {
        WITH(&ev, lifecycle, "kind", bad_kinds[i]);
        assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
    }
    WITHOUT(&ev, lifecycle, "kind");
    assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
    /* The amount is optional: absent or empty is none (-1). */
    WITHOUT(&ev, lifecycle, "amount");
    assert_int_equal(ev.type, SYNC_EVENT_LIFECYCLE);
    assert_int_equal(ev.amount, -1);
    WITH(&ev, lifecycle, "amount", "");
    assert_int_equal(ev.type, SYNC_EVENT_LIFECYCLE);
    assert_int_equal(ev.amount, -1);
    WITH(&ev, lifecycle, "amount", "0");
    assert_int_equal(ev.type, SYNC_EVENT_LIFECYCLE);
    assert_int_equal(ev.amount, 0);
    const char *bad_amounts[] = {"-1", "1.5", "9007199254740993", "x"};
    for (size_t i = 0; i != COUNT(bad_amounts); ++i) {
        WITH(&ev, lifecycle, "amount", bad_amounts[i]);
        assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
    }
}

static void spent_needs_a_positive_amount_and_a_spend_type(void **state)
{
    sync_event_t ev;
    DECODE(&ev, spent);
    assert_int_equal(ev.type, SYNC_EVENT_SPENT);
    assert_int_equal(ev.amount, 300);
    assert_string_equal(ev.kind, "REDEMPTION_QUOTA");
    assert_string_equal(ev.note, "extra quota");
    WITH(&ev, spent, "kind", "REDEMPTION_UNLOCK");
    assert_int_equal(ev.type, SYNC_EVENT_SPENT);
    assert_string_equal(ev.kind, "REDEMPTION_UNLOCK");
    WITHOUT(&ev, spent, "note");
    assert_int_equal(ev.type, SYNC_EVENT_SPENT);
    assert_null(ev.note);
    WITH(&ev, spent, "note", "\xff");
    assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
    /* An operator's grant gives (negative amount) or takes back; an expiry only takes. */
    WITH(&ev, spent, "kind", "ADMIN_GRANT");
    assert_int_equal(ev.type, SYNC_EVENT_SPENT);
    assert_string_equal(ev.kind, "ADMIN_GRANT");
    assert_int_equal(ev.amount, 300);
    WITH(&ev, spent, "kind", "EXPIRY");
    assert_int_equal(ev.type, SYNC_EVENT_SPENT);
    assert_string_equal(ev.kind, "EXPIRY");
    static const field_t grant[] = {F("t", "spent"), F("email", "ann@example.com"), F("amount", "-250"), F("kind", "ADMIN_GRANT"),
                                    F("at", AT)};
    DECODE(&ev, grant);
    assert_int_equal(ev.type, SYNC_EVENT_SPENT);
    assert_int_equal(ev.amount, -250);
    WITH(&ev, grant, "kind", "EXPIRY");
    assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
    WITH(&ev, grant, "amount", "0");
    assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
    const char *bad_kinds[] = {"", "admin_grant", "REFERRAL_WELCOME", "redemption_quota", "EXPIRED"};
    for (size_t i = 0; i != COUNT(bad_kinds); ++i) {
        WITH(&ev, spent, "kind", bad_kinds[i]);
        assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
    }
    const char *bad_amounts[] = {"", "0", "-5", "2147483648"};
    for (size_t i = 0; i != COUNT(bad_amounts); ++i) {
        WITH(&ev, spent, "amount", bad_amounts[i]);
        assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
    }
    WITH(&ev, spent, "amount", "2147483647");
    assert_int_equal(ev.type, SYNC_EVENT_SPENT);
}

static void erased_carries_a_user_id_only(void **state)
{
    sync_event_t ev;
    DECODE(&ev, erased);
    assert_int_equal(ev.type, SYNC_EVENT_ERASED);
    assert_string_equal(ev.uid, UUID);
    assert_null(ev.email);
    WITH(&ev, erased, "uid", "ann@example.com");
    assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
    WITHOUT(&ev, erased, "uid");
    assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
}

/* Every product event needs its time, and a code body only where it names one. */
static void product_events_need_at(void **state)
{
    static const struct {
        const field_t *base;
        size_t count;
    } all[] = {{joined, COUNT(joined)}, {admitted, COUNT(admitted)},   {shared, COUNT(shared)}, {clicked, COUNT(clicked)},
               {earned, COUNT(earned)}, {lifecycle, COUNT(lifecycle)}, {spent, COUNT(spent)},   {erased, COUNT(erased)}};
    sync_event_t ev;
    for (size_t i = 0; i != COUNT(all); ++i) {
        decode_with(&ev, all[i].base, all[i].count, NULL, NULL, 0);
        assert_true(sync_event_is_product(ev.type));
        decode_with(&ev, all[i].base, all[i].count, "at", NULL, 0);
        assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
        decode_with(&ev, all[i].base, all[i].count, "at", "0", SIZE_MAX);
        assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
        /* A stray code field does not matter. */
        decode_with(&ev, all[i].base, all[i].count, "code", "nonsense", SIZE_MAX);
        assert_int_equal(ev.type == SYNC_EVENT_ADMITTED || ev.type == SYNC_EVENT_MALFORMED, i == 1);
    }
    assert_false(sync_event_is_product(SYNC_EVENT_REVOKED));
    assert_false(sync_event_is_product(SYNC_EVENT_MALFORMED));
}

static void product_type_names(void **state)
{
    assert_string_equal(sync_event_type_name(SYNC_EVENT_JOINED), "joined");
    assert_string_equal(sync_event_type_name(SYNC_EVENT_ADMITTED), "admitted");
    assert_string_equal(sync_event_type_name(SYNC_EVENT_SHARED), "shared");
    assert_string_equal(sync_event_type_name(SYNC_EVENT_CLICKED), "clicked");
    assert_string_equal(sync_event_type_name(SYNC_EVENT_EARNED), "earned");
    assert_string_equal(sync_event_type_name(SYNC_EVENT_LIFECYCLE), "lifecycle");
    assert_string_equal(sync_event_type_name(SYNC_EVENT_SPENT), "spent");
    assert_string_equal(sync_event_type_name(SYNC_EVENT_ERASED), "erased");
    assert_string_equal(sync_event_type_name((sync_event_type_t)99), "malformed");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(issued_entry_decodes_every_field, teardown),
        cmocka_unit_test_teardown(redeemed_entry_decodes_every_field, teardown),
        cmocka_unit_test_teardown(revoked_entry_decodes_code_and_time, teardown),
        cmocka_unit_test_teardown(field_order_and_unknown_fields_do_not_matter, teardown),
        cmocka_unit_test_teardown(optional_fields_absent_or_empty_are_null, teardown),
        cmocka_unit_test_teardown(unknown_or_missing_type_is_malformed, teardown),
        cmocka_unit_test_teardown(code_must_be_a_body_of_the_alphabet, teardown),
        cmocka_unit_test_teardown(numbers_must_be_plain_decimals_in_range, teardown),
        cmocka_unit_test_teardown(numbers_at_the_edges_of_their_ranges, teardown),
        cmocka_unit_test_teardown(text_fields_fit_their_columns, teardown),
        cmocka_unit_test_teardown(bad_utf8_or_nul_in_text_is_malformed, teardown),
        cmocka_unit_test_teardown(unusable_ip_is_dropped_not_the_redemption, teardown),
        cmocka_unit_test_teardown(issued_requires_its_own_fields, teardown),
        cmocka_unit_test_teardown(deleted_entry_is_malformed_not_an_error, teardown),
        cmocka_unit_test_teardown(fields_that_are_not_string_pairs_are_malformed, teardown),
        cmocka_unit_test_teardown(entry_without_a_usable_id_is_an_error, teardown),
        cmocka_unit_test_teardown(event_id_is_bucket_dash_entry_id, teardown),
        cmocka_unit_test_teardown(items_form_expands_into_one_event_per_item, teardown),
        cmocka_unit_test_teardown(items_form_is_checked_item_by_item, teardown),
        cmocka_unit_test(type_names),
        cmocka_unit_test_teardown(joined_entry_decodes_every_field, teardown),
        cmocka_unit_test_teardown(joined_referrer_comes_as_a_pair, teardown),
        cmocka_unit_test_teardown(product_emails_must_be_normalised, teardown),
        cmocka_unit_test_teardown(joined_requires_its_own_fields, teardown),
        cmocka_unit_test_teardown(admitted_needs_an_e_mail_and_a_code, teardown),
        cmocka_unit_test_teardown(shared_and_clicked_decode, teardown),
        cmocka_unit_test_teardown(earned_codes_are_space_separated_bodies, teardown),
        cmocka_unit_test_teardown(lifecycle_kinds_and_amounts, teardown),
        cmocka_unit_test_teardown(spent_needs_a_positive_amount_and_a_spend_type, teardown),
        cmocka_unit_test_teardown(erased_carries_a_user_id_only, teardown),
        cmocka_unit_test_teardown(product_events_need_at, teardown),
        cmocka_unit_test(product_type_names),
        cmocka_unit_test(utf8_chars_counts_characters),
        cmocka_unit_test(utf8_chars_rejects_what_postgresql_refuses),
        cmocka_unit_test(utf8_chars_matches_the_rules_for_two_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
