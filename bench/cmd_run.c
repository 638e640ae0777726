/*
 * `invitegate-bench run`: one run and its invariants.
 *
 *   1. waits until the sync daemon has caught up (so PostgreSQL is still),
 *      then reads the pool's use counts in Redis and its redemptions in
 *      PostgreSQL;
 *   2. runs the load, over HTTP (loadgen.c) or straight into Redis
 *      (redis_load.c);
 *   3. times the sync daemon's catch-up from the last answer (unless
 *      --no-sync-wait: the backlog test restarts the daemon and times it
 *      with `catchup`), then reads both counts again;
 *   4. with --procs, the CPU each process spent from just before the load
 *      to the end of the catch-up, per successful operation (cpu.h).
 *
 * It fails (exit 1) when the Redis use counts did not grow by exactly the
 * redemptions answered 200 (within the uncertain ones: no answer, 503),
 * when a code is over max_uses, when PostgreSQL did not grow by exactly
 * as much as Redis, when the waitlist did not grow by exactly the joins
 * answered 201 (within the uncertain ones) or PostgreSQL's waitlist table
 * by exactly as much, or when the position of a seeded entry was answered
 * 404.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "bench.h"
#include "check.h"
#include "cmd.h"
#include "cmd_common.h"
#include "ig_keys.h"
#include "loadgen.h"
#include "rconn.h"
#include "redis_load.h"
#include "svg.h"
#include "waitlist.h"

/* How long a run waits for the sync daemon before measuring. */
#define PRE_SYNC_TIMEOUT_S 120

static int resolve_rate(double *rate, const bench_opts_t *o)
{
    json_t *root;
    double thr;

    *rate = o->rate;
    if (o->rate_from == NULL)
        return 0;
    if ((root = bench_json_load(o->rate_from)) == NULL)
        return -1;
    thr = bench_json_number(root, "throughput");
    json_decref(root);
    if (!(thr > 0)) {
        bench_error("--rate-from %s: no throughput in it", o->rate_from);
        return -1;
    }
    *rate = thr * o->rate_factor;
    return 0;
}

/* People who joined the waitlist so far (its `joined` counter, IG_KEY_WL_COUNTERS). Returns 0 or -1 (printed). */
static int waitlist_size(const sync_route_t *redis, long long *out)
{
    redisContext *c = sync_route_bucket(redis, IG_WL_BUCKET);
    char key[IG_KEY_MAX_BYTES];
    snprintf(key, sizeof(key), "%s", IG_KEY_WL_COUNTERS);
    const char *argv[] = {"HGET", key, "joined"};
    redisReply *reply = bench_redis_argv(c, "HGET", 3, argv, NULL);
    int ret = reply != NULL && (reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_NIL) ? 0 : -1;
    if (ret == 0)
        *out = reply->type == REDIS_REPLY_STRING ? strtoll(reply->str, NULL, 10) : 0;
    else if (reply != NULL)
        bench_error("redis HGET %s joined: unexpected reply", key);
    if (reply != NULL)
        freeReplyObject(reply);
    return ret;
}

/* The append-only files' size and rewrites so far, summed over the masters, or -1 in size when AOF is off on one. */
static void aof_state(const sync_route_t *redis, long long *size, long long *rewrites)
{
    *size = *rewrites = 0;
    for (size_t i = 0; i != redis->num_nodes; ++i) {
        long long enabled = 0, n = 0, bytes = 0;
        if (bench_redis_info_int(redis->nodes[i], "persistence", "aof_enabled", &enabled) != 0 || enabled != 1 ||
            bench_redis_info_int(redis->nodes[i], "persistence", "aof_rewrites", &n) != 0 ||
            bench_redis_info_int(redis->nodes[i], "persistence", "aof_current_size", &bytes) != 0) {
            *size = *rewrites = -1;
            return;
        }
        *size += bytes;
        *rewrites += n;
    }
}

/* Compares the counts before and after; records what broke in r. */
static void judge(bench_result_t *r)
{
    bench_invariants_t *inv = &r->inv;
    long long delta = inv->redis_after - inv->redis_before, ok = (long long)r->successes, unsure = (long long)r->uncertain;

    if (inv->redis_checked) {
        if (delta < ok || delta > ok + unsure)
            bench_result_fail(r,
                              "Redis recorded %lld new uses but the harness counted %lld successful redemptions (%lld uncertain)",
                              delta, ok, unsure);
        if (inv->over_max != 0)
            bench_result_fail(r, "%lld codes are over their max_uses in Redis", inv->over_max);
        if (inv->missing != 0)
            bench_result_fail(r, "%lld pool codes are missing from Redis", inv->missing);
    }
    if (inv->pg_checked && inv->pg_after - inv->pg_before != delta)
        bench_result_fail(r, "PostgreSQL gained %lld redemptions of pool codes, Redis %lld", inv->pg_after - inv->pg_before, delta);
    long long joined = inv->wl_after - inv->wl_before, fresh = (long long)r->joins_new, unsure_j = (long long)r->joins_uncertain;
    if (inv->wl_checked && (joined < fresh || joined > fresh + unsure_j))
        bench_result_fail(r, "the waitlist gained %lld entries but the harness counted %lld joins answered 201 (%lld uncertain)",
                          joined, fresh, unsure_j);
    if (inv->pg_wl_checked && inv->wl_checked && inv->pg_wl_after - inv->pg_wl_before != joined)
        bench_result_fail(r, "PostgreSQL's waitlist gained %lld rows, Redis's %lld entries", inv->pg_wl_after - inv->pg_wl_before,
                          joined);
    if (r->positions_not_found != 0)
        bench_result_fail(r, "%llu positions of seeded entries were answered 404", (unsigned long long)r->positions_not_found);
}

int bench_cmd_run(const bench_opts_t *o)
{
    ig_config_t cfg;
    bench_keys_t keys;
    bench_pool_t pool = {0};
    bench_waitlist_t wl = {0};
    bench_mix_t mix = {0};
    bench_redis_uses_t uses = {0};
    bench_cpu_sample_t cpu_before, cpu_after;
    long long aof_before, aof_after, rewrites_before, rewrites_after;
    bench_result_t *r = NULL;
    sync_route_t redis = {0}, load_redis = {0};
    PGconn *pg = NULL;
    unsigned port = 0;
    uint64_t caught = 0;
    double rate = 0;
    int via_redis = strcmp(o->via, "redis") == 0, ret = 1, loaded = -1;

    if (o->state == NULL || (!via_redis && strcmp(o->via, "http") != 0) || (!via_redis && o->workload == NULL)) {
        bench_error("run: needs --state DIR, --via http|redis and, over http, --workload");
        return 2;
    }
    if (via_redis && o->workload != NULL && strcmp(o->workload, "redeem") != 0) {
        bench_error("run --via redis: only the redeem workload (the Redis ceiling)");
        return 2;
    }
    if (bench_config_load(&cfg, &keys, o->config) != 0)
        return 1;
    if (bench_pool_load(&pool, o->state) != 0 || resolve_rate(&rate, o) != 0 ||
        (!via_redis && (bench_mix_resolve(&mix, o->workload) != 0 || bench_parse_url(&port, o->url) != 0)))
        goto Exit;
    if (!via_redis && (bench_mix_has(&mix, BENCH_OP_JOIN) || bench_mix_has(&mix, BENCH_OP_POSITION))) {
        if (bench_waitlist_load(&wl, o->state) != 0)
            goto Exit;
        if (bench_mix_has(&mix, BENCH_OP_POSITION) && wl.num == 0) {
            bench_error("run --workload %s: position asks for seeded entries; seed with --waitlist M first", o->workload);
            goto Exit;
        }
    }
    if ((r = bench_result_new(o->name != NULL ? o->name : via_redis ? "redis_ceiling" : o->workload, o->duration)) == NULL) {
        bench_error("out of memory");
        goto Exit;
    }
    if (bench_redis_open(&redis, &cfg) != 0 || (!o->no_pg && (pg = bench_pg_connect(cfg.database_url)) == NULL))
        goto Exit;
    /* Every master of a cluster runs with the same persistence (scripts/bench): the first one's. */
    bench_redis_persistence(redis.nodes[0], r->persistence);
    r->gateway_threads = cfg.threads;

    /* 1. Still state, then the counts before. */
    if (pg != NULL && bench_check_sync_wait(&redis, pg, PRE_SYNC_TIMEOUT_S, &caught) != 0)
        goto Exit;
    if (bench_check_redis_uses(&redis, &pool, &uses) != 0 ||
        (pg != NULL && bench_check_pg_redemptions(pg, &pool, &r->inv.pg_before) != 0))
        goto Exit;
    r->inv.redis_before = uses.uses;
    if (bench_mix_has(&mix, BENCH_OP_JOIN) &&
        (waitlist_size(&redis, &r->inv.wl_before) != 0 || (pg != NULL && bench_check_pg_waitlist(pg, &r->inv.pg_wl_before) != 0)))
        goto Exit;
    if (o->procs != NULL && bench_cpu_read(&cpu_before, o->procs) != 0)
        goto Exit;
    aof_state(&redis, &aof_before, &rewrites_before);

    /* 2. The load. */
    bench_say("%s: %s over %s for %.1f s%s", r->name, via_redis ? "redeem" : o->workload, o->via, o->duration,
              rate > 0 ? " (open loop)" : "");
    if (via_redis) {
        bench_redis_load_opts_t lo = {.pipeline = o->pipeline,
                                      .batch = o->batch,
                                      .duration_s = o->duration,
                                      .pool = &pool,
                                      .email_key = keys.email,
                                      .client_addr = "127.0.0.1"};
        if (bench_redis_open(&load_redis, &cfg) == 0)
            loaded = bench_redis_load_run(r, &load_redis, &lo);
    } else {
        bench_req_ctx_t ctx = {.pool = &pool, .wl = &wl, .user_keys = &keys.user, .code_prefix = cfg.code_prefix};
        bench_rng_seed(&ctx.rng, o->seed);
        bench_load_opts_t lo = {.port = port,
                                .connections = o->connections,
                                .duration_s = o->duration,
                                .rate = rate,
                                .drain_s = o->drain,
                                .mix = &mix,
                                .ctx = &ctx};
        loaded = bench_load_run(r, &lo);
    }
    if (bench_pool_save_cursor(&pool) != 0 || bench_waitlist_save_cursor(&wl) != 0 || loaded != 0)
        bench_result_fail(r, "the load could not be carried out");

    /* 3. Catch-up, then the counts after. */
    if (pg != NULL && !o->no_sync_wait) {
        if (bench_check_sync_wait(&redis, pg, o->timeout, &caught) != 0) {
            bench_result_fail(r, "the sync daemon did not catch up within %.0f s", o->timeout);
        } else {
            r->inv.catchup_s = caught > r->end_ns ? (double)(caught - r->end_ns) / BENCH_NS_PER_SEC : 0.0;
            if (bench_check_pg_redemptions(pg, &pool, &r->inv.pg_after) == 0)
                r->inv.pg_checked = 1;
            if (bench_mix_has(&mix, BENCH_OP_JOIN) && bench_check_pg_waitlist(pg, &r->inv.pg_wl_after) == 0)
                r->inv.pg_wl_checked = 1;
        }
    }
    /* After the catch-up: what the load cost every process, persisting included. */
    if (o->procs != NULL && bench_cpu_read(&cpu_after, o->procs) == 0)
        bench_cpu_account(&r->cpu, &cpu_before, &cpu_after, bench_result_ok_ops(r));
    /* What Redis wrote to its append-only file per operation (a rewrite in between makes the sizes incomparable). */
    aof_state(&redis, &aof_after, &rewrites_after);
    if (aof_before >= 0 && aof_after >= aof_before && rewrites_after == rewrites_before && bench_result_ok_ops(r) > 0)
        r->aof_bytes_per_op = (double)(aof_after - aof_before) / bench_result_ok_ops(r);
    if (bench_check_redis_uses(&redis, &pool, &uses) == 0) {
        r->inv.redis_checked = 1;
        r->inv.redis_after = uses.uses;
        r->inv.over_max = uses.over_max;
        r->inv.missing = uses.missing;
    } else {
        bench_result_fail(r, "could not read the use counts from Redis after the run");
    }
    if (bench_mix_has(&mix, BENCH_OP_JOIN)) {
        if (waitlist_size(&redis, &r->inv.wl_after) == 0)
            r->inv.wl_checked = 1;
        else
            bench_result_fail(r, "could not read the waitlist's size from Redis after the run");
    }
    judge(r);
    bench_result_print(r, stdout);
    fflush(stdout);
    if (o->json != NULL && bench_result_write_json(r, o->json) != 0)
        goto Exit;
    if (o->svg != NULL && bench_svg_write(r, o->svg) != 0)
        goto Exit;
    if (!r->inv.ok)
        bench_error("%s: INVARIANT BROKEN: %s", r->name, r->inv.failures);
    ret = r->inv.ok ? 0 : 1;
Exit:
    if (pg != NULL)
        PQfinish(pg);
    sync_route_close(&load_redis);
    sync_route_close(&redis);
    free(r);
    bench_pool_dispose(&pool);
    bench_waitlist_dispose(&wl);
    sodium_memzero(&keys, sizeof(keys));
    ig_config_wipe(&cfg);
    return ret;
}
