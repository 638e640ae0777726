/*
 * The CPU account of a run: how much processor time each process of the
 * system spent, read from /proc before and after the load (after the sync
 * daemon's catch-up, so the cost of persisting what the load produced is
 * in it), divided by the operations the run completed.
 *
 * The processes are named in a file that scripts/bench keeps up to date as
 * it starts and stops them (--procs FILE), one "ROLE PID" per line, ROLE one
 * of gateway, redis, sync, postgres. A Redis Cluster's masters are named
 * redis1, redis2, ... (or several redis lines): each is a shard, accounted
 * on its own, and the redis role is their sum. A role's time is that of its process
 * and of every descendant: the PostgreSQL postmaster with its backends,
 * checkpointer, WAL writer and autovacuum workers; Redis with a child that
 * rewrites its append-only file. Descendants that ended were added to their
 * parent's "children" times when it reaped them, so these are counted too.
 */
#ifndef BENCH_CPU_H
#define BENCH_CPU_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/** The roles, in report order. */
typedef enum {
    BENCH_CPU_GATEWAY,
    BENCH_CPU_REDIS,
    BENCH_CPU_SYNC,
    BENCH_CPU_POSTGRES,
    BENCH_CPU_ROLES,
} bench_cpu_role_t;

/** Most Redis processes (shards) one account tells apart. */
#define BENCH_CPU_SHARDS 16
#define BENCH_CPU_NAME_BYTES 16

/** One Redis process of a reading: a single Redis, or one master of a cluster. */
typedef struct bench_cpu_shard_t {
    char name[BENCH_CPU_NAME_BYTES]; /**< as in the procs file: "redis", "redis1", ... */
    pid_t pid;                       /**< 0: not running */
    uint64_t us;
} bench_cpu_shard_t;

/** One reading: the CPU time of each role's process tree (redis: the sum of its shards). */
typedef struct bench_cpu_sample_t {
    pid_t pid[BENCH_CPU_ROLES]; /**< 0: the role was not running (redis: a running shard's) */
    uint64_t us[BENCH_CPU_ROLES];
    bench_cpu_shard_t shards[BENCH_CPU_SHARDS]; /**< the redis lines, in file order */
    size_t num_shards;
    uint64_t at_ns; /**< when it was read (bench_now_ns()) */
} bench_cpu_sample_t;

/** What a run cost: CPU microseconds of each role between two readings, and the operations done meanwhile. */
typedef struct bench_cpu_account_t {
    int measured;                 /**< both readings were taken */
    int present[BENCH_CPU_ROLES]; /**< the role ran at the second reading */
    double us[BENCH_CPU_ROLES];   /**< CPU time spent */
    double ops;                   /**< successful operations it is divided by */
    double wall_us;               /**< time between the readings */
    struct {
        char name[BENCH_CPU_NAME_BYTES];
        double us; /**< CPU time of this shard (running at the second reading) */
    } shards[BENCH_CPU_SHARDS];
    size_t num_shards;
} bench_cpu_account_t;

/** The role's name in the procs file, the JSON and the report ("gateway", "redis", "sync", "postgres"). */
const char *bench_cpu_role_name(bench_cpu_role_t role);

/**
 * Reads the procs file at path and the CPU time of each named process tree
 * into out. A process that is gone counts as not running. Returns 0 or -1
 * (printed) when the file cannot be read or names an unknown role.
 */
int bench_cpu_read(bench_cpu_sample_t *out, const char *path);

/**
 * The account between before and after, divided later by ops. A role (or a
 * shard, matched by name) whose process changed between the readings
 * (restarted, or started during the run) is counted from 0, i.e. with all
 * the time of its new process. The redis role is the sum of its shards.
 */
void bench_cpu_account(bench_cpu_account_t *out, const bench_cpu_sample_t *before, const bench_cpu_sample_t *after, double ops);

/** CPU microseconds per operation of role, or NAN when not measured. */
double bench_cpu_per_op(const bench_cpu_account_t *a, bench_cpu_role_t role);

/** The share of one core that us took between the readings (CPU time / wall time), or NAN. */
double bench_cpu_cores(const bench_cpu_account_t *a, double us);

/**
 * (sync + PostgreSQL) / (gateway + Redis) per operation: what persisting
 * costs next to serving. NAN when not measured.
 */
double bench_cpu_persist_ratio(const bench_cpu_account_t *a);

/**
 * Prints a (measured) account on one line after lead: each process's
 * microseconds per operation, the persist / serve ratio; with several Redis
 * shards, each shard's microseconds per operation and share of a core.
 */
void bench_cpu_print(FILE *f, const char *lead, const bench_cpu_account_t *a);

/**
 * The account as JSON: {"ops", "wall_s", "us": {role: total}, "us_per_op":
 * {role: ...}, "cores": {role: CPU time / wall time}, "persist_over_serve",
 * "shards": [{"name", "us", "us_per_op", "cores"}]}; null when not measured.
 */
json_t *bench_cpu_json(const bench_cpu_account_t *a);

#endif
