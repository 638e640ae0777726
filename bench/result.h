/*
 * The outcome of one run: counts, latency histograms (overall, per
 * operation and per time interval), answers by operation, status and error
 * reason, errors of the transport, and the invariant checks. Printed for
 * people, written as JSON for machines (and for `invitegate-bench report`).
 */
#ifndef BENCH_RESULT_H
#define BENCH_RESULT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "cpu.h"
#include "hist.h"
#include "workload.h"

#define BENCH_NAME_BYTES 64
#define BENCH_REASON_BYTES 32
#define BENCH_ANSWERS_MAX 64
#define BENCH_SERIES_MAX 1200
#define BENCH_FAILURES_BYTES 1024

/** Status recorded for a request that got no answer (connection lost, drain timeout). */
#define BENCH_STATUS_NONE 0

/** Answers of one kind: operation, HTTP status, `error` reason of the body ("" for none). */
typedef struct bench_answer_t {
    bench_op_t op;
    int status;
    char reason[BENCH_REASON_BYTES];
    uint64_t count;
} bench_answer_t;

/** One interval of the latency-over-time series (by completion time). */
typedef struct bench_point_t {
    double t_s;    /**< end of the interval, from the start of the run */
    double rps;    /**< answers per second in the interval */
    double p50_ms; /**< latency percentiles of the interval */
    double p99_ms;
    double max_ms;
} bench_point_t;

/** What the checks after a run found. */
typedef struct bench_invariants_t {
    int redis_checked;                   /**< the Redis use counts were read before and after */
    long long redis_before;              /**< sum of use_count over the pool before the run */
    long long redis_after;               /**< and after */
    long long over_max;                  /**< pool codes with use_count > max_uses after the run */
    long long missing;                   /**< pool codes Redis does not know */
    int pg_checked;                      /**< PostgreSQL was counted before and after catch-up */
    long long pg_before;                 /**< redemptions of pool codes in PostgreSQL before */
    long long pg_after;                  /**< and after the sync daemon caught up */
    int wl_checked;                      /**< the waitlist's join counter was read before and after */
    long long wl_before;                 /**< entries on the waitlist before the run */
    long long wl_after;                  /**< and after */
    int pg_wl_checked;                   /**< the waitlist table was counted before and after catch-up */
    long long pg_wl_before;              /**< rows of the waitlist table before */
    long long pg_wl_after;               /**< and after the sync daemon caught up */
    double catchup_s;                    /**< load stopped -> sync caught up; < 0 when not measured */
    int ok;                              /**< every check that ran held */
    char failures[BENCH_FAILURES_BYTES]; /**< what broke, one sentence each */
} bench_invariants_t;

typedef struct bench_result_t {
    char name[BENCH_NAME_BYTES];          /**< e.g. "A.redeem_max" */
    const char *via;                      /**< "http" or "redis" (static) */
    char workload[16];                    /**< workload name */
    int open_loop;                        /**< fixed-rate schedule */
    unsigned connections;                 /**< HTTP connections / Redis connections */
    unsigned pipeline;                    /**< requests in flight per connection */
    unsigned batch;                       /**< redemptions per Redis call (via redis) */
    double duration_s;                    /**< asked-for load time */
    double target_rate;                   /**< open loop: requests per second asked for */
    uint64_t start_ns, end_ns;            /**< first send, last answer */
    uint64_t requests;                    /**< answered or given up */
    uint64_t successes;                   /**< redemptions answered 200 */
    uint64_t uncertain;                   /**< redemptions whose outcome is unknown (no answer, 503 unavailable) */
    uint64_t past_capacity;               /**< redemption tickets past the pool's capacity (expected refusals) */
    uint64_t joins_new;                   /**< joins answered 201 (a new entry) */
    uint64_t joins_uncertain;             /**< joins whose outcome is unknown (no answer, 503 unavailable) */
    uint64_t positions_not_found;         /**< positions of seeded entries answered 404 */
    uint64_t err_connect;                 /**< connections that could not be (re)opened */
    uint64_t err_closed;                  /**< requests lost to a closed connection */
    uint64_t err_protocol;                /**< unparseable answers */
    uint64_t err_timeout;                 /**< requests unanswered at the end of the drain */
    uint64_t max_backlog;                 /**< open loop: most requests due but not yet sent */
    uint64_t not_sent;                    /**< open loop: scheduled requests never sent */
    bench_hist_t all;                     /**< every answered request */
    bench_hist_t per_op[BENCH_OP_COUNT];  /**< by operation */
    uint64_t op_requests[BENCH_OP_COUNT]; /**< by operation */
    uint64_t op_ok[BENCH_OP_COUNT];       /**< successes by operation: 2xx (join: 201 new, 200 already joined) */
    bench_answer_t answers[BENCH_ANSWERS_MAX];
    size_t num_answers;
    uint64_t answers_dropped; /**< answers of kinds beyond BENCH_ANSWERS_MAX */
    bench_hist_t interval;    /**< the interval being filled */
    uint64_t interval_ns;     /**< its length */
    uint64_t interval_end_ns; /**< when it closes */
    bench_point_t series[BENCH_SERIES_MAX];
    size_t num_series;
    char persistence[64];               /**< Redis appendonly/appendfsync during the run */
    unsigned gateway_threads;           /**< `threads` of the configuration (0 = one per core) */
    char skipped[BENCH_MIX_NOTE_BYTES]; /**< operations of the workload not available yet */
    bench_invariants_t inv;
    bench_cpu_account_t cpu; /**< CPU of each process per successful operation (--procs) */
    double aof_bytes_per_op; /**< Redis append-only file growth per successful operation; NAN without AOF or across a rewrite */
} bench_result_t;

/** A new empty result (caller frees with free()); NULL when out of memory. */
bench_result_t *bench_result_new(const char *name, double duration_s);

/** Marks the start of the load. */
void bench_result_start(bench_result_t *r, uint64_t now_ns);

/**
 * Counts one request of op: status (BENCH_STATUS_NONE when unanswered),
 * the body's error reason (reason_len bytes, may be 0), and its latency.
 */
void bench_result_record(bench_result_t *r, bench_op_t op, int status, const char *reason, size_t reason_len, uint64_t latency_ns,
                         uint64_t now_ns);

/** Marks the end of the load (the last answer). */
void bench_result_finish(bench_result_t *r, uint64_t now_ns);

/** Seconds from the first send to the last answer. */
double bench_result_elapsed(const bench_result_t *r);

/** Successful operations (2xx answers over HTTP, redemptions via Redis): what the CPU account divides by. */
double bench_result_ok_ops(const bench_result_t *r);

/** Answered requests per second. */
double bench_result_throughput(const bench_result_t *r);

/** Adds one failure sentence to r->inv.failures and clears r->inv.ok. */
void bench_result_fail(bench_result_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Prints the result for people. */
void bench_result_print(const bench_result_t *r, FILE *f);

/** Writes the result as JSON to path. Returns 0 or -1 (printed). */
int bench_result_write_json(const bench_result_t *r, const char *path);

/** Writes v rounded to an integer with thousands separators ("12,345") into buf; returns buf. */
const char *bench_grouped(char *buf, size_t cap, double v);

#endif
