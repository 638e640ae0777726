/*
 * The subcommands of invitegate-bench and the options they share. main.c
 * parses the command line into bench_opts_t and calls one of these; each
 * returns the process exit status (0 success, 1 failure or a broken
 * invariant, 2 usage, 3 a budget missed under --strict).
 */
#ifndef BENCH_CMD_H
#define BENCH_CMD_H

#include <stddef.h>
#include <stdint.h>

typedef struct bench_opts_t {
    const char *config;    /**< -c: the gateway's configuration file */
    const char *state;     /**< --state: directory of the code pool */
    const char *url;       /**< --url: http://127.0.0.1:PORT */
    const char *workload;  /**< --workload */
    const char *via;       /**< --via http|redis */
    const char *name;      /**< --name of the run (JSON, report) */
    const char *json;      /**< --json FILE */
    const char *svg;       /**< --svg PREFIX */
    const char *rate_from; /**< --rate-from RUN.json */
    const char *after;     /**< --after RUN.json (catchup) */
    const char *sync_log;  /**< --sync-log FILE (catchup) */
    const char *lua;       /**< --lua FILE,FILE... (memory, waitlist-scale): the library's files in the gateway's order */
    const char *procs;     /**< --procs FILE: "ROLE PID" lines for the CPU account (run, catchup) */
    unsigned redis_port;   /**< --redis-port (memory, waitlist-scale) */
    unsigned connections;  /**< --connections */
    unsigned pipeline;     /**< --pipeline (via redis) */
    unsigned batch;        /**< --batch: redemptions per Redis call (via redis) */
    double duration;       /**< --duration seconds */
    double rate;           /**< --rate requests/s; 0 = closed loop */
    double rate_factor;    /**< --rate-factor with --rate-from */
    double drain;          /**< --drain seconds */
    double timeout;        /**< --timeout seconds for the sync daemon */
    size_t codes;          /**< --codes */
    size_t waitlist;       /**< --waitlist: entries to seed (seed) or to join (memory, waitlist-scale) */
    double multi_frac;     /**< --multi-frac */
    double bound_frac;     /**< --bound-frac */
    unsigned multi_max;    /**< --multi-max */
    long sync_log_offset;  /**< --sync-log-offset bytes */
    int no_sync_wait;      /**< --no-sync-wait */
    int no_pg;             /**< --no-pg */
    int strict;            /**< --strict (report) */
    int smoke;             /**< --smoke (report) */
    uint64_t seed;         /**< --seed for the random choices of the load */
    char *const *files;    /**< remaining arguments (report) */
    int num_files;
} bench_opts_t;

int bench_cmd_seed(const bench_opts_t *o);
int bench_cmd_run(const bench_opts_t *o);
int bench_cmd_catchup(const bench_opts_t *o);
int bench_cmd_verify(const bench_opts_t *o);
int bench_cmd_memory(const bench_opts_t *o);
int bench_cmd_report(const bench_opts_t *o);
int bench_cmd_waitlist_scale(const bench_opts_t *o);

#endif
