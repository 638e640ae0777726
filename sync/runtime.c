#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <sodium.h>
#include "runtime.h"

/* Longest uninterrupted nap inside sync_sleep_ms: bounds how late a stop is seen. */
#define SYNC_SLEEP_SLICE_MS 100

/* Lock-free, so both the handler and the lanes' threads may touch it. */
static atomic_int stop_flag;
/* The calling thread's heartbeat (sync_heartbeat_attach). */
static _Thread_local _Atomic uint64_t *heartbeat;

static void on_stop_signal(int signo)
{
    (void)signo;
    atomic_store(&stop_flag, 1);
}

void sync_signals_install(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    /* No SA_RESTART: a blocking call returns EINTR and the loop looks at the flag. */
    sa.sa_handler = on_stop_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    /* A write to a Redis or PostgreSQL socket the peer closed must fail, not kill us. */
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}

int sync_thread_start(pthread_t *thread, void *(*fn)(void *), void *arg)
{
    sigset_t block, old;
    int err;

    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    err = pthread_create(thread, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return err;
}

int sync_stop_requested(void)
{
    return atomic_load_explicit(&stop_flag, memory_order_relaxed) != 0;
}

uint64_t sync_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

long long sync_clock_ms(long long offset_s)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ((long long)ts.tv_sec + offset_s) * 1000 + ts.tv_nsec / 1000000;
}

void sync_sleep_ms(unsigned ms)
{
    uint64_t end = sync_now_ms() + ms, now;

    while (!sync_stop_requested() && (now = sync_now_ms()) < end) {
        uint64_t left = end - now;
        struct timespec ts;
        if (left > SYNC_SLEEP_SLICE_MS)
            left = SYNC_SLEEP_SLICE_MS;
        ts.tv_sec = 0;
        ts.tv_nsec = (long)left * 1000000L;
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !sync_stop_requested())
            ;
        sync_heartbeat();
    }
}

void sync_heartbeat_attach(_Atomic uint64_t *beat)
{
    heartbeat = beat;
    sync_heartbeat();
}

void sync_heartbeat(void)
{
    if (heartbeat != NULL)
        atomic_store_explicit(heartbeat, sync_now_ms(), memory_order_relaxed);
}

void sync_backoff_reset(sync_backoff_t *b)
{
    b->delay_ms = SYNC_BACKOFF_MIN_MS;
    b->failures = 0;
}

int sync_backoff_should_log(const sync_backoff_t *b)
{
    /* Eight failures take the delay to its maximum; then every twelfth is about a minute apart. */
    return b->failures < 8 || b->failures % 12 == 0;
}

unsigned sync_backoff_wait(sync_backoff_t *b)
{
    unsigned delay = b->delay_ms;

    if (delay < SYNC_BACKOFF_MIN_MS)
        delay = SYNC_BACKOFF_MIN_MS;
    delay = delay - delay / 4 + randombytes_uniform(delay / 4 + 1);
    sync_sleep_ms(delay);
    ++b->failures;
    b->delay_ms = b->delay_ms >= SYNC_BACKOFF_MAX_MS / 2 ? SYNC_BACKOFF_MAX_MS : b->delay_ms * 2;
    if (b->delay_ms < SYNC_BACKOFF_MIN_MS)
        b->delay_ms = SYNC_BACKOFF_MIN_MS;
    return delay;
}
