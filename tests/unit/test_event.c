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

/* Decodes an entry from bucket 3, keeping its reply alive until the next call. */
static int decode_resp(sync_event_t *ev, const char *resp, size_t len)
{
    teardown(NULL);
    held = parse_resp(resp, len);
    return sync_event_decode(ev, 3, held);
}

static void decode_with(sync_event_t *ev, const field_t *fields, size_t n, const char *name, const char *value, size_t len)
{
    teardown(NULL);
    held = entry_with(fields, n, name, value, len);
    assert_int_equal(sync_event_decode(ev, 3, held), 0);
    assert_string_equal(ev->event_id, "3-" ID);
    assert_string_equal(sync_event_entry_id(ev), ID);
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
    for (size_t i = 0; i != COUNT(nils); ++i) {
        assert_int_equal(decode_resp(&ev, nils[i], strlen(nils[i])), 0);
        assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
        assert_non_null(ev.reason);
        assert_null(ev.code);
        assert_string_equal(ev.event_id, "3-" ID);
        assert_string_equal(sync_event_entry_id(&ev), ID);
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
    for (size_t i = 0; i != COUNT(entries); ++i) {
        assert_int_equal(decode_resp(&ev, entries[i], strlen(entries[i])), 0);
        assert_int_equal(ev.type, SYNC_EVENT_MALFORMED);
        assert_non_null(ev.reason);
        assert_string_equal(sync_event_entry_id(&ev), ID);
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
        "$15\r\n" ID "\r\n",                         /* not an array */
        "*-1\r\n",                                   /* nil */
        ":1\r\n",                                    /* integer */
        "*0\r\n",                                    /* empty */
        "*1\r\n$15\r\n" ID "\r\n",                   /* no fields */
        "*3\r\n$15\r\n" ID "\r\n*0\r\n*0\r\n",       /* too many elements */
        "*2\r\n:1700000000000\r\n*0\r\n",            /* id not a string */
        "*2\r\n$-1\r\n*0\r\n",                       /* nil id */
        "*2\r\n*1\r\n$15\r\n" ID "\r\n*0\r\n",       /* array id */
        "*2\r\n$0\r\n\r\n*0\r\n",                    /* empty id */
        "*2\r\n$15\r\n1700000000000\0000\r\n*0\r\n", /* NUL in the id */
        resp,                                        /* longer than SYNC_ENTRY_ID_BYTES - 1 */
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
    char resp[512], id[SYNC_ENTRY_ID_BYTES], want[SYNC_EVENT_ID_BYTES + 16];
    const char *ids[] = {"0-1", "1700000000000-0", "18446744073709551615-18446744073709551615", NULL};
    const unsigned buckets[] = {0, 3, IG_BUCKETS - 1};
    sync_event_t ev;

    memset(id, '9', SYNC_ENTRY_ID_BYTES - 1);
    id[SYNC_ENTRY_ID_BYTES - 1] = '\0';
    ids[3] = id; /* the longest id decode accepts */
    for (size_t i = 0; i != COUNT(ids); ++i) {
        for (size_t b = 0; b != COUNT(buckets); ++b) {
            int len = snprintf(resp, sizeof(resp),
                               "*2\r\n$%zu\r\n%s\r\n*6\r\n$1\r\nt\r\n$7\r\nrevoked\r\n$4\r\ncode\r\n$16\r\n" CODE
                               "\r\n$2\r\nat\r\n$1\r\n5\r\n",
                               strlen(ids[i]), ids[i]);
            teardown(NULL);
            held = parse_resp(resp, (size_t)len);
            assert_int_equal(sync_event_decode(&ev, buckets[b], held), 0);
            assert_int_equal(ev.type, SYNC_EVENT_REVOKED);
            assert_int_equal(ev.bucket, buckets[b]);
            snprintf(want, sizeof(want), "%u-%s", buckets[b], ids[i]);
            assert_true(strlen(want) < SYNC_EVENT_ID_BYTES);
            assert_string_equal(ev.event_id, want);
            assert_string_equal(sync_event_entry_id(&ev), ids[i]);
            /* The entry id moves with the event. */
            sync_event_t copy = ev;
            memset(&ev, 0, sizeof(ev));
            assert_string_equal(sync_event_entry_id(&copy), ids[i]);
        }
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
        cmocka_unit_test(type_names),
        cmocka_unit_test(utf8_chars_counts_characters),
        cmocka_unit_test(utf8_chars_rejects_what_postgresql_refuses),
        cmocka_unit_test(utf8_chars_matches_the_rules_for_two_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
