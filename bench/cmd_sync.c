/*
 * The sync daemon's side of the invariants:
 *
 * `invitegate-bench catchup` times a restarted sync daemon through the
 * backlog a `run --no-sync-wait` left while the daemon was stopped (its
 * throughput into PostgreSQL), reads its per-second "batches committed"
 * log lines for the batch sizes, and checks that PostgreSQL gained exactly
 * what Redis recorded during that run (redemptions, and joins when the run
 * had them). With --procs it also accounts the CPU of each process per
 * event applied.
 *
 * `invitegate-bench verify` compares every pool code between Redis and
 * PostgreSQL after the suite.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "bench.h"
#include "check.h"
#include "cmd.h"
#include "cmd_common.h"
#include "cpu.h"
#include "rconn.h"

/* How long to wait for the daemon's summary lines after it caught up (it writes one a second). */
#define LOG_WAIT_S 3.0

/* Sums of the "batches committed" lines of the sync daemon's log. */
typedef struct sync_log_t {
    long long lines, events, batches, max_batch;
    double peak_events_per_sec;
} sync_log_t;

static double field(const char *line, const char *key)
{
    const char *p = strstr(line, key);
    return p != NULL ? strtod(p + strlen(key), NULL) : 0.0;
}

/* Reads the summary lines written after offset. Returns 0, or -1 when the file cannot be read. */
static int read_sync_log(sync_log_t *out, const char *path, long offset)
{
    char line[1024];
    FILE *f = fopen(path, "r");

    memset(out, 0, sizeof(*out));
    if (f == NULL || fseek(f, offset, SEEK_SET) != 0) {
        if (f != NULL)
            fclose(f);
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strstr(line, "msg=\"batches committed\"") == NULL)
            continue;
        ++out->lines;
        out->events += (long long)field(line, " events=");
        out->batches += (long long)field(line, " batches=");
        out->max_batch = (long long)fmax((double)out->max_batch, field(line, " max_batch="));
        out->peak_events_per_sec = fmax(out->peak_events_per_sec, field(line, " events_per_sec="));
    }
    fclose(f);
    return 0;
}

int bench_cmd_catchup(const bench_opts_t *o)
{
    ig_config_t cfg;
    bench_pool_t pool = {0};
    sync_route_t redis = {0};
    PGconn *pg = NULL;
    json_t *run = NULL, *out = NULL;
    sync_log_t log = {0};
    uint64_t t0 = bench_now_ns(), caught = 0;
    long long pg_after = 0, wl_after = 0;
    bench_cpu_sample_t cpu_before, cpu_after;
    bench_cpu_account_t cpu = {0};
    char failures[512] = "";
    int ret = 1;

    if (o->after == NULL || o->state == NULL) {
        bench_error("catchup: needs --state DIR and --after RUN.json (a run made with --no-sync-wait)");
        return 2;
    }
    if (bench_config_load(&cfg, NULL, o->config) != 0)
        return 1;
    if ((run = bench_json_load(o->after)) == NULL || bench_pool_load(&pool, o->state) != 0 || bench_redis_open(&redis, &cfg) != 0 ||
        (pg = bench_pg_connect(cfg.database_url)) == NULL)
        goto Exit;
    double pg_before = bench_json_number(run, "invariants.pg_before"),
           redis_delta = bench_json_number(run, "invariants.redis_after") - bench_json_number(run, "invariants.redis_before");
    double wl_before = bench_json_number(run, "invariants.pg_wl_before"),
           wl_delta = bench_json_number(run, "invariants.wl_after") - bench_json_number(run, "invariants.wl_before");
    int joins = json_is_true(json_object_get(json_object_get(run, "invariants"), "wl_checked"));
    if (isnan(pg_before) || isnan(redis_delta) || (joins && (isnan(wl_before) || isnan(wl_delta)))) {
        bench_error("%s: no invariants.pg_before / redis counts (was it made by `run --no-sync-wait`?)", o->after);
        goto Exit;
    }
    if (!joins)
        wl_delta = 0;
    if (o->procs != NULL && bench_cpu_read(&cpu_before, o->procs) != 0)
        goto Exit;
    if (bench_check_sync_wait(&redis, pg, o->timeout, &caught) != 0)
        goto Exit;
    double secs = (double)(caught - t0) / BENCH_NS_PER_SEC, events = redis_delta + wl_delta;
    if (bench_check_pg_redemptions(pg, &pool, &pg_after) != 0 || (joins && bench_check_pg_waitlist(pg, &wl_after) != 0))
        goto Exit;
    if (o->procs != NULL && bench_cpu_read(&cpu_after, o->procs) == 0)
        bench_cpu_account(&cpu, &cpu_before, &cpu_after, events);
    if ((double)(pg_after - (long long)pg_before) != redis_delta)
        snprintf(failures, sizeof(failures), "PostgreSQL gained %lld redemptions of pool codes, Redis %.0f",
                 pg_after - (long long)pg_before, redis_delta);
    else if (joins && (double)(wl_after - (long long)wl_before) != wl_delta)
        snprintf(failures, sizeof(failures), "PostgreSQL's waitlist gained %lld rows, Redis's %.0f entries",
                 wl_after - (long long)wl_before, wl_delta);
    if (o->sync_log != NULL) {
        /* The daemon summarises once a second: wait for the lines that cover the backlog. */
        uint64_t deadline = bench_now_ns() + (uint64_t)(LOG_WAIT_S * BENCH_NS_PER_SEC);
        struct timespec pause = {.tv_sec = 0, .tv_nsec = 50 * 1000000L};
        while (read_sync_log(&log, o->sync_log, o->sync_log_offset) == 0 && (double)log.events < events &&
               bench_now_ns() < deadline)
            nanosleep(&pause, NULL);
    }
    double eps = secs > 0 ? events / secs : 0, avg_batch = log.batches ? (double)log.events / (double)log.batches : 0;
    printf("%s: the sync daemon applied a backlog of %.0f %s in %.3f s = %.0f events/s", o->name ? o->name : "catchup", events,
           joins ? "joins and redemptions" : "redemptions", secs, eps);
    if (log.lines != 0)
        printf(" (its log: %lld events in %lld batches, avg batch %.1f, max batch %lld, peak %.0f events/s)", log.events,
               log.batches, avg_batch, log.max_batch, log.peak_events_per_sec);
    printf("; %s%s\n", failures[0] ? "BROKEN: " : "PostgreSQL matches Redis: OK", failures);
    bench_cpu_print(stdout, "  cpu: ", &cpu);
    out = json_pack("{s:s,s:s,s:f,s:f,s:f,s:f,s:f,s:I,s:I,s:{s:I,s:I,s:I,s:f,s:I,s:f},s:b,s:s}", "kind", "sync", "name",
                    o->name ? o->name : "catchup", "events", events, "redemptions", redis_delta, "joins", wl_delta, "seconds", secs,
                    "events_per_sec", eps, "pg_before", (json_int_t)pg_before, "pg_after", (json_int_t)pg_after, "log", "lines",
                    (json_int_t)log.lines, "events", (json_int_t)log.events, "batches", (json_int_t)log.batches, "avg_batch",
                    avg_batch, "max_batch", (json_int_t)log.max_batch, "peak_events_per_sec", log.peak_events_per_sec, "ok",
                    failures[0] == '\0', "failures", failures);
    if (out != NULL)
        json_object_set_new(out, "cpu", bench_cpu_json(&cpu));
    if (o->json != NULL && (out == NULL || bench_json_write(out, o->json) != 0))
        goto Exit;
    if (failures[0] != '\0')
        bench_error("%s: INVARIANT BROKEN: %s", o->name ? o->name : "catchup", failures);
    ret = failures[0] == '\0' ? 0 : 1;
Exit:
    json_decref(out);
    json_decref(run);
    if (pg != NULL)
        PQfinish(pg);
    sync_route_close(&redis);
    bench_pool_dispose(&pool);
    ig_config_wipe(&cfg);
    return ret;
}

int bench_cmd_verify(const bench_opts_t *o)
{
    ig_config_t cfg;
    bench_pool_t pool = {0};
    bench_verify_t v;
    sync_route_t redis = {0};
    PGconn *pg = NULL;
    json_t *out = NULL;
    uint64_t caught;
    int ret = 1, ok;

    if (o->state == NULL) {
        bench_error("verify: needs --state DIR");
        return 2;
    }
    if (bench_config_load(&cfg, NULL, o->config) != 0)
        return 1;
    if (bench_pool_load(&pool, o->state) != 0 || bench_redis_open(&redis, &cfg) != 0 ||
        (pg = bench_pg_connect(cfg.database_url)) == NULL || bench_check_sync_wait(&redis, pg, o->timeout, &caught) != 0 ||
        bench_check_verify(&redis, pg, &pool, &v) != 0)
        goto Exit;
    ok = v.pg_missing == 0 && v.pg_over_max == 0 && v.pg_count_drift == 0 && v.redis_mismatch == 0 &&
         v.redis_uses == v.pg_redemptions;
    printf(
        "verify: %lld codes; Redis uses %lld, PostgreSQL redemptions %lld; codes missing in PostgreSQL %lld, over max_uses %lld, "
        "use_count drift %lld, Redis/PostgreSQL mismatches %lld: %s\n",
        v.codes, v.redis_uses, v.pg_redemptions, v.pg_missing, v.pg_over_max, v.pg_count_drift, v.redis_mismatch,
        ok ? "OK" : "BROKEN");
    out = json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:b}", "kind", "verify", "name", o->name ? o->name : "verify", "codes",
                    (json_int_t)v.codes, "redis_uses", (json_int_t)v.redis_uses, "pg_redemptions", (json_int_t)v.pg_redemptions,
                    "pg_missing", (json_int_t)v.pg_missing, "pg_over_max", (json_int_t)v.pg_over_max, "pg_count_drift",
                    (json_int_t)v.pg_count_drift, "redis_mismatch", (json_int_t)v.redis_mismatch, "ok", ok);
    if (o->json != NULL && (out == NULL || bench_json_write(out, o->json) != 0))
        goto Exit;
    if (!ok)
        bench_error("verify: INVARIANT BROKEN between Redis and PostgreSQL");
    ret = ok ? 0 : 1;
Exit:
    json_decref(out);
    if (pg != NULL)
        PQfinish(pg);
    sync_route_close(&redis);
    bench_pool_dispose(&pool);
    ig_config_wipe(&cfg);
    return ret;
}
