/*
 * `invitegate-bench seed`: a new code pool (and with --waitlist M, a
 * waitlist of M people), created in bulk in Redis, saved in the state
 * directory, and (unless --no-sync-wait) copied by the sync daemon into
 * PostgreSQL before the command returns, so that the first run does not
 * measure the seeding's backlog.
 */
#include <stdio.h>
#include <time.h>
#include <sodium.h>
#include "bench.h"
#include "check.h"
#include "cmd.h"
#include "cmd_common.h"
#include "rconn.h"
#include "seed.h"

#define SEED_EXPIRES_DAYS 30

int bench_cmd_seed(const bench_opts_t *o)
{
    ig_config_t cfg;
    bench_keys_t keys;
    bench_pool_t pool = {0};
    bench_waitlist_t wl = {0};
    bench_pool_mix_t mix = {.codes = o->codes, .multi_frac = o->multi_frac, .bound_frac = o->bound_frac, .multi_max = o->multi_max};
    sync_route_t redis = {0};
    PGconn *pg = NULL;
    size_t created = 0;
    uint64_t t0, t1 = bench_now_ns(), caught = 0;
    long long in_pg = 0;
    int ret = 1;

    if (o->state == NULL) {
        bench_error("seed: --state DIR is required");
        return 2;
    }
    if (bench_config_load(&cfg, &keys, o->config) != 0)
        return 1;
    if (bench_redis_open(&redis, &cfg) != 0)
        goto Exit;
    if (o->codes == 0) {
        /* --codes 0: the pool of the state directory stays; only the waitlist is seeded. */
        if (bench_pool_load(&pool, o->state) != 0)
            goto Exit;
    } else {
        if (bench_pool_generate(&pool, &mix, keys.code) != 0)
            goto Exit;
        t0 = bench_now_ns();
        if (bench_seed_codes(&redis, &pool, keys.email, (long long)time(NULL) + SEED_EXPIRES_DAYS * 86400LL, &created) != 0)
            goto Exit;
        t1 = bench_now_ns();
        if (created != pool.num_codes) {
            bench_error("seed: Redis created %zu of %zu codes (codes already there are left alone)", created, pool.num_codes);
            goto Exit;
        }
        if (bench_pool_save(&pool, o->state) != 0)
            goto Exit;
        size_t bound = 0;
        for (size_t i = 0; i != pool.num_codes; ++i)
            bound += pool.codes[i].kind == BENCH_CODE_BOUND;
        printf("seeded %zu codes (%zu multi-use with max_uses %u, %zu bound to an e-mail, the rest single-use) in %.2f s "
               "(%.0f codes/s); capacity %llu redemptions; pool tag %s\n",
               pool.num_codes, pool.num_multi, pool.multi_max, bound, (double)(t1 - t0) / BENCH_NS_PER_SEC,
               (double)pool.num_codes * BENCH_NS_PER_SEC / (double)(t1 - t0), (unsigned long long)bench_pool_capacity(&pool),
               pool.tag);
    }
    if (o->waitlist != 0) {
        size_t joined = 0, existing = 0;
        if (bench_waitlist_generate(&wl, o->waitlist) != 0)
            goto Exit;
        bench_say("seeding a waitlist of %zu", wl.num);
        t0 = bench_now_ns();
        if (bench_seed_waitlist(&redis, &wl, keys.email, &keys.user, &joined, &existing) != 0)
            goto Exit;
        t1 = bench_now_ns();
        if (bench_waitlist_save(&wl, o->state) != 0)
            goto Exit;
        printf("seeded a waitlist of %zu (FCALL ig_join: %zu new, %zu already there) in %.2f s (%.0f joins/s)\n", wl.num, joined,
               existing, (double)(t1 - t0) / BENCH_NS_PER_SEC, (double)wl.num * BENCH_NS_PER_SEC / (double)(t1 - t0));
        fflush(stdout);
    }
    if (o->no_sync_wait) {
        ret = 0;
        goto Exit;
    }
    /* The high-water marks say when the daemon has caught up: PostgreSQL is asked even with --no-pg. */
    if ((pg = bench_pg_connect(cfg.database_url)) == NULL || bench_check_sync_wait(&redis, pg, o->timeout, &caught) != 0)
        goto Exit;
    printf("sync daemon copied the seeding's events in %.2f s after it ended\n", (double)(caught - t1) / BENCH_NS_PER_SEC);
    if (o->no_pg) {
        ret = 0;
        goto Exit;
    }
    if (bench_check_pg_invites(pg, &pool, &in_pg) != 0)
        goto Exit;
    if (in_pg != (long long)pool.num_codes) {
        bench_error("seed: PostgreSQL holds %lld of the %zu codes after the sync daemon caught up", in_pg, pool.num_codes);
        goto Exit;
    }
    ret = 0;
Exit:
    if (pg != NULL)
        PQfinish(pg);
    sync_route_close(&redis);
    bench_pool_dispose(&pool);
    bench_waitlist_dispose(&wl);
    sodium_memzero(&keys, sizeof(keys));
    ig_config_wipe(&cfg);
    return ret;
}
