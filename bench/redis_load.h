/*
 * The Redis ceiling: the same redemptions as the `redeem` workload (same
 * pool tickets), sent straight to Redis on one connection (on a Redis
 * Cluster, one per master, each bucket's calls on its master's) with
 * `pipeline` calls kept in flight on each. What the gateway could reach if
 * HTTP cost nothing.
 *
 * batch 1: one FCALL ig_redeem per redemption (KEYS and ARGV as the gateway
 * built them before coalescing). batch N > 1: FCALL ig_redeem_many with N
 * redemptions of one bucket per call, as gateway/routes_redeem.c coalesces
 * them under load; a redemption's latency then counts from when its ticket
 * was queued for its bucket.
 */
#ifndef BENCH_REDIS_LOAD_H
#define BENCH_REDIS_LOAD_H

#include <hiredis/hiredis.h>
#include "ig_email.h"
#include "pool.h"
#include "redis_route.h"
#include "result.h"

#define BENCH_REDIS_BATCH_MAX 64

typedef struct bench_redis_load_opts_t {
    unsigned pipeline;              /**< calls in flight */
    unsigned batch;                 /**< redemptions per call (1..BENCH_REDIS_BATCH_MAX) */
    double duration_s;              /**< how long calls are started */
    bench_pool_t *pool;             /**< borrowed: tickets */
    const unsigned char *email_key; /**< IG_EMAIL_KEY_BYTES: the gateway's e-mail hashing key */
    const char *client_addr;        /**< ARGV[5], as the gateway would see the client */
} bench_redis_load_opts_t;

/** Runs the load on route's connections and counts it into r (new). Returns 0, or -1 (printed) when a connection failed. */
int bench_redis_load_run(bench_result_t *r, const sync_route_t *route, const bench_redis_load_opts_t *o);

#endif
