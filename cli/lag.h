/*
 * How far PostgreSQL is behind Redis: each bucket's stream ig_key_events(B)
 * against its high-water mark in sync_progress (ARCHITECTURE.md, "Exactly
 * once into PostgreSQL"). Entries after the mark are not applied yet; the
 * oldest of them gives the lag's age by the millisecond part of its id,
 * measured against Redis's clock (TIME), which wrote that id.
 */
#ifndef CLI_LAG_H
#define CLI_LAG_H

#include <stdint.h>
#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include "ig_keys.h"
#include "redis_route.h"

/** Entries counted past a mark per bucket; beyond, the count is a lower bound. */
#define CLI_LAG_COUNT_CAP 10000
#define CLI_LAG_ERR_BYTES 256

typedef struct cli_lag_t {
    unsigned buckets;                           /**< the install's bucket count: the streams measured */
    uint64_t mark[IG_BUCKETS_MAX][2];           /**< sync_progress (ms, seq); 0-0 when no row */
    uint64_t tip[IG_BUCKETS_MAX][2];            /**< last stream entry (ms, seq); 0-0 for an empty stream */
    unsigned long long pending[IG_BUCKETS_MAX]; /**< entries after the mark (at most CLI_LAG_COUNT_CAP) */
    int capped;                                 /**< some bucket had more than CLI_LAG_COUNT_CAP */
    unsigned long long backlog;                 /**< sum of pending */
    unsigned behind;                            /**< buckets with an entry after the mark */
    uint64_t oldest_ms;                         /**< ms part of the oldest entry not applied; 0 when none */
    uint64_t now_ms;                            /**< Redis's clock */
} cli_lag_t;

/** Measures the lag of every bucket's stream, each on its connection of route. Returns 0, or -1 with the reason in err. */
__attribute__((warn_unused_result)) int cli_lag_measure(cli_lag_t *out, const sync_route_t *route, PGconn *pg,
                                                        char err[CLI_LAG_ERR_BYTES]);

/** Whether every bucket's mark has reached the tip recorded in then. */
int cli_lag_reached(const cli_lag_t *now, const cli_lag_t *then);

/**
 * Waits up to timeout_ms for PostgreSQL to apply every entry the streams
 * held when it was called. Returns 1 when it did, 0 when it did not in
 * time (out then holds the last measure), -1 on an error (err).
 */
__attribute__((warn_unused_result)) int cli_lag_wait(cli_lag_t *out, const sync_route_t *route, PGconn *pg, unsigned timeout_ms,
                                                     char err[CLI_LAG_ERR_BYTES]);

struct cli_ctx_t;

/**
 * cli_lag_wait for a command that must not read PostgreSQL before it caught
 * up: up to wait_s seconds; when it did not, or on an error, prints why
 * (what the lag spoils, why) and returns -1. Returns 0 when caught up.
 */
int cli_lag_settle(const struct cli_ctx_t *ctx, const sync_route_t *route, PGconn *pg, unsigned wait_s, const char *why);

#endif
