/*
 * The Redis side of the sync daemon: one synchronous hiredis connection per
 * lane that reads the per-bucket event streams ig_key_events(B) (ARCHITECTURE.md,
 * "Event streams") with plain XREAD, from a position per stream.
 *
 * No consumer group: where each stream was applied up to is PostgreSQL's
 * high-water mark (progress.h), so a read has nothing to record in Redis (an
 * XREADGROUP would add every entry to a pending list, and the append-only
 * file would log that and the XACK after it). A lane reads the streams of
 * the buckets it holds the lease of, from their marks on; after a failed
 * batch it goes back to the marks and reads the entries again.
 *
 * Every function that returns -1 leaves the reason in s->errstr; the
 * connection should then be dropped and made again. Nothing is lost with
 * it: the entries stay in the streams until they are trimmed, below the
 * marks PostgreSQL holds.
 */
#ifndef SYNC_STREAM_H
#define SYNC_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <hiredis/hiredis.h>
#include "ig_config.h"
#include "ig_keys.h"
#include "batch.h"
#include "redis_route.h"

#define SYNC_STREAM_ERR_BYTES 256

typedef struct sync_stream_t {
    const ig_config_t *cfg;                      /**< borrowed; outlives s */
    sync_route_t route;                          /**< the connections (one, or one per cluster master); closed while disconnected */
    char keys[IG_BUCKETS_MAX][IG_KEY_MAX_BYTES]; /**< ig_key_events(B), for every bucket */
    int reading[IG_BUCKETS_MAX];                 /**< the stream is read (its lease is held) */
    uint64_t next[IG_BUCKETS_MAX][2];            /**< the entry id the next read follows */
    char errstr[SYNC_STREAM_ERR_BYTES];          /**< last error */
} sync_stream_t;

/** Prepares s for cfg (which it borrows), reading no stream yet; does not connect. */
void sync_stream_init(sync_stream_t *s, const ig_config_t *cfg);

/** The connection of bucket's stream (also that of its other keys), or NULL while disconnected. */
static inline redisContext *sync_stream_redis(const sync_stream_t *s, unsigned bucket)
{
    return sync_route_is_open(&s->route) ? sync_route_bucket(&s->route, bucket) : NULL;
}

/** Connects to Redis (on a cluster, to the master of each bucket). Returns 0 or -1. */
__attribute__((warn_unused_result)) int sync_stream_connect(sync_stream_t *s);

/** Closes the connection, if any. */
void sync_stream_disconnect(sync_stream_t *s);

/** Reads bucket's stream from the entry after `after` on (after the lease is taken, or to read again after a failed batch). */
void sync_stream_seek(sync_stream_t *s, unsigned bucket, const uint64_t after[2]);

/** Stops reading bucket's stream (its lease is lost). */
void sync_stream_stop(sync_stream_t *s, unsigned bucket);

/**
 * Fills b with the next entries of the streams being read: waits up to
 * sync_block_ms for the first, then window_ms for more (under a live load
 * each batch gathers what arrives in the window, so a transaction and its
 * COMMIT serve many events, and the streams are read a few times a window,
 * not once per entry), then reads what arrived until the streams are empty
 * or b holds max_events events (through a backlog, batches fill at once).
 * With nothing to read, returns an empty b. Each XREAD takes at most
 * sync_batch_size entries per stream. Returns 0 or -1.
 */
__attribute__((warn_unused_result)) int sync_stream_fill(sync_stream_t *s, sync_batch_t *b, unsigned window_ms, size_t max_events);

/**
 * Trims each stream being read (XTRIM MINID ~) below marks[bucket], the
 * high-water mark PostgreSQL holds: only entries applied are removed.
 * *removed is set to the number Redis removed. Returns 0 or -1.
 */
__attribute__((warn_unused_result)) int sync_stream_trim(sync_stream_t *s, const uint64_t marks[IG_BUCKETS_MAX][2],
                                                         long long *removed);

#endif
