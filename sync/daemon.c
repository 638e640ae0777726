#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include "ig_log.h"
#include "daemon.h"
#include "gate_run.h"
#include "lane.h"
#include "notify.h"
#include "runtime.h"
#include "summary.h"

/*
 * Lanes, each with its own streams and connections (lane.h). Two keep two
 * PostgreSQL backends busy, which is what a small machine has cores for;
 * more would share the same cores. Must divide IG_BUCKETS.
 */
#define SYNC_LANES 2
_Static_assert(IG_BUCKETS % SYNC_LANES == 0, "SYNC_LANES must divide IG_BUCKETS");

/* How often the main thread looks at the lanes, the summary and the watchdog. */
#define SYNC_TICK_MS 100
/* The watchdog is fed while every lane beat within this many watchdog periods (WATCHDOG_USEC / 4 each). */
#define SYNC_STALL_PERIODS 3

static int check_config(const ig_config_t *cfg)
{
    const char *err = NULL;

    if (cfg->sync_batch_size == 0)
        err = "sync_batch_size must be at least 1";
    else if (cfg->sync_block_ms == 0)
        err = "sync_block_ms must be at least 1 (0 would block XREAD forever and delay shutdown)";
    else if (cfg->sync_batch_max_events == 0)
        err = "sync_batch_max_events must be at least 1";
    if (err != NULL)
        ig_error("msg=\"invalid configuration\" reason=\"%s\"", err);
    return err == NULL ? 0 : -1;
}

/* Whether every lane beat recently enough for the watchdog to be fed (a hung lane starves it). */
static int lanes_alive(sync_lane_t *lanes, uint64_t period_ms)
{
    uint64_t now = sync_now_ms();

    for (unsigned i = 0; i != SYNC_LANES; ++i)
        if (now - atomic_load(&lanes[i].beat_ms) > SYNC_STALL_PERIODS * period_ms)
            return 0;
    return 1;
}

static int lanes_ready(sync_lane_t *lanes)
{
    for (unsigned i = 0; i != SYNC_LANES; ++i)
        if (!atomic_load(&lanes[i].ready))
            return 0;
    return 1;
}

/*
 * Starts the lanes with SIGTERM and SIGINT blocked, so that the main thread
 * takes the signals and its sleeps end at once. Returns the number started.
 */
static unsigned start_lanes(sync_lane_t *lanes)
{
    sigset_t block, old;
    unsigned n = 0;

    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    for (; n != SYNC_LANES; ++n) {
        int err = pthread_create(&lanes[n].thread, NULL, sync_lane_main, &lanes[n]);
        if (err != 0) {
            ig_error("msg=\"cannot start a lane\" lane=%u reason=\"%s\"", n, strerror(err));
            break;
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return n;
}

int sync_daemon_run(const ig_config_t *cfg, const sync_keys_t *keys)
{
    sync_lane_t lanes[SYNC_LANES];
    sync_summary_t summary;
    sync_gate_job_t gate;
    uint64_t period_ms = sync_notify_watchdog_period_ms();
    unsigned started;
    int ready = 0, ret = 0;

    if (check_config(cfg) != 0)
        return -1;
    sync_summary_init(&summary);
    for (unsigned i = 0; i != SYNC_LANES; ++i)
        sync_lane_init(&lanes[i], cfg, keys, &summary, i, i * (IG_BUCKETS / SYNC_LANES), IG_BUCKETS / SYNC_LANES);
    ig_info("msg=\"sync daemon starting\" consumer=%s lanes=%d batch_size=%u block_ms=%u batch_window_ms=%u "
            "batch_max_events=%u",
            cfg->sync_consumer, SYNC_LANES, cfg->sync_batch_size, cfg->sync_block_ms, cfg->sync_batch_window_ms,
            cfg->sync_batch_max_events);

    sync_gate_job_init(&gate, cfg);
    if ((started = start_lanes(lanes)) != SYNC_LANES || sync_gate_job_start(&gate) != 0) {
        /* Without every lane some streams would never be read (nor the gate evaluated): stop the others. */
        raise(SIGTERM);
        ret = -1;
    }
    while (!sync_stop_requested()) {
        sync_sleep_ms(SYNC_TICK_MS);
        if (!ready && (ready = lanes_ready(lanes)))
            sync_notify("READY=1");
        if (period_ms != 0 && lanes_alive(lanes, period_ms))
            sync_notify_watchdog();
        sync_summary_flush(&summary, 0);
    }

    sync_notify("STOPPING=1");
    for (unsigned i = 0; i != started; ++i)
        pthread_join(lanes[i].thread, NULL);
    sync_gate_job_stop(&gate);
    sync_summary_flush(&summary, 1);
    ig_info("msg=\"sync daemon stopping\" consumer=%s batches=%llu", cfg->sync_consumer, sync_summary_total(&summary));
    for (unsigned i = 0; i != SYNC_LANES; ++i)
        sync_lane_dispose(&lanes[i]);
    sync_summary_dispose(&summary);
    return ret;
}
