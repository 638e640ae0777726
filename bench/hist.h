/*
 * Latency histogram with logarithmic buckets (the HdrHistogram layout):
 * values in nanoseconds, 128 linear sub-buckets per power of two, so any
 * recorded value is known to within 0.8 %, from 1 ns to about 68 s (larger
 * values count in the last bucket; the exact maximum is kept aside).
 */
#ifndef BENCH_HIST_H
#define BENCH_HIST_H

#include <stdint.h>

#define BENCH_HIST_SUB_BITS 7
#define BENCH_HIST_SUB (1u << BENCH_HIST_SUB_BITS)
#define BENCH_HIST_MAGNITUDES 30
#define BENCH_HIST_BUCKETS (BENCH_HIST_SUB + (BENCH_HIST_MAGNITUDES - 1) * (BENCH_HIST_SUB / 2))

typedef struct bench_hist_t {
    uint64_t counts[BENCH_HIST_BUCKETS]; /**< per bucket */
    uint64_t total;                      /**< values recorded */
    uint64_t min_ns;                     /**< exact; UINT64_MAX when empty */
    uint64_t max_ns;                     /**< exact */
    double sum_ns;                       /**< for the mean */
} bench_hist_t;

/** Empties h. */
void bench_hist_reset(bench_hist_t *h);

/** Counts one value. */
void bench_hist_record(bench_hist_t *h, uint64_t ns);

/**
 * The value below which pct percent of the recorded values fall (the upper
 * edge of the bucket holding that rank, never above the exact maximum);
 * pct in [0, 100]; 100 gives the exact maximum. 0 when h is empty.
 */
uint64_t bench_hist_percentile(const bench_hist_t *h, double pct);

/** Mean in nanoseconds; 0 when empty. */
double bench_hist_mean(const bench_hist_t *h);

#endif
