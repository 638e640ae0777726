/*
 * Fuzz target: the sync daemon's decoder of stream entries (sync/event.c),
 * in both forms: the single form (one event, its fields by name) and the
 * items form (field d: every item's fields, each followed by a NUL byte).
 *
 * Input, one element a line ('\n'; a value may hold any other byte, NUL
 * included): the entry id, then field names and values in turn. A line
 * "(nil)" is a nil element, ":DIGITS" an integer; "(nil)" alone after the id
 * is an entry whose fields are nil (deleted from the stream). The target
 * writes that as RESP and reads it back with hiredis's reader, so the
 * decoder gets the same redisReply objects as from an XREAD.
 *
 * Checks: sync_event_decode writes exactly sync_event_count events (the
 * batch sizes its array by it; the array here has exactly that many, so a
 * write past it is caught), each with the bucket, entry id and event id
 * (not truncated) of its entry; a MALFORMED event says why; any other
 * carries what its type needs, valid for its column: codes of 16
 * characters of the alphabet, text as UTF-8 without NUL, e-mails of
 * product events in normal form, times and numbers in range.
 */
#include <inttypes.h>
#include <hiredis/hiredis.h>
#include "event.h"
#include "fuzz.h"
#include "ig_code.h"
#include "ig_keys.h"

/* The highest bucket: the longest event ids. */
#define FUZZ_BUCKET (IG_BUCKETS_MAX - 1)

typedef struct resp_t {
    char *buf;
    size_t len, cap;
} resp_t;

static void put(resp_t *r, const void *p, size_t n)
{
    if (r->len + n > r->cap) {
        r->cap = (r->len + n) * 2 + 64;
        if ((r->buf = realloc(r->buf, r->cap)) == NULL)
            abort();
    }
    memcpy(r->buf + r->len, p, n);
    r->len += n;
}

static void put_header(resp_t *r, char type, size_t n)
{
    char head[32];
    put(r, head, (size_t)snprintf(head, sizeof(head), "%c%zu\r\n", type, n));
}

/* One element: nil, integer or bulk string. */
static void put_element(resp_t *r, const char *s, size_t n)
{
    size_t digits = 0;
    while (n > 1 && s[0] == ':' && digits != n - 1 && s[1 + digits] >= '0' && s[1 + digits] <= '9')
        ++digits;
    if (n == 5 && memcmp(s, "(nil)", 5) == 0) {
        put(r, "$-1\r\n", 5);
    } else if (digits != 0 && digits == n - 1 && digits < 19) {
        put(r, s, n);
        put(r, "\r\n", 2);
    } else {
        put_header(r, '$', n);
        put(r, s, n);
        put(r, "\r\n", 2);
    }
}

/* The entry of data (the format above) as a reply; NULL when hiredis refuses it. */
static redisReply *entry_of(const uint8_t *data, size_t size)
{
    const char *lines[4096];
    size_t lens[4096], n;
    resp_t r = {NULL, 0, 0};
    redisReply *reply = NULL;

    /* A final newline ends the last line; it opens no empty one. */
    if (size != 0 && data[size - 1] == '\n')
        --size;
    n = fuzz_lines(lines, lens, sizeof(lines) / sizeof(lines[0]), data, size);
    put_header(&r, '*', 2);
    put_element(&r, lines[0], lens[0]);
    if (n == 2 && lens[1] == 5 && memcmp(lines[1], "(nil)", 5) == 0) {
        put(&r, "*-1\r\n", 5);
    } else {
        put_header(&r, '*', n - 1);
        for (size_t i = 1; i != n; ++i)
            put_element(&r, lines[i], lens[i]);
    }
    redisReader *reader = redisReaderCreate();
    void *out = NULL;
    if (reader == NULL)
        abort();
    if (redisReaderFeed(reader, r.buf, r.len) == REDIS_OK && redisReaderGetReply(reader, &out) == REDIS_OK)
        reply = out;
    redisReaderFree(reader);
    free(r.buf);
    return reply;
}

/* Optional text that reaches PostgreSQL: NULL, or UTF-8 without NUL. */
static void check_text(const char *s)
{
    FUZZ_CHECK(s == NULL || sync_utf8_chars(s, strlen(s)) >= 0);
}

/* A decoded code is a whole body of one of the two forms (issued, or imported from an earlier system). */
static void check_code(const char *s)
{
    FUZZ_CHECK(s != NULL);
    ig_code_form_t f = ig_code_form(s, strlen(s));
    FUZZ_CHECK(f != IG_CODE_INVALID);
    for (size_t i = 0; s[i] != '\0'; ++i)
        FUZZ_CHECK(ig_code_digit(f, s[i]) >= 0);
}

static void check_email(const char *s)
{
    FUZZ_CHECK(s != NULL);
    fuzz_check_normal_email(s, strlen(s));
}

/* What a decoded event of each type must carry. */
static void check_payload(const sync_event_t *ev)
{
    const char *texts[] = {ev->batch,     ev->cohort,   ev->issued_to, ev->created_by, ev->email,    ev->ip,
                           ev->persona,   ev->use_case, ev->ref,       ev->ref_email,  ev->share_id, ev->inviter,
                           ev->recipient, ev->codes,    ev->kind,      ev->note,       ev->uid};
    for (size_t i = 0; i != sizeof(texts) / sizeof(texts[0]); ++i)
        check_text(texts[i]);
    FUZZ_CHECK(ev->at_ms >= 1 && ev->at_ms <= 253402300799000LL);
    switch (ev->type) {
    case SYNC_EVENT_ISSUED:
        check_code(ev->code);
        FUZZ_CHECK(ev->batch != NULL && ev->batch[0] != '\0');
        FUZZ_CHECK(ev->max_uses >= 1 && ev->expires_s >= 1);
        break;
    case SYNC_EVENT_REDEEMED:
        check_code(ev->code);
        FUZZ_CHECK(ev->email != NULL && ev->email[0] != '\0' && ev->use_number >= 1);
        break;
    case SYNC_EVENT_REVOKED:
        check_code(ev->code);
        break;
    case SYNC_EVENT_JOINED:
        check_email(ev->email);
        FUZZ_CHECK(ev->persona != NULL && ev->use_case != NULL && ev->score >= 0 && ev->seq >= 0);
        FUZZ_CHECK((ev->ref == NULL) == (ev->ref_email == NULL));
        if (ev->ref != NULL)
            check_email(ev->ref_email);
        break;
    case SYNC_EVENT_ADMITTED:
        check_code(ev->code);
        check_email(ev->email);
        break;
    case SYNC_EVENT_SHARED:
        FUZZ_CHECK(ev->share_id != NULL && strlen(ev->share_id) == 36);
        check_email(ev->inviter);
        check_email(ev->recipient);
        break;
    case SYNC_EVENT_CLICKED:
        FUZZ_CHECK(ev->ref != NULL && strlen(ev->ref) == 8);
        break;
    case SYNC_EVENT_EARNED:
        check_email(ev->email);
        FUZZ_CHECK(ev->tranche >= 1 && ev->codes != NULL && strlen(ev->codes) % (IG_CODE_BODY_LEN + 1) == IG_CODE_BODY_LEN);
        break;
    case SYNC_EVENT_LIFECYCLE:
        check_email(ev->email);
        FUZZ_CHECK(ev->kind != NULL && ev->amount >= -1);
        break;
    case SYNC_EVENT_SPENT:
        check_email(ev->email);
        FUZZ_CHECK(ev->kind != NULL && ev->amount >= 1);
        break;
    case SYNC_EVENT_ERASED:
        FUZZ_CHECK(ev->uid != NULL && strlen(ev->uid) == 36);
        break;
    default:
        FUZZ_CHECK(!"a type out of the enumeration");
    }
}

static void check_event(const sync_event_t *ev, const sync_event_t *first, long count, long i)
{
    char id[SYNC_EVENT_ID_BYTES];

    FUZZ_CHECK(ev->bucket == FUZZ_BUCKET && ev->entry[0] == first->entry[0] && ev->entry[1] == first->entry[1]);
    FUZZ_CHECK(ev->item == (unsigned)i);
    /* The event id is the key of exactly once in PostgreSQL: written whole, as ARCHITECTURE.md gives it. */
    FUZZ_CHECK(memchr(ev->event_id, '\0', sizeof(ev->event_id)) != NULL && strlen(ev->event_id) < sizeof(ev->event_id) - 1);
    if (count == 1 && strchr(ev->event_id, '/') == NULL)
        snprintf(id, sizeof(id), "%u-%" PRIu64 "-%" PRIu64, ev->bucket, ev->entry[0], ev->entry[1]);
    else
        snprintf(id, sizeof(id), "%u-%" PRIu64 "-%" PRIu64 "/%ld", ev->bucket, ev->entry[0], ev->entry[1], i);
    FUZZ_CHECK(strcmp(id, ev->event_id) == 0);
    if (ev->type == SYNC_EVENT_MALFORMED) {
        FUZZ_CHECK(ev->reason != NULL && ev->reason[0] != '\0');
    } else {
        FUZZ_CHECK(ev->reason == NULL);
        check_payload(ev);
    }
    FUZZ_CHECK(strcmp(sync_event_type_name(ev->type), "") != 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    redisReply *entry = entry_of(data, size);
    if (entry == NULL)
        return 0;
    long count = sync_event_count(entry);
    if (count < 0) {
        sync_event_t ev;
        FUZZ_CHECK(sync_event_decode(&ev, FUZZ_BUCKET, entry) == -1);
    } else {
        FUZZ_CHECK(count >= 1);
        sync_event_t *evs = malloc((size_t)count * sizeof(*evs));
        if (evs == NULL)
            abort();
        FUZZ_CHECK(sync_event_decode(evs, FUZZ_BUCKET, entry) == count);
        for (long i = 0; i != count; ++i)
            check_event(&evs[i], &evs[0], count, i);
        free(evs);
    }
    freeReplyObject(entry);
    return 0;
}
