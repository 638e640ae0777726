#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "ig_code.h"
#include "ig_email.h"
#include "ig_user.h"
#include "event.h"

/* Column sizes of migrations/001_invites.sql and 002_redemptions.sql, in characters. */
#define SYNC_BATCH_ID_CHARS 64
#define SYNC_COHORT_CHARS 64
#define SYNC_EMAIL_CHARS 320
#define SYNC_CREATED_BY_CHARS 64
/* client_addr is TEXT; this only bounds what a broken producer can make us store. */
#define SYNC_CLIENT_ADDR_CHARS 128
/* Columns of migrations/006_waitlist_referrals_points.sql, in characters. */
#define SYNC_PERSONA_CHARS 50
/* use_case and note are TEXT; the gateway's public body cap (4 KiB) bounds them. */
#define SYNC_FREE_TEXT_CHARS 4096
/* A tranche holds at most referral_earn_codes (at most 1000) codes. */
#define SYNC_MAX_EARNED_CODES 1000
/* Join sequences and amounts in cents: exact in a double, so in Lua and in JSON. */
#define SYNC_MAX_EXACT 9007199254740992LL
/* 9999-12-31T23:59:59Z: beyond it a timestamptz conversion would fail the batch. */
#define SYNC_MAX_UNIX_S 253402300799LL

/* A field's value: len bytes at str, NUL-terminated; str is NULL when the field is absent. */
typedef struct field_t {
    const char *str;
    size_t len;
} field_t;

/* The fields of an entry, or of one item of it, by name. */
typedef struct event_fields_t {
    field_t t, code, batch, cohort, max, exp, to, by, at, email, n, ip;
    field_t persona, use_case, score, seq, ref, ref_email, id, inviter, recipient, tranche, codes, kind, amount, note, uid;
    field_t d; /* the items form: every item's fields, each followed by a NUL byte */
} event_fields_t;

/*
 * The types written in the items form, and the fields of one item in the
 * order they stand in d (ARCHITECTURE.md, "Event streams"). The other
 * fields of such an entry are shared by all its items.
 */
#define SYNC_ITEM_MAX_FIELDS 8
typedef struct item_form_t {
    sync_event_type_t type;
    size_t width;                        /* fields per item */
    size_t fields[SYNC_ITEM_MAX_FIELDS]; /* their offsets in event_fields_t */
} item_form_t;

#define FIELD(name) offsetof(event_fields_t, name)
static const item_form_t item_forms[] = {
    {SYNC_EVENT_REDEEMED, 4, {FIELD(code), FIELD(email), FIELD(n), FIELD(ip)}},
    {SYNC_EVENT_JOINED,
     8,
     {FIELD(email), FIELD(persona), FIELD(use_case), FIELD(score), FIELD(seq), FIELD(ref), FIELD(ref_email), FIELD(ip)}},
    {SYNC_EVENT_ISSUED, 2, {FIELD(code), FIELD(to)}},
};

/* Stream names, indexed by sync_event_type_t. */
static const char *const type_names[] = {
    [SYNC_EVENT_MALFORMED] = "malformed", [SYNC_EVENT_ISSUED] = "issued",   [SYNC_EVENT_REDEEMED] = "redeemed",
    [SYNC_EVENT_REVOKED] = "revoked",     [SYNC_EVENT_JOINED] = "joined",   [SYNC_EVENT_ADMITTED] = "admitted",
    [SYNC_EVENT_SHARED] = "shared",       [SYNC_EVENT_CLICKED] = "clicked", [SYNC_EVENT_EARNED] = "earned",
    [SYNC_EVENT_LIFECYCLE] = "lifecycle", [SYNC_EVENT_SPENT] = "spent",     [SYNC_EVENT_ERASED] = "erased",
};
#define NUM_TYPES (sizeof(type_names) / sizeof(type_names[0]))

/*
 * Lifecycle kinds by sync_lifecycle_kind_t, and the ledger types a spend may
 * take: a spend, an operator's grant (ADMIN_GRANT, whose amount may be
 * negative: points given), or an expiry.
 */
static const char *const lifecycle_kinds[] = {"activated", "paid", "churned", "fraud_flagged"};
static const char *const spend_kinds[] = {"REDEMPTION_QUOTA", "REDEMPTION_UNLOCK", "ADMIN_GRANT", "EXPIRY"};
#define SPEND_KIND_ADMIN_GRANT 2

const char *sync_event_type_name(sync_event_type_t type)
{
    return (size_t)type < NUM_TYPES && type_names[type] != NULL ? type_names[type] : "malformed";
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
static int text_ok(const field_t *v, long max_chars)
{
    long n;
    return v->str != NULL && v->len > 0 && (n = sync_utf8_chars(v->str, v->len)) > 0 && n <= max_chars;
}

/* Optional text: absent and empty both mean SQL NULL. Returns -1 when present but unusable. */
static int optional_text(const char **out, const field_t *v, long max_chars)
{
    *out = NULL;
    if (v->str == NULL || v->len == 0)
        return 0;
    if (!text_ok(v, max_chars))
        return -1;
    *out = v->str;
    return 0;
}

/* A decimal integer in min..max: digits only, a leading '-' where min is negative, no spaces. */
static int integer(long long *out, const field_t *v, long long min, long long max)
{
    long long n = 0;
    size_t i;
    int negative = min < 0 && v->str != NULL && v->len > 1 && v->str[0] == '-';

    i = negative ? 1 : 0;
    if (v->str == NULL || v->len == i || v->len - i > 18)
        return -1;
    for (; i != v->len; ++i) {
        if (v->str[i] < '0' || v->str[i] > '9')
            return -1;
        n = n * 10 + (v->str[i] - '0');
    }
    if (negative)
        n = -n;
    if (n < min || n > max)
        return -1;
    *out = n;
    return 0;
}

/* A code body of either form ig_code.h defines (issued or imported). */
static int code_ok(const field_t *v)
{
    return v->str != NULL && ig_code_form(v->str, v->len) != IG_CODE_INVALID;
}

static int is_field(const field_t *name, const char *want)
{
    size_t len = strlen(want);
    return name->len == len && memcmp(name->str, want, len) == 0;
}

/* An e-mail in its normal form (ig_email_normalise), as every producer writes it: the user id derives from it. */
static int email_ok(const field_t *v)
{
    char norm[IG_EMAIL_MAX_BYTES + 1];
    return v->str != NULL && v->len > 0 && v->len <= IG_EMAIL_MAX_BYTES &&
           ig_email_normalise(norm, v->str, v->len) == (int)v->len && memcmp(norm, v->str, v->len) == 0;
}

/* A referral code (ig_user.h): IG_REFERRAL_CODE_LEN characters of the code alphabet. */
static int referral_ok(const field_t *v)
{
    if (v->str == NULL || v->len != IG_REFERRAL_CODE_LEN)
        return 0;
    for (size_t i = 0; i != v->len; ++i)
        if (ig_code_char_value(v->str[i]) < 0)
            return 0;
    return 1;
}

/* A UUID in its 8-4-4-4-12 hexadecimal form. */
static int uuid_ok(const field_t *v)
{
    if (v->str == NULL || v->len != 36)
        return 0;
    for (size_t i = 0; i != 36; ++i) {
        char c = v->str[i];
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return 0;
    }
    return 1;
}

/* Index of v in names (count of them), or -1. */
static int one_of(const field_t *v, const char *const *names, size_t count)
{
    for (size_t i = 0; v->str != NULL && i != count; ++i)
        if (is_field(v, names[i]))
            return (int)i;
    return -1;
}

/* Code bodies separated by single spaces, 1..SYNC_MAX_EARNED_CODES of them. */
static int codes_ok(const field_t *v)
{
    size_t i = 0, n = 0;

    if (v->str == NULL || v->len == 0)
        return 0;
    for (;;) {
        if (v->len - i < IG_CODE_BODY_LEN || ++n > SYNC_MAX_EARNED_CODES)
            return 0;
        for (size_t k = 0; k != IG_CODE_BODY_LEN; ++k)
            if (ig_code_char_value(v->str[i + k]) < 0)
                return 0;
        i += IG_CODE_BODY_LEN;
        if (i == v->len)
            return 1;
        if (v->str[i++] != ' ')
            return 0;
    }
}

/* Collects the known fields of a [field, value, ...] array; the first occurrence wins. */
static int collect_fields(event_fields_t *f, const redisReply *kv)
{
    static const struct {
        const char *name;
        size_t offset;
    } known[] = {
        {"t", FIELD(t)},
        {"code", FIELD(code)},
        {"batch", FIELD(batch)},
        {"cohort", FIELD(cohort)},
        {"max", FIELD(max)},
        {"exp", FIELD(exp)},
        {"to", FIELD(to)},
        {"by", FIELD(by)},
        {"at", FIELD(at)},
        {"email", FIELD(email)},
        {"n", FIELD(n)},
        {"ip", FIELD(ip)},
        {"persona", FIELD(persona)},
        {"use_case", FIELD(use_case)},
        {"score", FIELD(score)},
        {"seq", FIELD(seq)},
        {"ref", FIELD(ref)},
        {"ref_email", FIELD(ref_email)},
        {"id", FIELD(id)},
        {"inviter", FIELD(inviter)},
        {"recipient", FIELD(recipient)},
        {"tranche", FIELD(tranche)},
        {"codes", FIELD(codes)},
        {"kind", FIELD(kind)},
        {"amount", FIELD(amount)},
        {"note", FIELD(note)},
        {"uid", FIELD(uid)},
        {"d", FIELD(d)},
    };

    memset(f, 0, sizeof(*f));
    if (kv->elements % 2 != 0)
        return -1;
    for (size_t i = 0; i + 1 < kv->elements; i += 2) {
        const redisReply *name = kv->element[i], *value = kv->element[i + 1];
        if (name->type != REDIS_REPLY_STRING || value->type != REDIS_REPLY_STRING)
            return -1;
        field_t key = {name->str, name->len};
        for (size_t k = 0; k != sizeof(known) / sizeof(known[0]); ++k) {
            field_t *slot = (field_t *)((char *)f + known[k].offset);
            if (is_field(&key, known[k].name) && slot->str == NULL)
                *slot = (field_t){value->str, value->len};
        }
    }
    return 0;
}

/* The type named by field t, or SYNC_EVENT_MALFORMED. */
static sync_event_type_t type_of(const field_t *t)
{
    for (size_t i = SYNC_EVENT_MALFORMED + 1; t->str != NULL && i != NUM_TYPES; ++i)
        if (is_field(t, type_names[i]))
            return (sync_event_type_t)i;
    return SYNC_EVENT_MALFORMED;
}

/* The items form of type, or NULL when its entries have none. */
static const item_form_t *item_form(sync_event_type_t type)
{
    for (size_t i = 0; i != sizeof(item_forms) / sizeof(item_forms[0]); ++i)
        if (item_forms[i].type == type)
            return &item_forms[i];
    return NULL;
}

/*
 * Items in field d of an entry of the items form: d must be whole items of
 * form's width, every field followed by a NUL byte, at least one item.
 * Returns their number, or 0 when d is not that.
 */
static size_t count_items(const field_t *d, const item_form_t *form)
{
    size_t nuls = 0;

    if (d->str == NULL || d->len == 0 || d->str[d->len - 1] != '\0')
        return 0;
    for (const char *p = d->str, *end = d->str + d->len; (p = memchr(p, '\0', (size_t)(end - p))) != NULL; ++p)
        ++nuls;
    return nuls % form->width == 0 ? nuls / form->width : 0;
}

/* Fills the fields of an issued event; returns the reason it is malformed, or NULL. */
static const char *decode_issued(sync_event_t *ev, const event_fields_t *f)
{
    if (!text_ok(&f->batch, SYNC_BATCH_ID_CHARS))
        return "field batch missing or invalid";
    ev->batch = f->batch.str;
    if (optional_text(&ev->cohort, &f->cohort, SYNC_COHORT_CHARS) != 0)
        return "field cohort invalid";
    if (integer(&ev->max_uses, &f->max, 1, INT_MAX) != 0)
        return "field max missing or invalid";
    if (integer(&ev->expires_s, &f->exp, 1, SYNC_MAX_UNIX_S) != 0)
        return "field exp missing or invalid";
    if (optional_text(&ev->issued_to, &f->to, SYNC_EMAIL_CHARS) != 0)
        return "field to invalid";
    if (optional_text(&ev->created_by, &f->by, SYNC_CREATED_BY_CHARS) != 0)
        return "field by invalid";
    return NULL;
}

/* Fills the fields of a redeemed event; returns the reason it is malformed, or NULL. */
static const char *decode_redeemed(sync_event_t *ev, const event_fields_t *f)
{
    if (!text_ok(&f->email, SYNC_EMAIL_CHARS))
        return "field email missing or invalid";
    ev->email = f->email.str;
    if (integer(&ev->use_number, &f->n, 1, INT_MAX) != 0)
        return "field n missing or invalid";
    /* The address is diagnostic only: an odd one is dropped, not the redemption with it. */
    if (optional_text(&ev->ip, &f->ip, SYNC_CLIENT_ADDR_CHARS) != 0)
        ev->ip = NULL;
    return NULL;
}

/* The e-mail every product event but shared, clicked and erased carries. */
static const char *decode_email(sync_event_t *ev, const event_fields_t *f)
{
    if (!email_ok(&f->email))
        return "field email missing or not a normalised e-mail";
    ev->email = f->email.str;
    return NULL;
}

static const char *decode_joined(sync_event_t *ev, const event_fields_t *f)
{
    const char *reason = decode_email(ev, f);
    if (reason != NULL)
        return reason;
    if (!text_ok(&f->persona, SYNC_PERSONA_CHARS))
        return "field persona missing or invalid";
    ev->persona = f->persona.str;
    if (optional_text(&ev->use_case, &f->use_case, SYNC_FREE_TEXT_CHARS) != 0)
        return "field use_case invalid";
    if (ev->use_case == NULL)
        ev->use_case = "";
    if (integer(&ev->score, &f->score, 0, INT_MAX) != 0)
        return "field score missing or invalid";
    if (integer(&ev->seq, &f->seq, 0, SYNC_MAX_EXACT) != 0)
        return "field seq missing or invalid";
    /* The referrer comes as a pair: the code followed and its owner's e-mail. */
    if (f->ref.str != NULL && f->ref.len != 0) {
        if (!referral_ok(&f->ref))
            return "field ref not a referral code";
        if (!email_ok(&f->ref_email))
            return "field ref_email missing or not a normalised e-mail";
        ev->ref = f->ref.str;
        ev->ref_email = f->ref_email.str;
    } else if (f->ref_email.str != NULL && f->ref_email.len != 0) {
        return "field ref_email without ref";
    }
    if (optional_text(&ev->ip, &f->ip, SYNC_CLIENT_ADDR_CHARS) != 0)
        ev->ip = NULL;
    return NULL;
}

static const char *decode_shared(sync_event_t *ev, const event_fields_t *f)
{
    if (!uuid_ok(&f->id))
        return "field id missing or not a UUID";
    ev->share_id = f->id.str;
    if (!email_ok(&f->inviter))
        return "field inviter missing or not a normalised e-mail";
    ev->inviter = f->inviter.str;
    if (!email_ok(&f->recipient))
        return "field recipient missing or not a normalised e-mail";
    ev->recipient = f->recipient.str;
    return NULL;
}

static const char *decode_earned(sync_event_t *ev, const event_fields_t *f)
{
    const char *reason = decode_email(ev, f);
    if (reason != NULL)
        return reason;
    if (integer(&ev->tranche, &f->tranche, 1, INT_MAX) != 0)
        return "field tranche missing or invalid";
    if (!codes_ok(&f->codes))
        return "field codes missing or not space-separated code bodies";
    ev->codes = f->codes.str;
    return NULL;
}

static const char *decode_lifecycle(sync_event_t *ev, const event_fields_t *f)
{
    const char *reason = decode_email(ev, f);
    int kind;
    if (reason != NULL)
        return reason;
    if ((kind = one_of(&f->kind, lifecycle_kinds, sizeof(lifecycle_kinds) / sizeof(lifecycle_kinds[0]))) < 0)
        return "field kind missing or unknown";
    ev->kind = lifecycle_kinds[kind];
    ev->lifecycle = (sync_lifecycle_kind_t)kind;
    ev->amount = -1;
    if (f->amount.str != NULL && f->amount.len != 0 && integer(&ev->amount, &f->amount, 0, SYNC_MAX_EXACT) != 0)
        return "field amount invalid";
    return NULL;
}

static const char *decode_spent(sync_event_t *ev, const event_fields_t *f)
{
    const char *reason = decode_email(ev, f);
    int kind;
    if (reason != NULL)
        return reason;
    if ((kind = one_of(&f->kind, spend_kinds, sizeof(spend_kinds) / sizeof(spend_kinds[0]))) < 0)
        return "field kind missing or not a spend type";
    ev->kind = spend_kinds[kind];
    if (integer(&ev->amount, &f->amount, kind == SPEND_KIND_ADMIN_GRANT ? -(long long)INT_MAX : 1, INT_MAX) != 0 || ev->amount == 0)
        return "field amount missing or invalid";
    if (optional_text(&ev->note, &f->note, SYNC_FREE_TEXT_CHARS) != 0)
        return "field note invalid";
    return NULL;
}

/* Fills the fields of type's event; returns the reason it is malformed, or NULL. */
static const char *decode_payload(sync_event_t *ev, const event_fields_t *f)
{
    switch (ev->type) {
    case SYNC_EVENT_ISSUED:
        return decode_issued(ev, f);
    case SYNC_EVENT_REDEEMED:
        return decode_redeemed(ev, f);
    case SYNC_EVENT_JOINED:
        return decode_joined(ev, f);
    case SYNC_EVENT_ADMITTED:
        return decode_email(ev, f);
    case SYNC_EVENT_LIFECYCLE:
        return decode_lifecycle(ev, f);
    case SYNC_EVENT_SHARED:
        return decode_shared(ev, f);
    case SYNC_EVENT_CLICKED:
        if (!referral_ok(&f->ref))
            return "field ref missing or not a referral code";
        ev->ref = f->ref.str;
        return NULL;
    case SYNC_EVENT_EARNED:
        return decode_earned(ev, f);
    case SYNC_EVENT_SPENT:
        return decode_spent(ev, f);
    case SYNC_EVENT_ERASED:
        if (!uuid_ok(&f->uid))
            return "field uid missing or not a UUID";
        ev->uid = f->uid.str;
        return NULL;
    default:
        return NULL;
    }
}

/* Whether events of type name a code (field code). */
static int has_code(sync_event_type_t type)
{
    return type == SYNC_EVENT_ISSUED || type == SYNC_EVENT_REDEEMED || type == SYNC_EVENT_REVOKED || type == SYNC_EVENT_ADMITTED;
}

/* Decodes one event of type from f into ev (whose ids are set); a bad payload makes it MALFORMED. */
static void decode_one(sync_event_t *ev, sync_event_type_t type, const event_fields_t *f)
{
    const char *reason = NULL;

    ev->type = type;
    if (type == SYNC_EVENT_MALFORMED)
        reason = f->t.str == NULL ? "field t missing" : "unknown type";
    if (reason == NULL && has_code(type)) {
        if (!code_ok(&f->code))
            reason = "field code missing or not a code body";
        else
            ev->code = f->code.str;
    }
    if (reason == NULL && integer(&ev->at_ms, &f->at, 1, SYNC_MAX_UNIX_S * 1000) != 0)
        reason = "field at missing or invalid";
    if (reason == NULL)
        reason = decode_payload(ev, f);
    if (reason != NULL) {
        ev->type = SYNC_EVENT_MALFORMED;
        ev->reason = reason;
    }
}

/* Parses a stream entry id "ms-seq" into out; returns -1 when id is not one. */
static int parse_entry_id(uint64_t out[2], const redisReply *id)
{
    const char *p = id->str, *end = id->str + id->len;

    for (int part = 0; part != 2; ++part) {
        uint64_t v = 0;
        const char *start = p;
        for (; p != end && *p >= '0' && *p <= '9'; ++p) {
            if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
                return -1;
            v = v * 10 + (uint64_t)(*p - '0');
        }
        if (p == start || (part == 0 ? p == end || *p++ != '-' : p != end))
            return -1;
        out[part] = v;
    }
    return 0;
}

/*
 * The entry's id and fields: -1 when it has no usable id; otherwise 0 with
 * *fields NULL when its fields are unusable (deleted from the stream, or
 * not string pairs, *why says which).
 */
static int open_entry(uint64_t id[2], event_fields_t *f, const char **why, const redisReply *entry)
{
    if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2 || entry->element[0]->type != REDIS_REPLY_STRING ||
        parse_entry_id(id, entry->element[0]) != 0)
        return -1;
    *why = NULL;
    /* A pending entry deleted from the stream comes back with nil fields. */
    if (entry->element[1]->type != REDIS_REPLY_ARRAY)
        *why = "entry deleted from the stream";
    else if (collect_fields(f, entry->element[1]) != 0)
        *why = "fields are not string pairs";
    return 0;
}

long sync_event_count(const redisReply *entry)
{
    event_fields_t f;
    uint64_t id[2];
    const char *why;
    const item_form_t *form;
    size_t n;

    if (open_entry(id, &f, &why, entry) != 0)
        return -1;
    if (why != NULL || f.d.str == NULL || (form = item_form(type_of(&f.t))) == NULL || (n = count_items(&f.d, form)) == 0)
        return 1;
    return (long)n;
}

long sync_event_decode(sync_event_t *evs, unsigned bucket, const redisReply *entry)
{
    event_fields_t f;
    uint64_t id[2];
    const char *why;
    const item_form_t *form = NULL;
    sync_event_type_t type;
    size_t n = 0;

    if (open_entry(id, &f, &why, entry) != 0)
        return -1;
    memset(&evs[0], 0, sizeof(evs[0]));
    evs[0].bucket = bucket;
    evs[0].entry[0] = id[0];
    evs[0].entry[1] = id[1];
    snprintf(evs[0].event_id, sizeof(evs[0].event_id), "%u-%" PRIu64 "-%" PRIu64, bucket, id[0], id[1]);
    if (why != NULL) {
        evs[0].type = SYNC_EVENT_MALFORMED;
        evs[0].reason = why;
        return 1;
    }
    type = type_of(&f.t);
    if (f.d.str != NULL && ((form = item_form(type)) == NULL || (n = count_items(&f.d, form)) == 0)) {
        evs[0].type = SYNC_EVENT_MALFORMED;
        evs[0].reason = form == NULL ? "field d on a type without items" : "field d is not whole items";
        return 1;
    }
    if (form == NULL) {
        decode_one(&evs[0], type, &f);
        return 1;
    }
    /* The items form: each item's own fields over the entry's shared ones. */
    const char *p = f.d.str;
    for (size_t i = 0; i != n; ++i) {
        event_fields_t item = f;
        for (size_t k = 0; k != form->width; ++k) {
            size_t len = strlen(p);
            *(field_t *)((char *)&item + form->fields[k]) = (field_t){p, len};
            p += len + 1;
        }
        if (i != 0) {
            memset(&evs[i], 0, sizeof(evs[i]));
            evs[i].bucket = bucket;
            evs[i].entry[0] = id[0];
            evs[i].entry[1] = id[1];
        }
        evs[i].item = (unsigned)i;
        snprintf(evs[i].event_id, sizeof(evs[i].event_id), "%u-%" PRIu64 "-%" PRIu64 "/%zu", bucket, id[0], id[1], i);
        decode_one(&evs[i], type, &item);
    }
    return (long)n;
}

const char *sync_event_entry_id(char out[SYNC_ENTRY_ID_BYTES], const sync_event_t *ev)
{
    snprintf(out, SYNC_ENTRY_ID_BYTES, "%" PRIu64 "-%" PRIu64, ev->entry[0], ev->entry[1]);
    return out;
}
