#include <limits.h>
#include <stdio.h>
#include <string.h>
#include "ig_code.h"
#include "event.h"

/* Column sizes of migrations/001_invites.sql and 002_redemptions.sql, in characters. */
#define SYNC_BATCH_ID_CHARS 64
#define SYNC_COHORT_CHARS 64
#define SYNC_EMAIL_CHARS 320
#define SYNC_CREATED_BY_CHARS 64
/* client_addr is TEXT; this only bounds what a broken producer can make us store. */
#define SYNC_CLIENT_ADDR_CHARS 128
/* 9999-12-31T23:59:59Z: beyond it a timestamptz conversion would fail the batch. */
#define SYNC_MAX_UNIX_S 253402300799LL

/* The fields of an entry, by name; NULL when absent. */
typedef struct event_fields_t {
    const redisReply *t, *code, *batch, *cohort, *max, *exp, *to, *by, *at, *email, *n, *ip;
} event_fields_t;

const char *sync_event_type_name(sync_event_type_t type)
{
    switch (type) {
    case SYNC_EVENT_ISSUED:
        return "issued";
    case SYNC_EVENT_REDEEMED:
        return "redeemed";
    case SYNC_EVENT_REVOKED:
        return "revoked";
    default:
        return "malformed";
    }
}

long sync_utf8_chars(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    long chars = 0;

    while (p != end) {
        unsigned c = *p++, cp, extra;
        if (c == 0)
            return -1;
        if (c < 0x80) {
            ++chars;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf)
            extra = 1, cp = c & 0x1f;
        else if (c >= 0xe0 && c <= 0xef)
            extra = 2, cp = c & 0x0f;
        else if (c >= 0xf0 && c <= 0xf4)
            extra = 3, cp = c & 0x07;
        else
            return -1;
        if ((size_t)(end - p) < extra)
            return -1;
        for (unsigned i = 0; i != extra; ++i, ++p) {
            if ((*p & 0xc0) != 0x80)
                return -1;
            cp = (cp << 6) | (*p & 0x3f);
        }
        /* Overlong forms, UTF-16 surrogates and code points past U+10FFFF. */
        if ((extra == 2 && cp < 0x800) || (extra == 3 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
            return -1;
        ++chars;
    }
    return chars;
}

/* Text usable as a column value: valid UTF-8, no NUL, 1..max_chars characters. */
static int text_ok(const redisReply *v, long max_chars)
{
    long n;
    return v != NULL && v->len > 0 && (n = sync_utf8_chars(v->str, v->len)) > 0 && n <= max_chars;
}

/* Optional text: absent and empty both mean SQL NULL. Returns -1 when present but unusable. */
static int optional_text(const char **out, const redisReply *v, long max_chars)
{
    *out = NULL;
    if (v == NULL || v->len == 0)
        return 0;
    if (!text_ok(v, max_chars))
        return -1;
    *out = v->str;
    return 0;
}

/* A decimal integer in min..max: digits only, no sign, no spaces. */
static int integer(long long *out, const redisReply *v, long long min, long long max)
{
    long long n = 0;

    if (v == NULL || v->len == 0 || v->len > 18)
        return -1;
    for (size_t i = 0; i != v->len; ++i) {
        if (v->str[i] < '0' || v->str[i] > '9')
            return -1;
        n = n * 10 + (v->str[i] - '0');
    }
    if (n < min || n > max)
        return -1;
    *out = n;
    return 0;
}

/* A code body as ig_code.h defines it: 16 characters of the alphabet. */
static int code_ok(const redisReply *v)
{
    if (v == NULL || v->len != IG_CODE_BODY_LEN)
        return 0;
    for (size_t i = 0; i != v->len; ++i)
        if (ig_code_char_value(v->str[i]) < 0)
            return 0;
    return 1;
}

static int is_field(const redisReply *name, const char *want)
{
    size_t len = strlen(want);
    return name->len == len && memcmp(name->str, want, len) == 0;
}

/* Collects the known fields of a [field, value, ...] array; the first occurrence wins. */
static int collect_fields(event_fields_t *f, const redisReply *kv)
{
    static const struct {
        const char *name;
        size_t offset;
    } known[] = {
        {"t", offsetof(event_fields_t, t)},         {"code", offsetof(event_fields_t, code)},
        {"batch", offsetof(event_fields_t, batch)}, {"cohort", offsetof(event_fields_t, cohort)},
        {"max", offsetof(event_fields_t, max)},     {"exp", offsetof(event_fields_t, exp)},
        {"to", offsetof(event_fields_t, to)},       {"by", offsetof(event_fields_t, by)},
        {"at", offsetof(event_fields_t, at)},       {"email", offsetof(event_fields_t, email)},
        {"n", offsetof(event_fields_t, n)},         {"ip", offsetof(event_fields_t, ip)},
    };

    memset(f, 0, sizeof(*f));
    if (kv->elements % 2 != 0)
        return -1;
    for (size_t i = 0; i + 1 < kv->elements; i += 2) {
        const redisReply *name = kv->element[i], *value = kv->element[i + 1];
        if (name->type != REDIS_REPLY_STRING || value->type != REDIS_REPLY_STRING)
            return -1;
        for (size_t k = 0; k != sizeof(known) / sizeof(known[0]); ++k) {
            const redisReply **slot = (const redisReply **)((char *)f + known[k].offset);
            if (is_field(name, known[k].name) && *slot == NULL)
                *slot = value;
        }
    }
    return 0;
}

/* Fills the fields of an issued event; returns the reason it is malformed, or NULL. */
static const char *decode_issued(sync_event_t *ev, const event_fields_t *f)
{
    if (!text_ok(f->batch, SYNC_BATCH_ID_CHARS))
        return "field batch missing or invalid";
    ev->batch = f->batch->str;
    if (optional_text(&ev->cohort, f->cohort, SYNC_COHORT_CHARS) != 0)
        return "field cohort invalid";
    if (integer(&ev->max_uses, f->max, 1, INT_MAX) != 0)
        return "field max missing or invalid";
    if (integer(&ev->expires_s, f->exp, 1, SYNC_MAX_UNIX_S) != 0)
        return "field exp missing or invalid";
    if (optional_text(&ev->issued_to, f->to, SYNC_EMAIL_CHARS) != 0)
        return "field to invalid";
    if (optional_text(&ev->created_by, f->by, SYNC_CREATED_BY_CHARS) != 0)
        return "field by invalid";
    return NULL;
}

/* Fills the fields of a redeemed event; returns the reason it is malformed, or NULL. */
static const char *decode_redeemed(sync_event_t *ev, const event_fields_t *f)
{
    if (!text_ok(f->email, SYNC_EMAIL_CHARS))
        return "field email missing or invalid";
    ev->email = f->email->str;
    if (integer(&ev->use_number, f->n, 1, INT_MAX) != 0)
        return "field n missing or invalid";
    /* The address is diagnostic only: an odd one is dropped, not the redemption with it. */
    if (optional_text(&ev->ip, f->ip, SYNC_CLIENT_ADDR_CHARS) != 0)
        ev->ip = NULL;
    return NULL;
}

int sync_event_decode(sync_event_t *ev, unsigned bucket, const redisReply *entry)
{
    const redisReply *id, *kv;
    event_fields_t f;
    const char *reason = NULL;

    memset(ev, 0, sizeof(*ev));
    ev->bucket = bucket;
    ev->type = SYNC_EVENT_MALFORMED;
    if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2)
        return -1;
    id = entry->element[0];
    kv = entry->element[1];
    if (id->type != REDIS_REPLY_STRING || id->len == 0 || id->len >= SYNC_ENTRY_ID_BYTES || memchr(id->str, '\0', id->len) != NULL)
        return -1;
    int prefix = snprintf(ev->event_id, sizeof(ev->event_id), "%u-", bucket);
    memcpy(ev->event_id + prefix, id->str, id->len + 1);
    ev->entry_offset = (unsigned char)prefix;

    /* A pending entry deleted from the stream comes back with nil fields. */
    if (kv->type != REDIS_REPLY_ARRAY) {
        ev->reason = "entry deleted from the stream";
        return 0;
    }
    if (collect_fields(&f, kv) != 0) {
        ev->reason = "fields are not string pairs";
        return 0;
    }
    if (f.t == NULL) {
        ev->reason = "field t missing";
        return 0;
    }
    if (is_field(f.t, "issued"))
        ev->type = SYNC_EVENT_ISSUED;
    else if (is_field(f.t, "redeemed"))
        ev->type = SYNC_EVENT_REDEEMED;
    else if (is_field(f.t, "revoked"))
        ev->type = SYNC_EVENT_REVOKED;
    else
        reason = "unknown type";
    if (reason == NULL && !code_ok(f.code))
        reason = "field code missing or not a code body";
    if (reason == NULL) {
        ev->code = f.code->str;
        if (integer(&ev->at_ms, f.at, 1, SYNC_MAX_UNIX_S * 1000) != 0)
            reason = "field at missing or invalid";
    }
    if (reason == NULL && ev->type == SYNC_EVENT_ISSUED)
        reason = decode_issued(ev, &f);
    else if (reason == NULL && ev->type == SYNC_EVENT_REDEEMED)
        reason = decode_redeemed(ev, &f);
    if (reason != NULL) {
        ev->type = SYNC_EVENT_MALFORMED;
        ev->reason = reason;
    }
    return 0;
}
