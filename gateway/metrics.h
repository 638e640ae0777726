/*
 * Prometheus metrics. Each thread owns one gw_metrics_t and is its only
 * writer (relaxed atomics, no locks on the request path); /metrics sums the
 * threads' counters when scraped.
 */
#ifndef GW_METRICS_H
#define GW_METRICS_H

#include <stdatomic.h>
#include <stdint.h>
#include <stddef.h>
#include "route_list.h"
#include "conn_limit.h"

/** Route ids (route_list.h), plus OTHER for requests no route matched. */
typedef enum {
#define GW_ROUTE_ID(id, label, method, pattern, handler, idem) GW_ROUTE_##id,
    GW_ROUTE_LIST(GW_ROUTE_ID)
#undef GW_ROUTE_ID
        GW_ROUTE_OTHER,
    GW_ROUTE_COUNT
} gw_route_id_t;

#define GW_METRICS_STATUS_COUNT 18

/** Why a call to a Redis Cluster was sent again (redis_cluster.c): none of these had run. */
typedef enum {
    GW_CLUSTER_RETRY_MOVED,       /**< the slot has a new master */
    GW_CLUSTER_RETRY_ASK,         /**< the slot is being moved; sent once to the importing node */
    GW_CLUSTER_RETRY_TRYAGAIN,    /**< the call's keys are split by a move in progress */
    GW_CLUSTER_RETRY_CLUSTERDOWN, /**< the cluster is between states (a master failed, not yet replaced) */
    GW_CLUSTER_RETRY_NO_MASTER,   /**< the slot's master was not connected (or had not loaded the library) */
    GW_CLUSTER_RETRY_REASONS
} gw_cluster_retry_t;
#define GW_METRICS_LATENCY_BUCKETS 14

typedef struct gw_histogram_t {
    atomic_uint_fast64_t buckets[GW_METRICS_LATENCY_BUCKETS]; /**< cumulative on output, per-bucket here */
    atomic_uint_fast64_t count;
    atomic_uint_fast64_t sum_ns;
} gw_histogram_t;

typedef struct gw_metrics_t {
    atomic_uint_fast64_t requests[GW_ROUTE_COUNT][GW_METRICS_STATUS_COUNT]; /**< by route and status */
    gw_histogram_t latency[GW_ROUTE_COUNT];                                 /**< request duration by route */
    gw_histogram_t redis_rtt;                                               /**< Redis round trips */
    atomic_uint_fast64_t redis_errors;                                      /**< timeouts and lost connections */
    atomic_uint_fast64_t conn_refused[GW_CONN_VERDICTS];                    /**< connections closed unread, by verdict */
    atomic_uint_fast64_t accept_pauses;                                     /**< episodes of accept failing for resources */
    atomic_uint_fast64_t cluster_retries[GW_CLUSTER_RETRY_REASONS];         /**< calls to a cluster sent again, by reason */
} gw_metrics_t;

/** Records one answered request. */
void gw_metrics_request(gw_metrics_t *m, gw_route_id_t route, int status, uint64_t duration_ns);

/** Records one Redis round trip; failed = timed out or connection lost. */
void gw_metrics_redis(gw_metrics_t *m, uint64_t rtt_ns, int failed);

/** Records one call to a Redis Cluster held back or sent again, for reason. */
void gw_metrics_cluster_retry(gw_metrics_t *m, gw_cluster_retry_t reason);

/** Records one connection closed unread because of the limits (verdict != GW_CONN_ADMITTED). */
void gw_metrics_conn_refused(gw_metrics_t *m, gw_conn_verdict_t verdict);

/** Records the start of an episode in which a listener cannot accept (out of descriptors or memory). */
void gw_metrics_accept_paused(gw_metrics_t *m);

/** Gauges sampled when /metrics is scraped. */
typedef struct gw_metrics_gauges_t {
    int redis_ready;         /**< the answering thread's Redis connection is up */
    unsigned threads;        /**< event loops */
    size_t connections_open; /**< client connections open in the process */
} gw_metrics_gauges_t;

/**
 * Writes the Prometheus text exposition of the sum of n metrics objects
 * (plus the given gauges) into a malloc'ed buffer; the caller frees it.
 */
char *gw_metrics_render(size_t *len, gw_metrics_t *const *all, size_t n, const gw_metrics_gauges_t *gauges);

#endif
