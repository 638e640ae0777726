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
        int r = 0;
        while (r != BENCH_CPU_ROLES && strcmp(role_names[r], role) != 0)
            ++r;
        if (r == BENCH_CPU_ROLES) {
            fclose(f);
            bench_error("--procs %s: unknown role %s (gateway, redis, sync, postgres)", path, role);
            return -1;
        }
        out->pid[r] = (pid_t)pid;
    }
    fclose(f);
    if ((all = read_procs(&n)) == NULL)
        return -1;
    for (int r = 0; r != BENCH_CPU_ROLES; ++r) {
        uint64_t ticks = 0;
        int alive = 0;
        if (out->pid[r] <= 0)
            continue;
        for (size_t i = 0; i != n; ++i) {
            if (!in_tree(all, n, all[i].pid, out->pid[r]))
                continue;
            ticks += all[i].ticks;
            alive |= all[i].pid == out->pid[r];
        }
        if (!alive)
            out->pid[r] = 0;
        out->us[r] = ticks * 1000000ull / (uint64_t)(hz > 0 ? hz : 100);
    }
    free(all);
    return 0;
}

void bench_cpu_account(bench_cpu_account_t *out, const bench_cpu_sample_t *before, const bench_cpu_sample_t *after, double ops)
{
    memset(out, 0, sizeof(*out));
    out->measured = 1;
    out->ops = ops;
    for (int r = 0; r != BENCH_CPU_ROLES; ++r) {
        if (after->pid[r] == 0)
            continue;
        out->present[r] = 1;
        uint64_t from = before->pid[r] == after->pid[r] ? before->us[r] : 0;
        out->us[r] = after->us[r] >= from ? (double)(after->us[r] - from) : 0.0;
    }
}

double bench_cpu_per_op(const bench_cpu_account_t *a, bench_cpu_role_t role)
{
    if (!a->measured || !(a->ops > 0) || !a->present[role])
        return NAN;
    return a->us[role] / a->ops;
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
    json_t *total, *per_op;

    if (!a->measured)
        return json_null();
    total = json_object();
    per_op = json_object();
    for (int r = 0; r != BENCH_CPU_ROLES; ++r) {
        json_object_set_new(total, role_names[r], a->present[r] ? json_real(a->us[r]) : json_null());
        json_object_set_new(per_op, role_names[r], number(bench_cpu_per_op(a, (bench_cpu_role_t)r)));
    }
    return json_pack("{s:f,s:o,s:o,s:o}", "ops", a->ops, "us", total, "us_per_op", per_op, "persist_over_serve",
                     number(bench_cpu_persist_ratio(a)));
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
    fputc('\n', f);
}
