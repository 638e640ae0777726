/*
 * Plots of one run as standalone SVG files, written by the harness itself
 * (no gnuplot needed): latency over time (p50, p99 and max per interval,
 * with the throughput behind them) and the latency by percentile (log scale
 * of 1/(1-p), as HdrHistogram plots it), overall and per operation.
 */
#ifndef BENCH_SVG_H
#define BENCH_SVG_H

#include "result.h"

/** Writes PREFIX.latency.svg and PREFIX.percentiles.svg. Returns 0 or -1 (printed). */
int bench_svg_write(const bench_result_t *r, const char *prefix);

#endif
