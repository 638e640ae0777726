/* Logarithmic latency histogram (hist.h). */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "hist.h"

#define HALF (BENCH_HIST_SUB / 2)

static unsigned index_of(uint64_t v)
{
    if (v < BENCH_HIST_SUB)
        return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = msb - (BENCH_HIST_SUB_BITS - 1);
    if (shift > BENCH_HIST_MAGNITUDES - 1)
        return BENCH_HIST_BUCKETS - 1;
    return BENCH_HIST_SUB + (shift - 1) * HALF + (unsigned)((v >> shift) - HALF);
}

/* Largest value that lands in bucket i. */
static uint64_t upper_of(unsigned i)
{
    if (i < BENCH_HIST_SUB)
        return i;
    unsigned k = i - BENCH_HIST_SUB, shift = k / HALF + 1;
    uint64_t sub = k % HALF + HALF;
    return ((sub + 1) << shift) - 1;
}

void bench_hist_reset(bench_hist_t *h)
{
    memset(h, 0, sizeof(*h));
    h->min_ns = UINT64_MAX;
}

void bench_hist_record(bench_hist_t *h, uint64_t ns)
{
    ++h->counts[index_of(ns)];
    ++h->total;
    h->sum_ns += (double)ns;
    if (ns < h->min_ns)
        h->min_ns = ns;
    if (ns > h->max_ns)
        h->max_ns = ns;
}

uint64_t bench_hist_percentile(const bench_hist_t *h, double pct)
{
    if (h->total == 0)
        return 0;
    if (pct >= 100.0)
        return h->max_ns;
    uint64_t rank = (uint64_t)ceil(pct / 100.0 * (double)h->total), seen = 0;
    if (rank == 0)
        rank = 1;
    for (unsigned i = 0; i != BENCH_HIST_BUCKETS; ++i) {
        seen += h->counts[i];
        if (seen >= rank) {
            uint64_t v = upper_of(i);
            return v > h->max_ns ? h->max_ns : v;
        }
    }
    return h->max_ns;
}

double bench_hist_mean(const bench_hist_t *h)
{
    return h->total != 0 ? h->sum_ns / (double)h->total : 0.0;
}
