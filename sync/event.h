/*
 * Decoding and validation of one stream entry (ARCHITECTURE.md, "Event
 * streams"). Validation is what keeps the pipeline from wedging: every value
 * that reaches PostgreSQL has already been checked to fit its column (valid
 * UTF-8 without NUL, length within the VARCHAR, integers and times within
 * range), so a bad entry is recorded as MALFORMED and skipped here instead of
 * failing the transaction of a whole batch over and over.
 */
#ifndef SYNC_EVENT_H
#define SYNC_EVENT_H

#include <hiredis/hiredis.h>

/** Longest stream entry id: two 20-digit numbers, a dash and the NUL. */
#define SYNC_ENTRY_ID_BYTES 48
/** Event id for PostgreSQL: "B-" then the entry id. */
#define SYNC_EVENT_ID_BYTES (SYNC_ENTRY_ID_BYTES + 8)

typedef enum {
    SYNC_EVENT_MALFORMED, /**< recorded as processed and acknowledged, nothing else */
    SYNC_EVENT_ISSUED,
    SYNC_EVENT_REDEEMED,
    SYNC_EVENT_REVOKED,
} sync_event_type_t;

/**
 * One decoded entry. Text fields borrow the strings of the redisReply that
 * holds the entry (the batch owns it); they are NULL for SQL NULL (an
 * optional field absent or empty) and NUL-terminated otherwise.
 */
typedef struct sync_event_t {
    unsigned bucket;                    /**< stream ig:{bucket}:events */
    char event_id[SYNC_EVENT_ID_BYTES]; /**< "B-<entry id>", the key in processed_events */
    unsigned char entry_offset;         /**< where the stream entry id starts in event_id */
    sync_event_type_t type;             /**< from field t */
    const char *reason;                 /**< static text: why the entry is MALFORMED */
    const char *code;                   /**< 16-character body (every type); NULL when missing or invalid */
    const char *batch;                  /**< issued: batch id */
    const char *cohort;                 /**< issued: cohort label or NULL */
    const char *issued_to;              /**< issued: bound e-mail or NULL */
    const char *created_by;             /**< issued: token name or NULL */
    const char *email;                  /**< redeemed: normalised e-mail */
    const char *ip;                     /**< redeemed: client address or NULL */
    long long max_uses;                 /**< issued: 1..INT_MAX */
    long long expires_s;                /**< issued: Unix seconds */
    long long use_number;               /**< redeemed: use_count after this use, 1..INT_MAX */
    long long at_ms;                    /**< every type: Unix milliseconds */
} sync_event_t;

/**
 * Decodes entry, an [id, [field, value, ...]] element of an XREADGROUP or
 * XAUTOCLAIM reply from bucket's stream, into ev. A bad payload (unknown
 * type, missing or invalid field, entry deleted from the stream) still
 * returns 0 with ev->type MALFORMED and ev->reason set. Returns -1 only when
 * the entry has no usable id, which is a protocol error. ev borrows from
 * entry, which must outlive it.
 */
int sync_event_decode(sync_event_t *ev, unsigned bucket, const redisReply *entry);

/** The stream entry id of ev (inside ev->event_id, so it moves with ev). */
static inline const char *sync_event_entry_id(const sync_event_t *ev)
{
    return ev->event_id + ev->entry_offset;
}

/** "issued", "redeemed", "revoked" or "malformed". */
const char *sync_event_type_name(sync_event_type_t type);

/**
 * Number of characters in s (len bytes) when it is valid UTF-8 without NUL
 * (what PostgreSQL accepts in a UTF8 database), otherwise -1.
 */
long sync_utf8_chars(const char *s, size_t len);

#endif
