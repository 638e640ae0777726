#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "bench.h"
#include "cpu.h"
#include "result.h"

static const char *const role_names[BENCH_CPU_ROLES] = {"gateway", "redis", "sync", "postgres"};

const char *bench_cpu_role_name(bench_cpu_role_t role)
{
    return role < BENCH_CPU_ROLES ? role_names[role] : "?";
}

/* One process of /proc: its parent and its CPU ticks (own, and of the children it reaped). */
typedef struct proc_t {
    pid_t pid, ppid;
    uint64_t ticks;
} proc_t;

/* Reads /proc/PID/stat; returns 0, or -1 when the process is gone or the line is not understood. */
static int read_stat(proc_t *p, pid_t pid)
{
    char path[64], line[1024], *s;
    unsigned long long f[4];
    int ppid;
    FILE *fp;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if ((fp = fopen(path, "r")) == NULL)
        return -1;
    s = fgets(line, sizeof(line), fp);
    fclose(fp);
    /* The command name may hold spaces and parentheses: the fields start after the last ')'. */
    if (s == NULL || (s = strrchr(line, ')')) == NULL)
        return -1;
    /* state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime */
    if (sscanf(s + 1, " %*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %llu %llu", &ppid, &f[0], &f[1], &f[2], &f[3]) != 5)
        return -1;
    p->pid = pid;
    p->ppid = (pid_t)ppid;
    p->ticks = f[0] + f[1] + f[2] + f[3];
    return 0;
}

/* Every process of the machine; *n set. Caller frees. NULL when /proc cannot be read (printed). */
static proc_t *read_procs(size_t *n)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    proc_t *all = NULL;
    size_t cap = 0;

    *n = 0;
    if (d == NULL) {
        bench_error("/proc: cannot be read");
        return NULL;
    }
    while ((e = readdir(d)) != NULL) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (end == e->d_name || *end != '\0' || pid <= 0)
            continue;
        if (*n == cap) {
            proc_t *grown = realloc(all, (cap = cap ? cap * 2 : 512) * sizeof(*all));
            if (grown == NULL) {
                free(all);
                closedir(d);
                bench_error("out of memory");
                return NULL;
            }
            all = grown;
        }
        if (read_stat(&all[*n], (pid_t)pid) == 0)
            ++*n;
    }
    closedir(d);
    return all;
}

/* Whether p descends from (or is) root. */
static int in_tree(const proc_t *all, size_t n, pid_t pid, pid_t root)
{
    for (unsigned depth = 0; pid > 1 && depth != 64; ++depth) {
        if (pid == root)
            return 1;
        size_t i = 0;
        while (i != n && all[i].pid != pid)
            ++i;
        if (i == n)
            return 0;
        pid = all[i].ppid;
    }
    return pid == root;
}

/* Whether role names a Redis process: "redis", or "redis" and a number (a cluster's masters). */
static int is_shard(const char *role)
{
    if (strncmp(role, "redis", 5) != 0)
        return 0;
    for (const char *p = role + 5; *p != '\0'; ++p)
        if (*p < '0' || *p > '9')
            return 0;
    return 1;
}

/* CPU microseconds of the process tree of *pid; *pid set to 0 when the process itself is gone. */
static uint64_t tree_us(const proc_t *all, size_t n, pid_t *pid, long hz)
{
    uint64_t ticks = 0;
    int alive = 0;
    for (size_t i = 0; i != n; ++i) {
        if (!in_tree(all, n, all[i].pid, *pid))
            continue;
        ticks += all[i].ticks;
        alive |= all[i].pid == *pid;
    }
    if (!alive)
        *pid = 0;
    return ticks * 1000000ull / (uint64_t)(hz > 0 ? hz : 100);
}

int bench_cpu_read(bench_cpu_sample_t *out, const char *path)
{
    char line[128], role[32];
    long hz = sysconf(_SC_CLK_TCK);
    FILE *f = fopen(path, "r");
    proc_t *all;
    size_t n;
    int pid;

    memset(out, 0, sizeof(*out));
    if (f == NULL) {
        bench_error("--procs %s: cannot be read", path);
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "%31s %d", role, &pid) != 2)
            continue;
        if (is_shard(role)) {
            if (out->num_shards == BENCH_CPU_SHARDS || strlen(role) >= BENCH_CPU_NAME_BYTES) {
                fclose(f);
                bench_error("--procs %s: more than %d redis processes, or %s is too long a name", path, BENCH_CPU_SHARDS, role);
                return -1;
            }
            bench_cpu_shard_t *sh = &out->shards[out->num_shards++];
            memcpy(sh->name, role, strlen(role) + 1); /* shorter than the name's bytes: checked above */
            sh->pid = (pid_t)pid;
            continue;
        }
        int r = 0;
        while (r != BENCH_CPU_ROLES && strcmp(role_names[r], role) != 0)
            ++r;
        if (r == BENCH_CPU_ROLES) {
            fclose(f);
            bench_error("--procs %s: unknown role %s (gateway, redis or redisN, sync, postgres)", path, role);
            return -1;
        }
        out->pid[r] = (pid_t)pid;
    }
    fclose(f);
    out->at_ns = bench_now_ns();
    if ((all = read_procs(&n)) == NULL)
        return -1;
    for (int r = 0; r != BENCH_CPU_ROLES; ++r)
        if (r != BENCH_CPU_REDIS && out->pid[r] > 0)
            out->us[r] = tree_us(all, n, &out->pid[r], hz);
    for (size_t s = 0; s != out->num_shards; ++s) {
        bench_cpu_shard_t *sh = &out->shards[s];
        if (sh->pid <= 0)
            continue;
        sh->us = tree_us(all, n, &sh->pid, hz);
        out->us[BENCH_CPU_REDIS] += sh->us;
        if (sh->pid != 0 && out->pid[BENCH_CPU_REDIS] == 0)
            out->pid[BENCH_CPU_REDIS] = sh->pid;
    }
    free(all);
    return 0;
}

/* Time of one process between two readings: from 0 when it is not the same process. */
static double spent(pid_t before_pid, uint64_t before_us, uint64_t after_us)
{
    uint64_t from = before_pid != 0 ? before_us : 0;
    return after_us >= from ? (double)(after_us - from) : 0.0;
}

void bench_cpu_account(bench_cpu_account_t *out, const bench_cpu_sample_t *before, const bench_cpu_sample_t *after, double ops)
{
    memset(out, 0, sizeof(*out));
    out->measured = 1;
    out->ops = ops;
    out->wall_us = after->at_ns > before->at_ns ? (double)(after->at_ns - before->at_ns) / 1000.0 : 0.0;
    for (int r = 0; r != BENCH_CPU_ROLES; ++r) {
        if (r == BENCH_CPU_REDIS || after->pid[r] == 0)
            continue;
        out->present[r] = 1;
        out->us[r] = spent(before->pid[r] == after->pid[r] ? before->pid[r] : 0, before->us[r], after->us[r]);
    }
    for (size_t s = 0; s != after->num_shards; ++s) {
        const bench_cpu_shard_t *a = &after->shards[s], *b = NULL;
        if (a->pid == 0)
            continue;
        for (size_t i = 0; i != before->num_shards && b == NULL; ++i)
            if (strcmp(before->shards[i].name, a->name) == 0 && before->shards[i].pid == a->pid)
                b = &before->shards[i];
        double us = spent(b != NULL ? b->pid : 0, b != NULL ? b->us : 0, a->us);
        snprintf(out->shards[out->num_shards].name, sizeof(out->shards[0].name), "%s", a->name);
        out->shards[out->num_shards++].us = us;
        out->present[BENCH_CPU_REDIS] = 1;
        out->us[BENCH_CPU_REDIS] += us;
    }
}

double bench_cpu_per_op(const bench_cpu_account_t *a, bench_cpu_role_t role)
{
    if (!a->measured || !(a->ops > 0) || !a->present[role])
        return NAN;
    return a->us[role] / a->ops;
}

double bench_cpu_cores(const bench_cpu_account_t *a, double us)
{
    return a->measured && a->wall_us > 0 ? us / a->wall_us : NAN;
}

double bench_cpu_persist_ratio(const bench_cpu_account_t *a)
{
    double serve, persist;

    if (!a->measured || !a->present[BENCH_CPU_SYNC] || !a->present[BENCH_CPU_POSTGRES])
        return NAN;
    serve = a->us[BENCH_CPU_GATEWAY] + a->us[BENCH_CPU_REDIS];
    persist = a->us[BENCH_CPU_SYNC] + a->us[BENCH_CPU_POSTGRES];
    return serve > 0 ? persist / serve : NAN;
}

/* A number, or null for NAN (JSON has no NaN). */
static json_t *number(double v)
{
    return isnan(v) ? json_null() : json_real(v);
}

json_t *bench_cpu_json(const bench_cpu_account_t *a)
{
    json_t *total, *per_op, *cores, *shards;

    if (!a->measured)
        return json_null();
    total = json_object();
    per_op = json_object();
    cores = json_object();
    shards = json_array();
    for (int r = 0; r != BENCH_CPU_ROLES; ++r) {
        json_object_set_new(total, role_names[r], a->present[r] ? json_real(a->us[r]) : json_null());
        json_object_set_new(per_op, role_names[r], number(bench_cpu_per_op(a, (bench_cpu_role_t)r)));
        json_object_set_new(cores, role_names[r], number(a->present[r] ? bench_cpu_cores(a, a->us[r]) : NAN));
    }
    for (size_t s = 0; s != a->num_shards; ++s)
        json_array_append_new(shards, json_pack("{s:s,s:f,s:o,s:o}", "name", a->shards[s].name, "us", a->shards[s].us, "us_per_op",
                                                number(a->ops > 0 ? a->shards[s].us / a->ops : NAN), "cores",
                                                number(bench_cpu_cores(a, a->shards[s].us))));
    return json_pack("{s:f,s:f,s:o,s:o,s:o,s:o,s:o}", "ops", a->ops, "wall_s", a->wall_us / 1e6, "us", total, "us_per_op", per_op,
                     "cores", cores, "persist_over_serve", number(bench_cpu_persist_ratio(a)), "shards", shards);
}

void bench_cpu_print(FILE *f, const char *lead, const bench_cpu_account_t *a)
{
    char ops[32];

    if (!a->measured)
        return;
    fprintf(f, "%sus per operation (%s):", lead, bench_grouped(ops, sizeof(ops), a->ops));
    for (int role = 0; role != BENCH_CPU_ROLES; ++role) {
        double v = bench_cpu_per_op(a, (bench_cpu_role_t)role);
        if (isnan(v))
            fprintf(f, " %s -", bench_cpu_role_name((bench_cpu_role_t)role));
        else
            fprintf(f, " %s %.1f", bench_cpu_role_name((bench_cpu_role_t)role), v);
    }
    double ratio = bench_cpu_persist_ratio(a);
    if (!isnan(ratio))
        fprintf(f, "; (sync + postgres) / (gateway + redis) %.2f", ratio);
    for (size_t s = 0; a->num_shards > 1 && a->ops > 0 && s != a->num_shards; ++s)
        fprintf(f, "%s%s %.1f (%.2f of a core)", s == 0 ? "; shards: " : ", ", a->shards[s].name, a->shards[s].us / a->ops,
                bench_cpu_cores(a, a->shards[s].us));
    fputc('\n', f);
}
