/*
 * The sync daemon's Prometheus metrics: what the lanes and the trust gate
 * record as they work (relaxed atomics: several writers, no locks), and the
 * text exposition of it, rendered when scraped (metrics_http.h serves it).
 *
 * The stream gauges are read from Redis at scrape time, on the metrics
 * server's own connection: the length of each bucket's stream and the age of
 * its oldest entry past the high-water mark this daemon applied it to (the
 * lag an alert watches). Names, units and types follow Prometheus's
 * conventions (base units, counters ending in _total); README.md, "Running
 * in production", lists them with what to alert on.
 */
#ifndef SYNC_METRICS_H
#define SYNC_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <hiredis/hiredis.h>
#include "redis_route.h"
#include "ig_keys.h"
#include "apply.h"
#include "batch.h"
#include "gate.h"

/** Most bounds of a histogram (+Inf not counted). */
#define SYNC_METRICS_MAX_BOUNDS 13
/** Event types counted (sync_event_type_t values). */
#define SYNC_METRICS_EVENT_TYPES (SYNC_EVENT_ERASED + 1)
/** Lanes the daemon may run. */
#define SYNC_METRICS_MAX_LANES 8

/** The two stores, as the label store="redis" or "postgresql". */
typedef enum sync_store_t { SYNC_STORE_REDIS, SYNC_STORE_POSTGRESQL, SYNC_STORE_COUNT } sync_store_t;

typedef struct sync_histogram_t {
    _Atomic uint64_t buckets[SYNC_METRICS_MAX_BOUNDS + 1]; /**< per bucket (not cumulative); past the bounds: +Inf */
    _Atomic uint64_t count;
    _Atomic uint64_t sum; /**< in the histogram's unit of recording (events, or microseconds) */
} sync_histogram_t;

typedef struct sync_metrics_t {
    _Atomic int ready;                                   /**< the daemon told systemd READY=1 */
    _Atomic uint64_t events[SYNC_METRICS_EVENT_TYPES];   /**< events applied (committed), by type */
    _Atomic uint64_t batches;                            /**< batches committed */
    _Atomic uint64_t batch_failures;                     /**< batches not applied (read again) */
    sync_histogram_t batch_events;                       /**< events per committed batch */
    sync_histogram_t commit_us;                          /**< BEGIN to COMMIT acknowledged */
    _Atomic uint64_t reconnects[SYNC_STORE_COUNT];       /**< connections made again after one was lost */
    _Atomic uint64_t connect_failures[SYNC_STORE_COUNT]; /**< connection attempts that failed */
    _Atomic uint64_t errors[SYNC_STORE_COUNT];           /**< calls that failed on a connection that was up */
    _Atomic int waiting[SYNC_METRICS_MAX_LANES];         /**< per lane: sync_lane_wait_t */
    unsigned lanes;                                      /**< lanes started (set before they start) */
    unsigned buckets;                                    /**< the install's bucket count (set before the lanes start) */
    _Atomic int held[IG_BUCKETS_MAX];                    /**< this daemon holds the bucket's lease */
    _Atomic uint64_t mark_ms[IG_BUCKETS_MAX];            /**< the bucket's high-water mark: entry id, ms part */
    _Atomic uint64_t mark_seq[IG_BUCKETS_MAX];           /**< and its sequence part */
    _Atomic int gate_known;                              /**< an evaluation succeeded since start */
    _Atomic int gate_closed;                             /**< invites paused */
    _Atomic int gate_auto_closed;                        /**< what the metrics alone decide */
    _Atomic int gate_mode;                               /**< sync_gate_mode_t */
    _Atomic uint64_t gate_score_bits;                    /**< trust_score, as the bits of a double */
    _Atomic uint64_t gate_engagement_bits;               /**< engagement_rate */
    _Atomic uint64_t gate_churn_bits;                    /**< churn_rate */
    _Atomic uint64_t gate_fraud_bits;                    /**< fraud_rate */
    _Atomic uint64_t gate_evaluated_ms;                  /**< wall clock (Unix ms) of the last evaluation */
    _Atomic uint64_t gate_evaluations;                   /**< evaluations that succeeded */
    _Atomic uint64_t gate_failures;                      /**< evaluations that failed (the gateways keep the last decision) */
} sync_metrics_t;

/** The daemon's metrics; zero until its threads record. */
extern sync_metrics_t sync_metrics;

/** Records a committed batch b (its events by type, its size) and what applying it took. Any thread. */
void sync_metrics_batch(const sync_batch_t *b, const sync_apply_stats_t *stats);

/** Records bucket's mark and whether this daemon holds its lease. The lane that holds (or held) it. */
void sync_metrics_mark(unsigned bucket, int held, const uint64_t mark[2]);

/** Records a trust gate evaluation, at wall-clock time now_ms. The gate's thread. */
void sync_metrics_gate(const sync_gate_decision_t *d, uint64_t now_ms);

/**
 * Writes the text exposition into a malloc'ed NUL-terminated buffer (the
 * caller frees it; its length in *len). redis (borrowed; NULL = not
 * connected) gives the stream gauges; a failed call leaves them out and sets
 * *redis_failed so the caller reconnects. Returns NULL only out of memory.
 */
char *sync_metrics_render(size_t *len, sync_route_t *route, int *redis_failed);

#endif
