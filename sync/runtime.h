/*
 * Process-wide runtime of the sync daemon: the stop flag raised by SIGTERM and
 * SIGINT, a monotonic clock, sleeps that end early when a stop is requested,
 * and the reconnect backoff (100 ms doubling to 5 s) used for both stores.
 *
 * Liveness: the daemon's lanes run on their own threads, and the main thread
 * feeds the systemd watchdog only while every lane shows signs of life. A
 * lane attaches a heartbeat (sync_heartbeat_attach) that its loop and its
 * sleeps keep current, so a lane waiting for a store to come back is not
 * mistaken for a hung one.
 */
#ifndef SYNC_RUNTIME_H
#define SYNC_RUNTIME_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#define SYNC_BACKOFF_MIN_MS 100
#define SYNC_BACKOFF_MAX_MS 5000

/** Reconnect delay state; one per store. */
typedef struct sync_backoff_t {
    unsigned delay_ms; /**< what the next sync_backoff_wait sleeps */
    unsigned failures; /**< consecutive failures so far (waits since the last reset) */
} sync_backoff_t;

/** Installs the SIGTERM/SIGINT handlers (no SA_RESTART) and ignores SIGPIPE. */
void sync_signals_install(void);

/**
 * Starts a thread running fn(arg) with SIGTERM and SIGINT blocked in it, so
 * that the main thread takes the signals and its sleeps end at once. Returns
 * 0, or the error of pthread_create.
 */
int sync_thread_start(pthread_t *thread, void *(*fn)(void *), void *arg);

/** Non-zero once SIGTERM or SIGINT arrived. Async-signal-safe. */
int sync_stop_requested(void);

/** Milliseconds on the monotonic clock. */
uint64_t sync_now_ms(void);

/**
 * The daemon's clock in Unix milliseconds: the wall clock shifted by
 * offset_s (sync_clock_offset_s, for rehearsals and the tests of time-bound
 * rules; 0 in production).
 */
long long sync_clock_ms(long long offset_s);

/** Sleeps ms milliseconds, or less when a stop is requested meanwhile; beats the heartbeat every 100 ms. */
void sync_sleep_ms(unsigned ms);

/**
 * Makes sync_heartbeat on the calling thread store the monotonic time in
 * *beat (borrowed; must outlive the thread's use of it). NULL detaches.
 */
void sync_heartbeat_attach(_Atomic uint64_t *beat);

/** Stores the time in the calling thread's heartbeat, if it has one. */
void sync_heartbeat(void);

/**
 * Whether the current failure deserves a log line: each of the first ones,
 * then one a minute or so once the delay is at its maximum, so an outage of
 * an hour does not write a line every five seconds.
 */
int sync_backoff_should_log(const sync_backoff_t *b);

/** Starts b at SYNC_BACKOFF_MIN_MS (after a success). */
void sync_backoff_reset(sync_backoff_t *b);

/**
 * Sleeps the current delay, less up to 25% of random jitter so several daemons
 * do not reconnect in step, then doubles it up to SYNC_BACKOFF_MAX_MS.
 * Returns the delay slept in milliseconds.
 */
unsigned sync_backoff_wait(sync_backoff_t *b);

#endif
