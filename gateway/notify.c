#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include "ig_log.h"
#include "ig_notify.h"
#include "gateway.h"
#include "notify.h"
#include "redis_policy.h"

/* How often each loop asks Redis whether the library answers. */
#define GW_PROBE_INTERVAL_MS 1000
/* The main thread looks at the loops this often (or every watchdog period, if shorter). */
#define GW_NOTIFY_TICK_MS 100
/* The watchdog is fed while every loop ticked within this many ping periods (WatchdogSec / 4 each). */
#define GW_STALL_PERIODS 3

/* Thread 0's loop only. */
static int policy_checked;

static uint64_t now_ms(void)
{
    return gw_now_ns() / 1000000u;
}

static void on_probe_reply(void *data, redisReply *reply, const char *err, uint64_t rtt_ns)
{
    gw_thread_t *thread = data;
    int ok = err == NULL && reply->type == REDIS_REPLY_STRING;

    thread->notify.probing = 0;
    atomic_store(&thread->notify.redis_ok, ok);
    /* Once Redis answers, whether it may evict keys (thread 0 only: one warning per start). */
    if (ok && thread->index == 0 && !policy_checked) {
        policy_checked = 1;
        gw_redis_check_policy(thread->redis);
    }
}

void gw_notify_tick(gw_thread_t *thread)
{
    static const char *argv[] = {"FCALL_RO", "ig_ready", "0"};
    static const size_t argvlen[] = {8, 8, 1};
    gw_notify_thread_t *n = &thread->notify;
    uint64_t now = now_ms();

    if (!n->started) {
        char name[16];
        /* Named, so that an operator (or a test) can tell the loops from the other threads. */
        snprintf(name, sizeof(name), "gw-loop-%u", thread->index);
        pthread_setname_np(pthread_self(), name);
        n->started = 1;
    }
    atomic_store(&n->beat_ms, now);
    if (n->probing || now < n->next_probe_ms || thread->draining)
        return;
    n->next_probe_ms = now + GW_PROBE_INTERVAL_MS;
    if (!gw_redis_is_ready(thread->redis) || gw_redis_call(thread->redis, on_probe_reply, thread, 3, argv, argvlen) != 0) {
        atomic_store(&n->redis_ok, 0);
        return;
    }
    n->probing = 1;
}

/* Whether every loop ticked within the last GW_STALL_PERIODS ping periods. */
static int loops_alive(uint64_t now, uint64_t period_ms)
{
    for (unsigned i = 0; i != gw.num_threads; ++i)
        if (now - atomic_load(&gw.threads[i].notify.beat_ms) > GW_STALL_PERIODS * period_ms)
            return 0;
    return 1;
}

static unsigned loops_with_redis(void)
{
    unsigned n = 0;
    for (unsigned i = 0; i != gw.num_threads; ++i)
        n += atomic_load(&gw.threads[i].notify.redis_ok) != 0;
    return n;
}

int gw_notify_wait(const sigset_t *set)
{
    uint64_t period_ms = ig_notify_watchdog_period_ms(), tick_ms = GW_NOTIFY_TICK_MS;
    int ready = 0, sig;

    if (period_ms != 0 && period_ms < tick_ms)
        tick_ms = period_ms;
    for (;;) {
        struct timespec ts = {(time_t)(tick_ms / 1000), (long)(tick_ms % 1000) * 1000000L};
        uint64_t now;
        unsigned ok;

        if ((sig = sigtimedwait(set, NULL, &ts)) > 0)
            break;
        if (sig < 0 && errno != EAGAIN && errno != EINTR) {
            ig_error("msg=\"sigtimedwait failed\" err=\"%s\"", strerror(errno));
            sig = SIGTERM;
            break;
        }
        now = now_ms();
        ok = loops_with_redis();
        if (!ready && ok == gw.num_threads) {
            ready = 1;
            ig_info("msg=\"gateway ready\" threads=%u redis=%s", gw.num_threads, gw.cfg.redis_url);
            ig_notify("READY=1");
        }
        if (ok == gw.num_threads)
            ig_notify_status("serving on %s:%u with %u event loops; Redis %s answers", gw.cfg.listen_host, gw.cfg.listen_port,
                             gw.num_threads, gw.cfg.redis_url);
        else
            ig_notify_status("%s Redis %s: the library answers on %u of %u event loops%s", ready ? "degraded:" : "waiting for",
                             gw.cfg.redis_url, ok, gw.num_threads, ready ? "; the others answer 503" : "");
        if (period_ms != 0 && loops_alive(now, period_ms))
            ig_notify_watchdog(now);
    }
    ig_notify("STOPPING=1\nSTATUS=stopping: draining in-flight requests");
    return sig;
}
