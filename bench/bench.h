/*
 * invitegate-bench: what every module of the harness shares — monotonic
 * time, a small deterministic random generator, and the message helpers.
 *
 * The harness is a command-line tool: errors are printed where they happen
 * (naming the object and the reason) and reported upwards as -1.
 */
#ifndef BENCH_H
#define BENCH_H

#include <stdint.h>
#include <time.h>

#define BENCH_NS_PER_SEC 1000000000ull
#define BENCH_NS_PER_MS 1000000.0

/** Monotonic time in nanoseconds (latencies, schedules, catch-up times). */
static inline uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * BENCH_NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

/** xorshift64*: cheap, deterministic per seed; not for secrets. */
typedef struct bench_rng_t {
    uint64_t state; /**< never 0 */
} bench_rng_t;

static inline void bench_rng_seed(bench_rng_t *rng, uint64_t seed)
{
    rng->state = seed != 0 ? seed : 0x9e3779b97f4a7c15ull;
}

static inline uint64_t bench_rng_next(bench_rng_t *rng)
{
    uint64_t x = rng->state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng->state = x;
    return x * 0x2545f4914f6cdd1dull;
}

/** Uniform in [0, n); n > 0. The modulo bias is irrelevant at bench sizes. */
static inline uint64_t bench_rng_below(bench_rng_t *rng, uint64_t n)
{
    return bench_rng_next(rng) % n;
}

/** Prints "invitegate-bench: error: ..." on stderr. */
void bench_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/** Prints "invitegate-bench: warning: ..." on stderr. */
void bench_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/** Prints "==> ..." on stderr (progress; stdout stays for results). */
void bench_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/**
 * Reads a whole file into a new NUL-terminated buffer the caller frees.
 * Returns NULL (and prints why) on failure; *len gets the length when not NULL.
 */
char *bench_read_file(const char *path, size_t *len);

/**
 * Writes value and a newline to DIR/NAME through a temporary file and a
 * rename, so a reader never sees half a number (the state directory's
 * cursors). Returns 0 or -1 (printed).
 */
int bench_write_counter(const char *dir, const char *name, uint64_t value);

#endif
