/*
 * One lane of the sync daemon: a thread with its own Redis connection, its
 * own PostgreSQL connection and a fixed range of buckets. It takes the
 * leases of those buckets it can (progress.h), reads their streams from
 * their high-water marks, gathers what arrives into batches (a time window
 * under a live load, a full batch through a backlog) and applies each in
 * one transaction that also moves the marks.
 *
 * Lanes never touch the same stream, and their transactions write rows of
 * their own buckets (one code lives in one bucket), so they run side by side
 * without waiting for each other: two lanes keep two PostgreSQL backends
 * busy.
 *
 * The lane that holds the lease of IG_WL_BUCKET also keeps the points
 * records in Redis (points.h): after each COMMIT it writes back the users
 * the batch touched, and between batches it runs the points refresh and the
 * referral expiry.
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
#include "progress.h"
#include "runtime.h"
#include "stream.h"
#include "summary.h"

/** What a lane waits for (sync_metrics.waiting[lane]), for the systemd STATUS and the metrics. */
typedef enum sync_lane_wait_t {
    SYNC_LANE_WAIT_NONE,       /**< both stores answer */
    SYNC_LANE_WAIT_POSTGRESQL, /**< PostgreSQL does not accept the connection */
    SYNC_LANE_WAIT_REDIS,      /**< Redis does not accept the connection */
} sync_lane_wait_t;

typedef struct sync_lane_t {
    const ig_config_t *cfg;       /**< borrowed */
    const sync_keys_t *keys;      /**< borrowed: e-mail hashes and referral codes of the redeemers to register */
    sync_summary_t *summary;      /**< borrowed; shared by every lane */
    unsigned id;                  /**< for logs */
    sync_stream_t stream;         /**< Redis connection and read positions of the streams leased */
    PGconn *pg;                   /**< owned; NULL while disconnected; holds the leases */
    sync_progress_t progress;     /**< leases and high-water marks of the lane's buckets */
    sync_apply_t apply;           /**< buffers for the PostgreSQL statements */
    sync_points_t points;         /**< points write-back and referral expiry (with the lease of IG_WL_BUCKET) */
    sync_batch_t batch;           /**< the batch being read and applied */
    uint64_t seq;                 /**< batches applied by this lane, for logs */
    sync_backoff_t redis_backoff; /**< reconnect delay for Redis */
    sync_backoff_t pg_backoff;    /**< reconnect / retry delay for PostgreSQL */
    uint64_t next_trim_ms;        /**< when the streams are next trimmed */
    _Atomic uint64_t beat_ms;     /**< heartbeat: the lane's loop or sleeps ran at this time */
    _Atomic int ready;            /**< both stores were reached once */
    int redis_was_up;             /**< a Redis connection was made before (the next one is a reconnect) */
    int pg_was_up;                /**< a PostgreSQL connection was made before */
    pthread_t thread;             /**< set by whoever starts the lane */
} sync_lane_t;

/**
 * Prepares l to serve the streams of buckets first .. first + count - 1 with
 * cfg, keys and summary (all borrowed; they must outlive l). Does not connect.
 */
void sync_lane_init(sync_lane_t *l, const ig_config_t *cfg, const sync_keys_t *keys, sync_summary_t *summary, unsigned id,
                    unsigned first, unsigned count);

/**
 * The lane's loop, for pthread_create (arg is the lane). Runs until a stop is
 * requested; a batch read and not committed then stays in the streams, past
 * the marks, for whoever takes the leases next. Closes both connections
 * (which releases the leases) before returning.
 */
void *sync_lane_main(void *arg);

/** Frees what l holds (after its thread ended). */
void sync_lane_dispose(sync_lane_t *l);

#endif
