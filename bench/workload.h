/*
 * What the load generator sends: the operations, the workloads (weighted
 * mixes of operations) and the HTTP requests of each operation.
 *
 * Both tables are the place to extend: a new operation gets a line in the
 * operation table and its request in bench_http_request, and every workload
 * naming it runs it. An operation marked unavailable is skipped by the
 * mixes (which say so in their result), weighting the others up.
 */
#ifndef BENCH_WORKLOAD_H
#define BENCH_WORKLOAD_H

#include <stddef.h>
#include <stdio.h>
#include "bench.h"
#include "ig_user.h"
#include "pool.h"
#include "waitlist.h"

typedef enum {
    BENCH_OP_HEALTH,   /**< GET /health */
    BENCH_OP_REDEEM,   /**< POST /api/invites/redeem, one pool ticket */
    BENCH_OP_STATUS,   /**< GET /api/invites/{code}/status, a random pool code */
    BENCH_OP_JOIN,     /**< POST /api/waitlist/join, a new person (some with an entry's referral code) */
    BENCH_OP_POSITION, /**< GET /api/waitlist/{email}/position of a seeded entry */
    BENCH_OP_COUNT
} bench_op_t;

#define BENCH_MIX_NOTE_BYTES 160

/** A resolved workload: the available operations with cumulative weights. */
typedef struct bench_mix_t {
    const char *workload;                /**< static name */
    bench_op_t ops[BENCH_OP_COUNT];      /**< available operations of the mix */
    unsigned cumulative[BENCH_OP_COUNT]; /**< running sum of their weights */
    size_t num_ops;
    char skipped[BENCH_MIX_NOTE_BYTES]; /**< "join 15%, position 5% n/a: ..." or "" */
} bench_mix_t;

/** Name of an operation ("redeem"). */
const char *bench_op_name(bench_op_t op);

/** Operation named name, or -1. */
int bench_op_find(const char *name);

/**
 * Resolves workload name. Returns 0, or -1 (printed) when the name is
 * unknown or none of its operations is available yet.
 */
int bench_mix_resolve(bench_mix_t *mix, const char *name);

/** Whether the mix sends op. */
int bench_mix_has(const bench_mix_t *mix, bench_op_t op);

/** Draws the operation of the next request. */
bench_op_t bench_mix_pick(const bench_mix_t *mix, bench_rng_t *rng);

/** Lists the workloads (for --help). */
void bench_workloads_print(FILE *f);

/** What building a request needs. */
typedef struct bench_req_ctx_t {
    bench_pool_t *pool;              /**< borrowed: codes, and tickets for redeem */
    bench_waitlist_t *wl;            /**< borrowed: seeded entries for position and referrals, the join cursor */
    const ig_user_keys_t *user_keys; /**< borrowed: referral codes of seeded entries (join) */
    const char *code_prefix;         /**< from the configuration, e.g. "VOBEE-" */
    bench_rng_t rng;                 /**< random codes for status, entries for position and referrals */
    int past_capacity;               /**< set by each request built: a redeem ticket past the pool's capacity */
} bench_req_ctx_t;

/**
 * Writes the HTTP/1.1 keep-alive request of op into buf (cap bytes).
 * Returns its length, or -1 when op is not available, buf is too small, or
 * position is asked for with no seeded waitlist.
 */
int bench_http_request(char *buf, size_t cap, bench_op_t op, bench_req_ctx_t *ctx);

#endif
