/*
 * What `invitegate-bench memory` measures that `waitlist-scale` measures
 * again at its sizes: where a waitlist entry's bytes go.
 */
#ifndef BENCH_MEMORY_H
#define BENCH_MEMORY_H

#include <hiredis/hiredis.h>
#include <jansson.h>

/**
 * Sums MEMORY USAGE over each kind of waitlist key of bucket 0 (class
 * bitmaps, block counters, sequence map, referral codes, user records),
 * divided by entries; prints each as " NAME BYTES (ENCODING)," on stdout,
 * sets it in out (waitlist_*_bytes_per_entry) and their sum in *accounted.
 * Returns 0 or -1 (printed).
 */
int bench_waitlist_key_usage(redisContext *c, double entries, json_t *out, double *accounted);

#endif
