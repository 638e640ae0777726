/*
 * One lane of the sync daemon: a thread with its own Redis connection, its
 * own PostgreSQL connection and a fixed range of buckets, whose streams only
 * it reads (under the daemon's consumer name), applies, acknowledges, claims
 * from dead consumers and trims.
 *
 * Lanes never touch the same stream, and the transactions of one lane lock
 * only its own buckets (apply.c), so they run side by side without waiting
 * for each other: two lanes keep two PostgreSQL backends busy.
 *
 * Within a lane the stages overlap: while PostgreSQL applies batch k (a
 * fast-path transaction goes out as one pipeline), the lane acknowledges
 * batch k-1, which committed, and reads and decodes batch k+1 from Redis.
 * Order is unchanged where it matters: nothing is acknowledged before its
 * COMMIT, and a batch is sent to PostgreSQL only after the one before it
 * committed.
 *
 * The lane that reads ig:{0}:events also keeps the points records in Redis
 * (points.h): after each COMMIT it writes back the users the batch touched,
 * and between batches it runs the points refresh and the referral expiry.
 */
#ifndef SYNC_LANE_H
#define SYNC_LANE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <libpq-fe.h>
#include "ig_config.h"
#include "apply.h"
#include "batch.h"
#include "points.h"
#include "product.h"
#include "runtime.h"
#include "stream.h"
#include "summary.h"

/** Batches a lane holds: one read from Redis, one in PostgreSQL, one committed and not yet acknowledged. */
#define SYNC_LANE_BATCHES 3

typedef struct sync_lane_t {
    const ig_config_t *cfg;                  /**< borrowed */
    sync_summary_t *summary;                 /**< borrowed; shared by every lane */
    unsigned id;                             /**< for logs */
    sync_stream_t stream;                    /**< Redis connection and read positions of this lane's streams */
    PGconn *pg;                              /**< owned; NULL while disconnected */
    sync_apply_t apply;                      /**< buffers for the PostgreSQL statements */
    int owns_waitlist;                       /**< serves IG_WL_BUCKET: runs the points write-back and jobs */
    sync_points_t points;                    /**< points write-back and referral expiry (owns_waitlist only) */
    sync_batch_t batches[SYNC_LANE_BATCHES]; /**< the storage the three roles below point into */
    sync_batch_t *fetched;                   /**< read from Redis, not yet sent to PostgreSQL */
    sync_batch_t *inflight;                  /**< sent to PostgreSQL (sync_apply_start), not yet finished */
    sync_batch_t *done;                      /**< committed, not yet acknowledged */
    uint64_t inflight_start_ms;              /**< when inflight was started, for the summary */
    uint64_t seq;                            /**< batches started by this lane, for logs */
    sync_backoff_t redis_backoff;            /**< reconnect delay for Redis */
    sync_backoff_t pg_backoff;               /**< reconnect / retry delay for PostgreSQL */
    int claiming;                            /**< an XAUTOCLAIM pass is under way */
    uint64_t next_claim_ms;                  /**< when the next claim pass starts */
    uint64_t next_trim_ms;                   /**< when the streams are next trimmed */
    _Atomic uint64_t beat_ms;                /**< heartbeat: the lane's loop or sleeps ran at this time */
    _Atomic int ready;                       /**< both stores were reached once */
    pthread_t thread;                        /**< set by whoever starts the lane */
} sync_lane_t;

/**
 * Prepares l to serve the streams of buckets first .. first + count - 1 with
 * cfg, keys and summary (all borrowed; they must outlive l). Does not connect.
 */
void sync_lane_init(sync_lane_t *l, const ig_config_t *cfg, const sync_keys_t *keys, sync_summary_t *summary, unsigned id,
                    unsigned first, unsigned count);

/**
 * The lane's loop, for pthread_create (arg is the lane). Runs until a stop is
 * requested, then finishes the batch in PostgreSQL and acknowledges what
 * committed; what was read and not committed stays pending in Redis. Closes
 * both connections before returning.
 */
void *sync_lane_main(void *arg);

/** Frees what l holds (after its thread ended). */
void sync_lane_dispose(sync_lane_t *l);

#endif
