/*
 * The invariants the harness checks after every run, and what they read:
 *
 *  - Redis: the sum of use_count over the pool's codes (FCALL ig_status on
 *    each, pipelined; the product's own read, with the rate limit off), and
 *    the codes whose use_count exceeds max_uses. The harness's count of
 *    successful redemptions must equal the change of that sum.
 *  - The sync daemon has caught up when every bucket's high-water mark in
 *    PostgreSQL (sync_progress) has reached the last entry of the bucket's
 *    stream: the mark moves in the transaction that applies the entries, so
 *    PostgreSQL then holds everything.
 *  - PostgreSQL: redemptions of the pool's codes must change by exactly the
 *    same count, and the waitlist table by exactly the people the waitlist
 *    gained in Redis.
 */
#ifndef BENCH_CHECK_H
#define BENCH_CHECK_H

#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include "pool.h"
#include "redis_route.h"

/** ig_status calls in flight while reading the pool. */
#define BENCH_CHECK_WINDOW 1024

/** Redis's view of the pool. */
typedef struct bench_redis_uses_t {
    long long uses;      /**< sum of use_count */
    long long over_max;  /**< codes with use_count > max_uses (or a max_uses other than issued) */
    long long missing;   /**< codes Redis does not know */
    long long *per_code; /**< optional (caller-owned, num_codes entries): use_count of each code, -1 when missing */
} bench_redis_uses_t;

/** Reads the pool's use counts from Redis into out. Returns 0 or -1 (printed). */
int bench_check_redis_uses(const sync_route_t *r, const bench_pool_t *pool, bench_redis_uses_t *out);

/**
 * Waits until PostgreSQL's high-water marks have reached the last entry of
 * every stream, polling every 2 ms, for at most timeout_s. Sets
 * *caught_up_ns to the time it saw that (bench_now_ns()). Returns 0, or -1
 * on timeout or error (printed).
 */
int bench_check_sync_wait(const sync_route_t *r, PGconn *pg, double timeout_s, uint64_t *caught_up_ns);

/** Connects to PostgreSQL. Returns the connection (caller PQfinish-es it) or NULL (printed). */
PGconn *bench_pg_connect(const char *url);

/** Counts the redemptions of the pool's codes in PostgreSQL. Returns 0 or -1 (printed). */
int bench_check_pg_redemptions(PGconn *pg, const bench_pool_t *pool, long long *count);

/** Counts the rows of the waitlist table (one per person who joined). Returns 0 or -1 (printed). */
int bench_check_pg_waitlist(PGconn *pg, long long *count);

/** Counts the pool's codes the invites table holds. Returns 0 or -1 (printed). */
int bench_check_pg_invites(PGconn *pg, const bench_pool_t *pool, long long *count);

/** What the final verification found in PostgreSQL against Redis. */
typedef struct bench_verify_t {
    long long codes;          /**< pool codes */
    long long pg_missing;     /**< pool codes not in invites */
    long long pg_over_max;    /**< codes with more redemption rows than max_uses */
    long long pg_count_drift; /**< codes whose invites.use_count differs from their redemption rows */
    long long redis_mismatch; /**< codes whose Redis use_count differs from PostgreSQL's redemption rows */
    long long redis_uses;     /**< sum over Redis */
    long long pg_redemptions; /**< redemption rows of pool codes */
} bench_verify_t;

/** Compares every pool code between Redis and PostgreSQL. Returns 0 when it could compare (even with mismatches), -1 otherwise. */
int bench_check_verify(const sync_route_t *r, PGconn *pg, const bench_pool_t *pool, bench_verify_t *out);

#endif
