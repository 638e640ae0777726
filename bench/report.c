/*
 * `invitegate-bench report`: reads the JSON results of a suite and prints
 * the runs, the budget lines (figure, budget, pass/fail) and whether every
 * invariant held. Every throughput budget is a ratio between runs of the
 * same suite on the same machine, so the table means something on a noisy
 * machine. Exit status: 1 when an invariant broke or a result is unreadable;
 * 3 when a budget was missed and --strict was given; 0 otherwise.
 *
 * The run names are the contract with scripts/bench: A.* ran with Redis
 * without persistence, B.* with appendfsync always, W.* without persistence
 * and with the sync daemon stopped, on the waitlist at full size; M1.RUN
 * and MN.RUN (scripts/bench --cluster N) the same run against one Redis and
 * against a Redis Cluster of N masters, compared side by side.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/utsname.h>
#include "bench.h"
#include "cmd.h"
#include "cmd_common.h"
#include "cpu.h"
#include "result.h"

typedef struct budget_t {
    const char *figure;  /* what is compared */
    const char *run;     /* result holding the value */
    const char *path;    /* its field */
    const char *den_run; /* NULL: the value itself; else value / this run's den_path */
    const char *den_path;
    int at_most; /* value <= limit (else >=) */
    double limit;
    const char *unit;      /* of a plain value */
    const char *na;        /* not measurable yet: why */
    const char *na_budget; /* the budget, said in words, of a line not measurable yet */
} budget_t;

static const budget_t budgets[] = {
    {.figure = "redeem max throughput / HTTP ceiling (no persistence)",
     .run = "A.redeem_max",
     .path = "throughput",
     .den_run = "A.http_ceiling",
     .den_path = "throughput",
     .limit = 0.5},
    {.figure = "redeem max throughput / Redis ceiling (no persistence)",
     .run = "A.redeem_max",
     .path = "throughput",
     .den_run = "A.redis_ceiling",
     .den_path = "throughput",
     .limit = 0.75},
    {.figure = "redeem max throughput / HTTP ceiling (appendfsync always)",
     .run = "B.redeem_max",
     .path = "throughput",
     .den_run = "B.http_ceiling",
     .den_path = "throughput",
     .limit = 0.5},
    {.figure = "redeem max throughput / Redis ceiling (appendfsync always)",
     .run = "B.redeem_max",
     .path = "throughput",
     .den_run = "B.redis_ceiling",
     .den_path = "throughput",
     .limit = 0.75},
    {.figure = "redeem p99, open loop at half the max throughput",
     .run = "A.redeem_open",
     .path = "latency_ms.p99",
     .at_most = 1,
     .limit = 2.0,
     .unit = "ms"},
    {.figure = "sync catch-up after the max redeem run",
     .run = "A.redeem_max",
     .path = "invariants.catchup_s",
     .at_most = 1,
     .limit = 1.0,
     .unit = "s"},
    {.figure = "redeem max throughput with the sync daemon running / stopped (no persistence)",
     .run = "A.redeem_max",
     .path = "throughput",
     .den_run = "A.sync_backlog_load",
     .den_path = "throughput",
     .limit = 0.65},
    {.figure = "CPU per redemption: (sync + PostgreSQL) / (gateway + Redis), no persistence",
     .run = "A.redeem_max",
     .path = "cpu.persist_over_serve",
     .at_most = 1,
     .limit = 0.5,
     .unit = ""},
    {.figure = "CPU per redemption: (sync + PostgreSQL) / (gateway + Redis), appendfsync always",
     .run = "B.redeem_max",
     .path = "cpu.persist_over_serve",
     .at_most = 1,
     .limit = 0.5,
     .unit = ""},
    {.figure = "CPU per join: (sync + PostgreSQL) / (gateway + Redis), no persistence",
     .run = "A.join_max",
     .path = "cpu.persist_over_serve",
     .at_most = 1,
     .limit = 0.5,
     .unit = ""},
    {.figure = "CPU per join: (sync + PostgreSQL) / (gateway + Redis), appendfsync always",
     .run = "B.join_max",
     .path = "cpu.persist_over_serve",
     .at_most = 1,
     .limit = 0.5,
     .unit = ""},
    {.figure = "sync throughput into PostgreSQL / max redeem rate",
     .run = "A.sync_backlog",
     .path = "events_per_sec",
     .den_run = "A.redeem_max",
     .den_path = "throughput",
     .limit = 3.0},
    {.figure = "sync throughput into PostgreSQL / max join rate",
     .run = "A.join_backlog",
     .path = "events_per_sec",
     .den_run = "A.join_max",
     .den_path = "throughput",
     .limit = 2.0},
    {.figure = "Redis bytes per single-use code at 1M",
     .run = "memory",
     .path = "bytes_per_code",
     .at_most = 1,
     .limit = 100,
     .unit = "B"},
    {.figure = "Redis bytes per waitlist entry at 1M (a sorted set keyed by e-mail: about 126)",
     .run = "memory",
     .path = "bytes_per_waitlist_entry",
     .at_most = 1,
     .limit = 100,
     .unit = "B"},
    {.figure = "join throughput / redeem throughput",
     .run = "W.join_max",
     .path = "throughput",
     .den_run = "W.redeem_max",
     .den_path = "throughput",
     .limit = 0.5},
    {.figure = "position throughput / redeem throughput",
     .run = "W.position_max",
     .path = "throughput",
     .den_run = "W.redeem_max",
     .den_path = "throughput",
     .limit = 0.5},
};

typedef struct loaded_t {
    json_t **items;
    size_t n;
} loaded_t;

static const json_t *find(const loaded_t *l, const char *name)
{
    for (size_t i = 0; name != NULL && i != l->n; ++i) {
        const char *n = json_string_value(json_object_get(l->items[i], "name"));
        if (n != NULL && strcmp(n, name) == 0)
            return l->items[i];
    }
    return NULL;
}

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s != NULL ? s : "";
}

static void machine(json_t *root)
{
    char model[128] = "?", line[256], desc[640];
    struct utsname u;
    long mem_kb = 0;
    FILE *f = fopen("/proc/cpuinfo", "r");

    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && colon != NULL) {
            snprintf(model, sizeof(model), "%s", colon + 2);
            model[strcspn(model, "\n")] = '\0';
            break;
        }
    }
    if (f != NULL)
        fclose(f);
    if ((f = fopen("/proc/meminfo", "r")) != NULL) {
        if (fscanf(f, "MemTotal: %ld kB", &mem_kb) != 1)
            mem_kb = 0;
        fclose(f);
    }
    if (uname(&u) != 0)
        snprintf(u.release, sizeof(u.release), "?");
    double load[3] = {0, 0, 0};
    if (getloadavg(load, 3) != 3)
        load[0] = load[1] = load[2] = 0;
    snprintf(desc, sizeof(desc), "%s, %ld cores, %.0f GB RAM, Linux %s; load average at the end %.2f %.2f %.2f", model,
             sysconf(_SC_NPROCESSORS_ONLN), (double)mem_kb / 1048576.0, u.release, load[0], load[1], load[2]);
    printf("machine: %s\n", desc);
    json_object_set_new(root, "machine", json_string(desc));
}

static void print_runs(const loaded_t *l, json_t *root)
{
    json_t *runs = json_array();
    char a[32];

    printf("\n| run | via | workload | mode | conns | req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | invariants |\n"
           "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n");
    for (size_t i = 0; i != l->n; ++i) {
        const json_t *r = l->items[i];
        if (strcmp(str(r, "kind"), "load") != 0)
            continue;
        double catchup = bench_json_number(r, "invariants.catchup_s");
        char inv[96], mode[48];
        int ok = json_is_true(json_object_get(json_object_get(r, "invariants"), "ok"));
        if (strcmp(str(r, "mode"), "open") == 0)
            snprintf(mode, sizeof(mode), "open %s/s", bench_grouped(a, sizeof(a), bench_json_number(r, "target_rate")));
        else if (strcmp(str(r, "via"), "redis") == 0 && fmax(1, bench_json_number(r, "batch")) > 1)
            snprintf(mode, sizeof(mode), "closed, %.0f calls x %.0f in flight", bench_json_number(r, "pipeline"),
                     bench_json_number(r, "batch"));
        else if (strcmp(str(r, "via"), "redis") == 0)
            snprintf(mode, sizeof(mode), "closed, %.0f in flight", bench_json_number(r, "pipeline"));
        else
            snprintf(mode, sizeof(mode), "closed");
        if (catchup >= 0)
            snprintf(inv, sizeof(inv), "%s, sync +%.2f s", ok ? "OK" : "BROKEN", catchup);
        else
            snprintf(inv, sizeof(inv), "%s", ok ? "OK" : "BROKEN");
        printf("| %s | %s | %s | %s | %.0f | %s | %.3f | %.3f | %.3f | %.3f | %.3f | %s |\n", str(r, "name"), str(r, "via"),
               str(r, "workload"), mode, bench_json_number(r, "connections"),
               bench_grouped(a, sizeof(a), bench_json_number(r, "throughput")), bench_json_number(r, "latency_ms.p50"),
               bench_json_number(r, "latency_ms.p90"), bench_json_number(r, "latency_ms.p99"),
               bench_json_number(r, "latency_ms.p999"), bench_json_number(r, "latency_ms.max"), inv);
        json_array_append_new(runs, json_pack("{s:s,s:f,s:f,s:b}", "name", str(r, "name"), "throughput",
                                              bench_json_number(r, "throughput"), "p99_ms", bench_json_number(r, "latency_ms.p99"),
                                              "invariants_ok", ok));
    }
    json_object_set_new(root, "runs", runs);
    for (size_t i = 0; i != l->n; ++i) {
        const json_t *r = l->items[i];
        char b[32], c[32];
        if (strcmp(str(r, "kind"), "sync") == 0)
            printf("\n%s: backlog of %s %s applied in %.3f s = %s events/s; avg batch %.1f (max %.0f) from the daemon's "
                   "log\n",
                   str(r, "name"), bench_grouped(a, sizeof(a), bench_json_number(r, "events")),
                   bench_json_number(r, "joins") > 0 ? "events" : "redemptions", bench_json_number(r, "seconds"),
                   bench_grouped(b, sizeof(b), bench_json_number(r, "events_per_sec")), bench_json_number(r, "log.avg_batch"),
                   bench_json_number(r, "log.max_batch"));
        else if (strcmp(str(r, "kind"), "memory") == 0) {
            printf("\n%s: %s single-use codes: %.1f bytes per code in Redis (%.1f with their events still in the streams); hash "
                   "encoding %s\n",
                   str(r, "name"), bench_grouped(a, sizeof(a), bench_json_number(r, "codes")),
                   bench_json_number(r, "bytes_per_code"), bench_json_number(r, "bytes_per_code_with_events"),
                   str(r, "hash_encoding"));
            if (bench_json_number(r, "waitlist_entries") > 0)
                printf("\n%s: %s waitlist entries (ig_join, e-mails of %.1f bytes on average): %.1f bytes per entry in Redis "
                       "(%.1f with their events still in the stream); MEMORY USAGE per entry: sequence map %.1f, user records "
                       "%.1f, referral codes %.1f, class bitmaps %.1f, block counters %.1f\n",
                       str(r, "name"), bench_grouped(a, sizeof(a), bench_json_number(r, "waitlist_entries")),
                       bench_json_number(r, "waitlist_email_avg_bytes"), bench_json_number(r, "bytes_per_waitlist_entry"),
                       bench_json_number(r, "bytes_per_waitlist_entry_with_events"),
                       bench_json_number(r, "waitlist_sequence_bytes_per_entry"),
                       bench_json_number(r, "waitlist_user_bytes_per_entry"),
                       bench_json_number(r, "waitlist_referral_bytes_per_entry"),
                       bench_json_number(r, "waitlist_bitmap_bytes_per_entry"),
                       bench_json_number(r, "waitlist_counter_bytes_per_entry"));
        } else if (strcmp(str(r, "kind"), "verify") == 0)
            printf("\n%s: %s codes; Redis uses %s, PostgreSQL redemptions %s; every code compared: %s\n", str(r, "name"),
                   bench_grouped(a, sizeof(a), bench_json_number(r, "codes")),
                   bench_grouped(b, sizeof(b), bench_json_number(r, "redis_uses")),
                   bench_grouped(c, sizeof(c), bench_json_number(r, "pg_redemptions")),
                   json_is_true(json_object_get(r, "ok")) ? "OK" : "BROKEN");
    }
}

/* One row of the CPU table for a result that carries an account. */
static void print_cpu_row(const json_t *r)
{
    const json_t *cpu = json_object_get(r, "cpu");
    char a[32];

    if (!json_is_object(cpu))
        return;
    printf("| %s | %s |", str(r, "name"), bench_grouped(a, sizeof(a), bench_json_number(cpu, "ops")));
    for (int role = 0; role != BENCH_CPU_ROLES; ++role) {
        char path[64];
        snprintf(path, sizeof(path), "us_per_op.%s", bench_cpu_role_name((bench_cpu_role_t)role));
        double v = bench_json_number(cpu, path);
        if (isnan(v))
            printf(" - |");
        else
            printf(" %.1f |", v);
    }
    double ratio = bench_json_number(cpu, "persist_over_serve"), aof = bench_json_number(r, "aof_bytes_per_op");
    if (isnan(ratio))
        printf(" - |");
    else
        printf(" %.2f |", ratio);
    if (isnan(aof))
        printf(" - |\n");
    else
        printf(" %.0f |\n", aof);
}

/*
 * The CPU account of every run that has one: microseconds of each process
 * per successful operation, from just before the load to the end of the
 * sync daemon's catch-up.
 */
static void print_cpu(const loaded_t *l)
{
    int any = 0;

    for (size_t i = 0; i != l->n; ++i)
        any |= json_is_object(json_object_get(l->items[i], "cpu"));
    if (!any)
        return;
    printf("\nCPU per successful operation (us; load and catch-up; sync runs: per event applied), and what Redis appended to "
           "its append-only file per operation:\n\n"
           "| run | operations | gateway | Redis | sync | PostgreSQL | (sync + PostgreSQL) / (gateway + Redis) | AOF bytes |\n"
           "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (size_t i = 0; i != l->n; ++i)
        print_cpu_row(l->items[i]);
}

/* N of a result named "M<N>.<run>" (and *run set to <run>), or 0. */
static unsigned masters_of(const json_t *r, const char **run)
{
    const char *name = str(r, "name");
    char *end;
    unsigned long n;

    if (name[0] != 'M' || name[1] < '1' || name[1] > '9')
        return 0;
    n = strtoul(name + 1, &end, 10);
    if (*end != '.' || n > 1000)
        return 0;
    *run = end + 1;
    return (unsigned)n;
}

/* Result "M<n>.<run>", or NULL. */
static const json_t *find_masters(const loaded_t *l, unsigned n, const char *run)
{
    char name[128];
    snprintf(name, sizeof(name), "M%u.%s", n, run);
    return find(l, name);
}

/* One row of the 1-vs-N table: throughput, CPU per operation and share of a core per process. */
static json_t *print_masters_row(const json_t *r, unsigned n, const json_t *one)
{
    const json_t *cpu = json_object_get(r, "cpu");
    double thr = bench_json_number(r, "throughput"), base = bench_json_number(one, "throughput"), all = 0;
    json_t *row = json_pack("{s:s,s:i,s:f}", "name", str(r, "name"), "masters", (int)n, "throughput", thr);
    char a[32], path[64];

    printf("| %s | %u | %s | %.2f |", str(r, "name"), n, bench_grouped(a, sizeof(a), thr), thr / base);
    json_object_set_new(row, "throughput_over_1", json_real(thr / base));
    for (int role = 0; role != BENCH_CPU_ROLES; ++role) {
        snprintf(path, sizeof(path), "us_per_op.%s", bench_cpu_role_name((bench_cpu_role_t)role));
        double v = bench_json_number(cpu, path), v1 = bench_json_number(json_object_get(one, "cpu"), path);
        all += isnan(v) ? 0 : v;
        if (isnan(v))
            printf(" - |");
        else if (v1 > 0)
            printf(" %.1f (%.2f) |", v, v / v1);
        else
            printf(" %.1f |", v);
    }
    printf(" %.1f |", all);
    for (int role = 0; role != BENCH_CPU_ROLES; ++role) {
        snprintf(path, sizeof(path), "cores.%s", bench_cpu_role_name((bench_cpu_role_t)role));
        double v = bench_json_number(cpu, path);
        printf(isnan(v) ? " - |" : " %.2f |", v);
    }
    printf("\n");
    json_object_set_new(row, "cpu", json_deep_copy(cpu != NULL ? cpu : json_null()));
    return row;
}

/*
 * scripts/bench --cluster N: each run against one Redis (M1.RUN) and against
 * N masters (MN.RUN) in the same invocation, with the ratios, and the CPU of
 * each Redis process (shard) per operation.
 */
static void print_masters(const loaded_t *l, json_t *root)
{
    json_t *rows = json_array();
    const char *run;
    int any = 0;

    for (size_t i = 0; i != l->n; ++i) {
        unsigned n = strcmp(str(l->items[i], "kind"), "load") == 0 ? masters_of(l->items[i], &run) : 0;
        const json_t *one = n > 1 ? find_masters(l, 1, run) : NULL;
        if (one == NULL)
            continue;
        if (!any)
            printf("\n1 Redis against a Redis Cluster of N masters, same machine, same invocation: throughput, CPU per successful "
                   "operation in us (in brackets: over the 1-master run), the share of a core each process used (CPU time / wall "
                   "time from the load's start to the end of the sync daemon's catch-up):\n\n"
                   "| run | masters | req/s | x 1 master | gateway | Redis (all masters) | sync | PostgreSQL | all | cores: "
                   "gateway | Redis | sync | PostgreSQL |\n"
                   "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
        any = 1;
        json_array_append_new(rows, print_masters_row(one, 1, one));
        json_array_append_new(rows, print_masters_row(l->items[i], n, one));
    }
    if (!any) {
        json_decref(rows);
        return;
    }
    printf("\nCPU per shard (each Redis process), per successful operation of the run:\n\n"
           "| run | shard | us per op | share of a core | share of Redis's CPU |\n| --- | --- | ---: | ---: | ---: |\n");
    for (size_t i = 0; i != l->n; ++i) {
        const json_t *cpu = json_object_get(l->items[i], "cpu"), *shards = json_object_get(cpu, "shards"), *sh;
        double redis = bench_json_number(cpu, "us.redis");
        size_t k;
        if (strcmp(str(l->items[i], "kind"), "load") != 0 || masters_of(l->items[i], &run) == 0)
            continue;
        json_array_foreach(shards, k, sh)
        {
            printf("| %s | %s | %.1f | %.2f | %.2f |\n", str(l->items[i], "name"), str(sh, "name"),
                   bench_json_number(sh, "us_per_op"), bench_json_number(sh, "cores"),
                   redis > 0 ? bench_json_number(sh, "us") / redis : NAN);
        }
    }
    json_object_set_new(root, "masters", rows);
}

/* Context for a budget line: connections and duration of the run it reads. */
static void context_of(char *out, size_t cap, const json_t *r)
{
    const char *kind = str(r, "kind");
    char a[32], b[32];
    if (strcmp(kind, "load") == 0)
        snprintf(out, cap, "%s: %.0f conns, %.0f s%s", str(r, "name"), bench_json_number(r, "connections"),
                 bench_json_number(r, "duration_s"), strcmp(str(r, "mode"), "open") == 0 ? ", open loop" : "");
    else if (strcmp(kind, "sync") == 0)
        snprintf(out, cap, "%s: backlog %s, avg batch %.0f", str(r, "name"),
                 bench_grouped(a, sizeof(a), bench_json_number(r, "events")), bench_json_number(r, "log.avg_batch"));
    else if (strcmp(kind, "memory") == 0)
        snprintf(out, cap, "%s: %s codes, %s waitlist entries", str(r, "name"),
                 bench_grouped(a, sizeof(a), bench_json_number(r, "codes")),
                 bench_grouped(b, sizeof(b), fmax(0, bench_json_number(r, "waitlist_entries"))));
    else
        snprintf(out, cap, "%s", str(r, "name"));
}

/* Prints the budget lines; returns how many were missed. */
static int print_budgets(const loaded_t *l, json_t *root)
{
    json_t *lines = json_array();
    int missed = 0, any = 0;

    /* A suite without any run a budget reads (scripts/bench --cluster) has no budget table. */
    for (size_t i = 0; i != sizeof(budgets) / sizeof(budgets[0]); ++i)
        any |= find(l, budgets[i].run) != NULL;
    if (!any) {
        json_object_set_new(root, "budgets", lines);
        return 0;
    }
    printf("\n| figure | value | budget | result | measured on |\n| --- | --- | --- | --- | --- |\n");
    for (size_t i = 0; i != sizeof(budgets) / sizeof(budgets[0]); ++i) {
        const budget_t *b = &budgets[i];
        const json_t *num = find(l, b->run), *den = find(l, b->den_run);
        char value[96] = "", limit[32], ctx[128] = "", a[32], c[32];
        const char *result;
        double v = NAN;

        snprintf(limit, sizeof(limit), "%s %g%s%s", b->at_most ? "<=" : ">=", b->limit, b->unit ? " " : "", b->unit ? b->unit : "");
        if (b->na != NULL) {
            result = "n/a";
            snprintf(limit, sizeof(limit), "%s", b->na_budget);
            snprintf(value, sizeof(value), "%s", b->na);
        } else if (num == NULL || (b->den_run != NULL && den == NULL)) {
            result = "missing";
            snprintf(value, sizeof(value), "no result %s", num == NULL ? b->run : b->den_run);
        } else {
            double x = bench_json_number(num, b->path);
            if (b->den_run != NULL) {
                double y = bench_json_number(den, b->den_path);
                v = y > 0 ? x / y : NAN;
                snprintf(value, sizeof(value), "%.2f (%s / %s /s)", v, bench_grouped(a, sizeof(a), x),
                         bench_grouped(c, sizeof(c), y));
            } else {
                v = x;
                snprintf(value, sizeof(value), "%.3g%s%s", v, b->unit[0] != '\0' ? " " : "", b->unit);
            }
            context_of(ctx, sizeof(ctx), num);
            if (isnan(v) || v < 0)
                result = "missing";
            else
                result = (b->at_most ? v <= b->limit : v >= b->limit) ? "pass" : "FAIL";
            missed += strcmp(result, "FAIL") == 0;
        }
        printf("| %s | %s | %s | %s | %s |\n", b->figure, value, limit, result, ctx);
        json_array_append_new(lines,
                              json_pack("{s:s,s:o,s:s,s:s,s:s}", "figure", b->figure, "value",
                                        isnan(v) ? json_null() : json_real(v), "budget", limit, "result", result, "context", ctx));
    }
    json_object_set_new(root, "budgets", lines);
    return missed;
}

/* Whether every result that carries invariants says they held. */
static int invariants_held(const loaded_t *l)
{
    int held = 1;
    for (size_t i = 0; i != l->n; ++i) {
        const json_t *r = l->items[i], *inv = json_object_get(r, "invariants");
        const json_t *ok = inv != NULL ? json_object_get(inv, "ok") : json_object_get(r, "ok");
        if (ok != NULL && !json_is_true(ok)) {
            const json_t *why = inv != NULL ? json_object_get(inv, "failures") : json_object_get(r, "failures");
            printf("INVARIANT BROKEN in %s: %s\n", str(r, "name"), why != NULL ? json_string_value(why) : "see its output");
            held = 0;
        }
    }
    return held;
}

int bench_cmd_report(const bench_opts_t *o)
{
    loaded_t l = {0};
    json_t *root = json_object();
    time_t now = time(NULL);
    char date[32];
    int ret = 0, missed, held;

    if (o->num_files == 0) {
        bench_error("report: give the JSON results of a suite");
        json_decref(root);
        return 2;
    }
    if ((l.items = calloc((size_t)o->num_files, sizeof(*l.items))) == NULL) {
        json_decref(root);
        return 1;
    }
    for (int i = 0; i != o->num_files; ++i) {
        if ((l.items[l.n] = bench_json_load(o->files[i])) == NULL) {
            ret = 1;
            continue;
        }
        ++l.n;
    }
    strftime(date, sizeof(date), "%Y-%m-%d %H:%M UTC", gmtime(&now));
    printf("invitegate bench report, %s%s\n", date, o->smoke ? " (smoke run: figures are not meaningful)" : "");
    json_object_set_new(root, "date", json_string(date));
    json_object_set_new(root, "smoke", json_boolean(o->smoke));
    machine(root);
    print_runs(&l, root);
    print_cpu(&l);
    print_masters(&l, root);
    missed = print_budgets(&l, root);
    held = invariants_held(&l);
    printf("\ninvariants: %s; budgets missed: %d%s\n", held ? "all held" : "BROKEN (see above)", missed,
           o->strict ? " (--strict)" : "");
    json_object_set_new(root, "invariants_ok", json_boolean(held));
    json_object_set_new(root, "budgets_missed", json_integer(missed));
    if (o->json != NULL && bench_json_write(root, o->json) != 0)
        ret = 1;
    if (!held)
        ret = 1;
    else if (ret == 0 && missed != 0 && o->strict)
        ret = 3;
    for (size_t i = 0; i != l.n; ++i)
        json_decref(l.items[i]);
    free(l.items);
    json_decref(root);
    return ret;
}
