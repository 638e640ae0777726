/*
 * invitegate-bench: the load and invariant harness of invitegate. Parses the
 * command line and runs one subcommand (cmd.h); bench/README.md tells the
 * story, scripts/bench runs the standard suite on a fresh local system.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "bench.h"
#include "cmd.h"
#include "redis_load.h"
#include "workload.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: invitegate-bench COMMAND [OPTIONS]\n"
               "\n"
               "  seed    -c CONF --state DIR [--codes N] [--multi-frac F] [--multi-max M] [--bound-frac F] [--waitlist M]\n"
               "          issue a pool of codes in bulk (FCALL ig_issue), join M people to the waitlist (FCALL ig_join)\n"
               "          and wait for PostgreSQL to hold them; --codes 0 keeps the pool of DIR and seeds the waitlist only\n"
               "  run     -c CONF --state DIR --url http://127.0.0.1:PORT --workload W [--connections N] [--duration S]\n"
               "          [--rate R | --rate-from RUN.json --rate-factor F] [--via http|redis --pipeline N [--batch N]]\n"
               "          [--name NAME] [--json FILE] [--svg PREFIX] [--no-sync-wait] [--no-pg] [--seed N] [--procs FILE]\n"
               "          one run, then the invariants: Redis counts = the harness's, no code over max_uses,\n"
               "          PostgreSQL catches up to the same count (and how long that took); with --procs (lines\n"
               "          \"ROLE PID\", ROLE gateway|redis|sync|postgres; a cluster's masters redis1, redis2, ...) the CPU\n"
               "          of each process per operation\n"
               "  catchup -c CONF --state DIR --after RUN.json [--sync-log FILE --sync-log-offset BYTES] [--name] [--json]\n"
               "          [--procs FILE]\n"
               "          time a restarted sync daemon through the backlog a --no-sync-wait run left\n"
               "  verify  -c CONF --state DIR [--json FILE]\n"
               "          every pool code: Redis use_count = PostgreSQL redemptions <= max_uses\n"
               "  memory  --redis-port PORT --lua lua/invitegate.lua,lua/waitlist.lua,lua/points.lua [--codes N]\n"
               "          [--waitlist M] [--json FILE]\n"
               "          Redis bytes per issued code and per waitlist entry (INFO used_memory delta) on an empty\n"
               "          private Redis\n"
               "  waitlist-scale --redis-port PORT --lua lua/invitegate.lua,lua/waitlist.lua,lua/points.lua --waitlist N\n"
               "          [--json FILE] [--seed N]\n"
               "          the waitlist grown to N on an empty private Redis (ig_join_many of 64, pipelined) and, at 1M and\n"
               "          at N: used_memory per entry, then ig_join, ig_join_many, ig_position (first, middle, last joiners;\n"
               "          each class), ig_stats, ig_admit of 1 and 100, one call at a time: server time (SLOWLOG,\n"
               "          commandstats) and round trip, median and p99\n"
               "  report  [--json FILE] [--strict] [--smoke] RESULT.json...\n"
               "          the runs and the budget lines (pass/fail) of a suite\n"
               "\n"
               "workloads:\n");
    bench_workloads_print(f);
}

enum {
    OPT_STATE = 256,
    OPT_URL,
    OPT_WORKLOAD,
    OPT_VIA,
    OPT_NAME,
    OPT_JSON,
    OPT_SVG,
    OPT_RATE_FROM,
    OPT_AFTER,
    OPT_SYNC_LOG,
    OPT_SYNC_LOG_OFFSET,
    OPT_LUA,
    OPT_REDIS_PORT,
    OPT_PIPELINE,
    OPT_BATCH,
    OPT_RATE,
    OPT_RATE_FACTOR,
    OPT_DRAIN,
    OPT_TIMEOUT,
    OPT_CODES,
    OPT_WAITLIST,
    OPT_MULTI_FRAC,
    OPT_BOUND_FRAC,
    OPT_MULTI_MAX,
    OPT_NO_SYNC_WAIT,
    OPT_NO_PG,
    OPT_STRICT,
    OPT_SMOKE,
    OPT_SEED,
    OPT_PROCS,
};

static const struct option options[] = {
    {"config", required_argument, NULL, 'c'},
    {"connections", required_argument, NULL, 'n'},
    {"duration", required_argument, NULL, 'd'},
    {"help", no_argument, NULL, 'h'},
    {"state", required_argument, NULL, OPT_STATE},
    {"url", required_argument, NULL, OPT_URL},
    {"workload", required_argument, NULL, OPT_WORKLOAD},
    {"via", required_argument, NULL, OPT_VIA},
    {"name", required_argument, NULL, OPT_NAME},
    {"json", required_argument, NULL, OPT_JSON},
    {"svg", required_argument, NULL, OPT_SVG},
    {"rate-from", required_argument, NULL, OPT_RATE_FROM},
    {"after", required_argument, NULL, OPT_AFTER},
    {"sync-log", required_argument, NULL, OPT_SYNC_LOG},
    {"sync-log-offset", required_argument, NULL, OPT_SYNC_LOG_OFFSET},
    {"lua", required_argument, NULL, OPT_LUA},
    {"redis-port", required_argument, NULL, OPT_REDIS_PORT},
    {"pipeline", required_argument, NULL, OPT_PIPELINE},
    {"batch", required_argument, NULL, OPT_BATCH},
    {"rate", required_argument, NULL, OPT_RATE},
    {"rate-factor", required_argument, NULL, OPT_RATE_FACTOR},
    {"drain", required_argument, NULL, OPT_DRAIN},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"codes", required_argument, NULL, OPT_CODES},
    {"waitlist", required_argument, NULL, OPT_WAITLIST},
    {"multi-frac", required_argument, NULL, OPT_MULTI_FRAC},
    {"bound-frac", required_argument, NULL, OPT_BOUND_FRAC},
    {"multi-max", required_argument, NULL, OPT_MULTI_MAX},
    {"no-sync-wait", no_argument, NULL, OPT_NO_SYNC_WAIT},
    {"no-pg", no_argument, NULL, OPT_NO_PG},
    {"strict", no_argument, NULL, OPT_STRICT},
    {"smoke", no_argument, NULL, OPT_SMOKE},
    {"seed", required_argument, NULL, OPT_SEED},
    {"procs", required_argument, NULL, OPT_PROCS},
    {NULL, 0, NULL, 0},
};

/* A number option; returns -1 (printed) when arg is not one in [min, max]. */
static int number(double *out, const char *name, const char *arg, double min, double max)
{
    char *end;
    double v = strtod(arg, &end);
    if (end == arg || *end != '\0' || !(v >= min && v <= max)) {
        bench_error("--%s %s: expected a number from %g to %g", name, arg, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse(bench_opts_t *o, int argc, char **argv)
{
    int c, idx;
    double v = 0;

    while ((c = getopt_long(argc, argv, "c:n:d:h", options, &idx)) != -1) {
        const char *name = c == 'c' ? "config" : c == 'n' ? "connections" : c == 'd' ? "duration" : options[idx].name;
        int bad = 0;
        switch (c) {
        case 'c':
            o->config = optarg;
            break;
        case 'n':
            bad = number(&v, name, optarg, 1, 10000);
            o->connections = (unsigned)v;
            break;
        case 'd':
            bad = number(&o->duration, name, optarg, 0.01, 86400);
            break;
        case 'h':
            usage(stdout);
            exit(0);
        case OPT_STATE:
            o->state = optarg;
            break;
        case OPT_URL:
            o->url = optarg;
            break;
        case OPT_WORKLOAD:
            o->workload = optarg;
            break;
        case OPT_VIA:
            o->via = optarg;
            break;
        case OPT_NAME:
            o->name = optarg;
            break;
        case OPT_JSON:
            o->json = optarg;
            break;
        case OPT_SVG:
            o->svg = optarg;
            break;
        case OPT_RATE_FROM:
            o->rate_from = optarg;
            break;
        case OPT_AFTER:
            o->after = optarg;
            break;
        case OPT_SYNC_LOG:
            o->sync_log = optarg;
            break;
        case OPT_SYNC_LOG_OFFSET:
            bad = number(&v, name, optarg, 0, 1e15);
            o->sync_log_offset = (long)v;
            break;
        case OPT_LUA:
            o->lua = optarg;
            break;
        case OPT_REDIS_PORT:
            bad = number(&v, name, optarg, 1, 65535);
            o->redis_port = (unsigned)v;
            break;
        case OPT_PIPELINE:
            bad = number(&v, name, optarg, 1, 100000);
            o->pipeline = (unsigned)v;
            break;
        case OPT_BATCH:
            bad = number(&v, name, optarg, 1, BENCH_REDIS_BATCH_MAX);
            o->batch = (unsigned)v;
            break;
        case OPT_RATE:
            bad = number(&o->rate, name, optarg, 0, 1e8);
            break;
        case OPT_RATE_FACTOR:
            bad = number(&o->rate_factor, name, optarg, 0.001, 100);
            break;
        case OPT_DRAIN:
            bad = number(&o->drain, name, optarg, 0.1, 600);
            break;
        case OPT_TIMEOUT:
            bad = number(&o->timeout, name, optarg, 0.1, 3600);
            break;
        case OPT_CODES:
            bad = number(&v, name, optarg, 0, 1e8);
            o->codes = (size_t)v;
            break;
        case OPT_WAITLIST:
            bad = number(&v, name, optarg, 0, 1e8);
            o->waitlist = (size_t)v;
            break;
        case OPT_MULTI_FRAC:
            bad = number(&o->multi_frac, name, optarg, 0, 1);
            break;
        case OPT_BOUND_FRAC:
            bad = number(&o->bound_frac, name, optarg, 0, 1);
            break;
        case OPT_MULTI_MAX:
            bad = number(&v, name, optarg, 2, 1000000);
            o->multi_max = (unsigned)v;
            break;
        case OPT_NO_SYNC_WAIT:
            o->no_sync_wait = 1;
            break;
        case OPT_NO_PG:
            o->no_pg = 1;
            break;
        case OPT_STRICT:
            o->strict = 1;
            break;
        case OPT_SMOKE:
            o->smoke = 1;
            break;
        case OPT_SEED:
            bad = number(&v, name, optarg, 0, 1e18);
            o->seed = (uint64_t)v;
            break;
        case OPT_PROCS:
            o->procs = optarg;
            break;
        default:
            return -1;
        }
        if (bad)
            return -1;
    }
    o->files = argv + optind;
    o->num_files = argc - optind;
    return 0;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*run)(const bench_opts_t *);
    } commands[] = {
        {"seed", bench_cmd_seed},
        {"run", bench_cmd_run},
        {"catchup", bench_cmd_catchup},
        {"verify", bench_cmd_verify},
        {"memory", bench_cmd_memory},
        {"report", bench_cmd_report},
        {"waitlist-scale", bench_cmd_waitlist_scale},
    };
    bench_opts_t o = {
        .via = "http",
        .connections = 64,
        .pipeline = 64,
        .batch = 1,
        .duration = 10,
        .rate_factor = 1,
        .drain = 10,
        .timeout = 120,
        .codes = 100000,
        .multi_frac = 0.25,
        .bound_frac = 0.05,
        .multi_max = 50,
        .sync_log_offset = 0,
        .seed = 1,
    };

    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    signal(SIGPIPE, SIG_IGN);
    if (sodium_init() < 0) {
        bench_error("libsodium failed to initialise");
        return 1;
    }
    for (size_t i = 0; i != sizeof(commands) / sizeof(commands[0]); ++i) {
        if (strcmp(argv[1], commands[i].name) != 0)
            continue;
        if (parse(&o, argc - 1, argv + 1) != 0) {
            fprintf(stderr, "try: invitegate-bench --help\n");
            return 2;
        }
        return commands[i].run(&o);
    }
    bench_error("unknown command %s", argv[1]);
    usage(stderr);
    return 2;
}
