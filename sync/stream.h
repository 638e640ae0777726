/*
 * The Redis side of the sync daemon: one synchronous hiredis connection that
 * reads the per-bucket event streams ig:{B}:events through the consumer group
 * IG_STREAM_GROUP (ARCHITECTURE.md, "Event streams").
 *
 * Reading order after every (re)connect: this consumer's own pending entries
 * (ID 0, paged by the last id seen) until none are left, then new entries
 * (`>`) of all streams in one blocking XREADGROUP. Entries of consumers that
 * died are taken over with XAUTOCLAIM in passes the daemon starts on a timer.
 *
 * Every function that returns -1 leaves the reason in s->errstr, and the
 * connection should then be dropped and made again: whatever was read and not
 * acknowledged stays pending for this consumer and is read again.
 *
 * A sync_stream_t serves a range of buckets (first .. first + count - 1): the
 * daemon's lanes each read their own streams on their own connection, under
 * the same consumer name. Every call below touches only the streams of that
 * range.
 */
#ifndef SYNC_STREAM_H
#define SYNC_STREAM_H

#include <stddef.h>
#include <hiredis/hiredis.h>
#include "ig_config.h"
#include "ig_keys.h"
#include "batch.h"

#define SYNC_STREAM_ERR_BYTES 256

typedef struct sync_stream_t {
    const ig_config_t *cfg;                             /**< borrowed; outlives s */
    redisContext *redis;                                /**< owned; NULL while disconnected */
    unsigned first;                                     /**< first bucket served */
    unsigned count;                                     /**< buckets served, from first */
    char keys[IG_BUCKETS][IG_KEY_MAX_BYTES];            /**< "ig:{B}:events", for every bucket */
    int draining;                                       /**< own pending entries not yet all re-read */
    char pending_from[IG_BUCKETS][SYNC_ENTRY_ID_BYTES]; /**< next pending read per stream; "" = drained */
    char claim_from[IG_BUCKETS][SYNC_ENTRY_ID_BYTES];   /**< XAUTOCLAIM cursor per stream; "" = pass done */
    char errstr[SYNC_STREAM_ERR_BYTES];                 /**< last error */
} sync_stream_t;

/** Prepares s for cfg (which it borrows) and the streams of buckets first .. first + count - 1; does not connect. */
void sync_stream_init(sync_stream_t *s, const ig_config_t *cfg, unsigned first, unsigned count);

/**
 * Connects to Redis, creates the consumer group on every stream (`XGROUP
 * CREATE ... 0 MKSTREAM`; an existing group is kept) and restarts reading
 * from this consumer's pending entries. Returns 0 or -1.
 */
__attribute__((warn_unused_result)) int sync_stream_connect(sync_stream_t *s);

/** Closes the connection, if any. */
void sync_stream_disconnect(sync_stream_t *s);

/**
 * Reads the next entries into b: pending ones while s->draining (no
 * blocking), otherwise new ones, blocking up to sync_block_ms when block is
 * set. Sets b->source and b->first_delivery. An empty batch after a blocking
 * read means the streams were idle. Returns 0 or -1.
 */
__attribute__((warn_unused_result)) int sync_stream_read(sync_stream_t *s, sync_batch_t *b, int block);

/** Starts a claim pass over every stream from the beginning of its pending list. */
void sync_stream_claim_start(sync_stream_t *s);

/**
 * One XAUTOCLAIM round (min idle sync_claim_idle_ms, COUNT sync_batch_size)
 * on each stream whose pass is not done; the claimed entries are appended to
 * b. *more is set when some stream has more to scan. Returns 0 or -1.
 */
__attribute__((warn_unused_result)) int sync_stream_claim(sync_stream_t *s, sync_batch_t *b, int *more);

/**
 * Acknowledges every event of b (one pipelined XACK per stream). Call only
 * after the batch's COMMIT. *acked is set to the number Redis acknowledged.
 * Returns 0 or -1.
 */
__attribute__((warn_unused_result)) int sync_stream_ack(sync_stream_t *s, const sync_batch_t *b, long long *acked);

/**
 * Trims each stream (XTRIM MINID ~) below its oldest pending entry, or below
 * the group's last-delivered id when nothing is pending, so no entry that is
 * unacknowledged (or undelivered) is ever removed. *removed is set to the
 * number of entries removed. Returns 0 or -1.
 */
__attribute__((warn_unused_result)) int sync_stream_trim(sync_stream_t *s, long long *removed);

#endif
