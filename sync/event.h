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

#include <stdint.h>
#include <hiredis/hiredis.h>

/** A stream entry id as text: two 20-digit numbers, a dash and the NUL, with room to spare. */
#define SYNC_ENTRY_ID_BYTES 48
/** Event id for PostgreSQL: "B-" then the entry id, then "/ITEM" for an item of the items form. */
#define SYNC_EVENT_ID_BYTES (SYNC_ENTRY_ID_BYTES + 8)

typedef enum {
    SYNC_EVENT_MALFORMED, /**< recorded as processed and acknowledged, nothing else */
    SYNC_EVENT_ISSUED,
    SYNC_EVENT_REDEEMED,
    SYNC_EVENT_REVOKED,
    /* The waitlist, referral and points events of stream IG_KEY_WL_EVENTS (product.c applies them). */
    SYNC_EVENT_JOINED,    /**< a waitlist entry, maybe referred */
    SYNC_EVENT_ADMITTED,  /**< an entry left the waitlist with a bound code */
    SYNC_EVENT_SHARED,    /**< a referral shared by e-mail */
    SYNC_EVENT_CLICKED,   /**< a referral link was followed */
    SYNC_EVENT_EARNED,    /**< a tranche of reward codes */
    SYNC_EVENT_LIFECYCLE, /**< activated, paid, churned or fraud_flagged, from the host application */
    SYNC_EVENT_SPENT,     /**< points spent (already deducted in Redis) */
    SYNC_EVENT_ERASED,    /**< erase a user's e-mail everywhere */
} sync_event_type_t;

/** Whether type is one of the waitlist, referral and points events (applied one by one, in order). */
static inline int sync_event_is_product(sync_event_type_t type)
{
    return type >= SYNC_EVENT_JOINED;
}

/** Lifecycle kinds, in the order of their names in the stream. */
typedef enum {
    SYNC_LIFECYCLE_ACTIVATED,
    SYNC_LIFECYCLE_PAID,
    SYNC_LIFECYCLE_CHURNED,
    SYNC_LIFECYCLE_FRAUD_FLAGGED,
} sync_lifecycle_kind_t;

/**
 * One decoded entry. Text fields borrow the strings of the redisReply that
 * holds the entry (the batch owns it); they are NULL for SQL NULL (an
 * optional field absent or empty) and NUL-terminated otherwise.
 */
typedef struct sync_event_t {
    unsigned bucket;                    /**< stream ig_key_events(bucket) */
    uint64_t entry[2];                  /**< the stream entry id (milliseconds, sequence) the event came in */
    unsigned item;                      /**< its place among the entry's items (items form), else 0 */
    char event_id[SYNC_EVENT_ID_BYTES]; /**< "B-<entry id>", or "B-<entry id>/<item>" for an item of the items form */
    sync_event_type_t type;             /**< from field t */
    const char *reason;                 /**< static text: why the entry is MALFORMED */
    const char *code;                   /**< 16-character body (issued, redeemed, revoked, admitted); NULL otherwise */
    const char *batch;                  /**< issued: batch id */
    const char *cohort;                 /**< issued: cohort label or NULL */
    const char *issued_to;              /**< issued: bound e-mail or NULL */
    const char *created_by;             /**< issued: token name or NULL */
    const char *email;                  /**< redeemed, joined, admitted, earned, lifecycle, spent: normalised e-mail */
    const char *ip;                     /**< redeemed, joined: client address or NULL */
    const char *persona;                /**< joined */
    const char *use_case;               /**< joined: "" when none */
    const char *ref;                    /**< joined: referrer's referral code or NULL; clicked: the code followed */
    const char *ref_email;              /**< joined: referrer's e-mail (with ref) or NULL */
    const char *share_id;               /**< shared: UUID of the share */
    const char *inviter;                /**< shared: normalised e-mail of who shared */
    const char *recipient;              /**< shared: normalised e-mail shared with */
    const char *codes;                  /**< earned: code bodies separated by single spaces */
    const char *kind;                   /**< lifecycle: its kind's name; spent: the ledger type */
    const char *note;                   /**< spent: free text or NULL */
    const char *uid;                    /**< erased: user id (UUID) */
    sync_lifecycle_kind_t lifecycle;    /**< lifecycle: kind */
    long long score;                    /**< joined: base priority, 0..INT_MAX */
    long long seq;                      /**< joined: join sequence */
    long long tranche;                  /**< earned: 1..INT_MAX */
    long long
        amount; /**< lifecycle: cents, -1 when none; spent: points deducted, 1..INT_MAX (ADMIN_GRANT: nonzero, negative = given) */
    long long max_uses;   /**< issued: 1..INT_MAX */
    long long expires_s;  /**< issued: Unix seconds */
    long long use_number; /**< redeemed: use_count after this use, 1..INT_MAX */
    long long at_ms;      /**< every type: Unix milliseconds */
} sync_event_t;

/**
 * Events entry holds, an [id, [field, value, ...]] element of an XREAD
 * reply: the items of an entry in the items form (field d), else 1 (one
 * event, or one MALFORMED event for an entry that is unusable as a whole).
 * Returns -1 when the entry has no usable id ("ms-seq"), a protocol error.
 */
long sync_event_count(const redisReply *entry);

/**
 * Decodes entry, from bucket's stream, into evs[0 .. sync_event_count(entry)),
 * in the order of its items. A bad payload (unknown type, missing or
 * invalid field, entry deleted from the stream) still decodes, as a
 * MALFORMED event with its reason set; in the items form only the bad item
 * is MALFORMED. Returns the number of events written, or -1 when the entry
 * has no usable id. The events borrow from entry, which must outlive them.
 */
long sync_event_decode(sync_event_t *evs, unsigned bucket, const redisReply *entry);

/** Writes ev's stream entry id ("ms-seq") into out and returns out. */
const char *sync_event_entry_id(char out[SYNC_ENTRY_ID_BYTES], const sync_event_t *ev);

/** The stream name of type ("issued", "joined", ...), or "malformed". */
const char *sync_event_type_name(sync_event_type_t type);

/**
 * Number of characters in s (len bytes) when it is valid UTF-8 without NUL
 * (what PostgreSQL accepts in a UTF8 database), otherwise -1.
 */
long sync_utf8_chars(const char *s, size_t len);

#endif
