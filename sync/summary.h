/*
 * The once-a-second "batches committed" log line (and the rate the systemd
 * STATUS shows), summed over every lane of the daemon. Lanes add their committed batches
 * from their own threads; the main thread writes the line.
 */
#ifndef SYNC_SUMMARY_H
#define SYNC_SUMMARY_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include "apply.h"

/** Committed work since the last line; every field under lock. */
typedef struct sync_summary_t {
    pthread_mutex_t lock;             /**< guards everything below */
    uint64_t last_flush_ms;           /**< end of the previous window (0 = none yet) */
    uint64_t since_ms;                /**< start of this window: its first batch's start, or the previous window's end */
    size_t batches;                   /**< batches committed */
    size_t events;                    /**< events in them */
    size_t redeemed;                  /**< redemptions among them */
    size_t product;                   /**< waitlist, referral and points events among them */
    size_t max_batch;                 /**< largest batch */
    double txn_ms_sum;                /**< sum of transaction times */
    double txn_ms_max;                /**< longest transaction */
    unsigned long long total_batches; /**< batches committed since start */
    double rate;                      /**< events per second of the last window logged */
    uint64_t rate_ms;                 /**< when it was logged */
} sync_summary_t;

/** Starts s empty. */
void sync_summary_init(sync_summary_t *s);

/** Frees what s holds. */
void sync_summary_dispose(sync_summary_t *s);

/** Counts a committed batch of events, whose application started at started_ms (sync_now_ms). Any thread. */
void sync_summary_add(sync_summary_t *s, const sync_apply_stats_t *stats, uint64_t started_ms);

/**
 * Logs the summary line once the window is a second old (or now, with
 * force), then starts a new window. Main thread.
 */
void sync_summary_flush(sync_summary_t *s, int force);

/** Batches committed since start. Any thread. */
unsigned long long sync_summary_total(sync_summary_t *s);

/** Events per second of the last line logged, or 0 when no batch was committed for two windows. Any thread. */
double sync_summary_rate(sync_summary_t *s);

#endif
