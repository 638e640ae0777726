/*
 * The HTTP load generator: one thread, one epoll loop, keep-alive HTTP/1.1
 * connections to 127.0.0.1, one request in flight per connection.
 *
 * Closed loop (rate 0): every connection sends its next request as soon as
 * the answer to the previous one arrives: the maximum throughput.
 *
 * Open loop (rate > 0): request k is due at start + k / rate whatever the
 * server does; a due request goes out on the first free connection, and its
 * latency counts from when it was due, not from when it could be sent, so
 * a stalled server shows in the latencies instead of slowing the schedule
 * (no coordinated omission). A timerfd wakes the loop at each due time with
 * nanosecond precision.
 */
#ifndef BENCH_LOADGEN_H
#define BENCH_LOADGEN_H

#include "result.h"
#include "workload.h"

typedef struct bench_load_opts_t {
    unsigned port;          /**< gateway port on 127.0.0.1 */
    unsigned connections;   /**< keep-alive connections */
    double duration_s;      /**< how long requests are started */
    double rate;            /**< requests per second; 0 = closed loop */
    double drain_s;         /**< how long answers are awaited after the load */
    const bench_mix_t *mix; /**< what to send */
    bench_req_ctx_t *ctx;   /**< borrowed: pool, tickets, random codes */
} bench_load_opts_t;

/**
 * Runs the load and counts everything into r (which must be new). Returns 0,
 * or -1 (printed) when the run could not be carried out (no connection,
 * every connection lost, a request that cannot be built).
 */
int bench_load_run(bench_result_t *r, const bench_load_opts_t *o);

#endif
