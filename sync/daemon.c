#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include "ig_log.h"
#include "ig_notify.h"
#include "daemon.h"
#include "db.h"
#include "gate_run.h"
#include "retention_run.h"
#include "lane.h"
#include "metrics.h"
#include "metrics_http.h"
#include "layout.h"
#include "migrate.h"
#include "runtime.h"
#include "summary.h"

/*
 * Lanes, each with its own streams and connections (lane.h). Two keep two
 * PostgreSQL backends busy, which is what a small machine has cores for;
 * more would share the same cores. Must divide every bucket count (a power
 * of two from IG_BUCKETS_MIN on).
 */
#define SYNC_LANES 2
_Static_assert(IG_BUCKETS_MIN % SYNC_LANES == 0, "SYNC_LANES must divide every bucket count");
_Static_assert(SYNC_LANES <= SYNC_METRICS_MAX_LANES, "the metrics keep a state per lane");

/* How often the main thread looks at the lanes, the summary and the watchdog. */
#define SYNC_TICK_MS 100
/* The watchdog is fed while every lane beat within this many watchdog periods (WATCHDOG_USEC / 4 each). */
#define SYNC_STALL_PERIODS 3
/* Until the schema is current, it is checked this often (a connection of the main thread's own each time). */
#define SYNC_MIGRATIONS_CHECK_MS 1000
#define SYNC_WAIT_TEXT_BYTES 768
/* "PostgreSQL (lanes 0, 1) and Redis (lanes 0, 1)", with room for more lanes. */
#define SYNC_STORES_TEXT_BYTES 128

/*
 * What the daemon waits for before it is ready (READY=1): every lane
 * reached both stores, and PostgreSQL holds every migration of
 * migrations_dir. Main thread only.
 */
typedef struct sync_readiness_t {
    int migrations_current;            /**< the last check found nothing to apply */
    uint64_t next_check_ms;            /**< when to check the migrations again */
    char why[SYNC_WAIT_TEXT_BYTES];    /**< what the last check found, for STATUS */
    char logged[SYNC_WAIT_TEXT_BYTES]; /**< what was last logged (each new reason once) */
} sync_readiness_t;

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
 * Appends " and " (when out names a store already), the store's name and the
 * lanes waiting for it ("PostgreSQL (lanes 0, 1)") to out, which has room
 * for every store and lane; nothing when no lane waits for it.
 */
static void describe_waiting(char out[SYNC_STORES_TEXT_BYTES], sync_lane_t *lanes, sync_lane_wait_t store, const char *name)
{
    unsigned ids[SYNC_LANES], n = 0;
    size_t used = strlen(out);

    for (unsigned i = 0; i != SYNC_LANES; ++i)
        if (atomic_load(&sync_metrics.waiting[i]) == (int)store)
            ids[n++] = i;
    if (n == 0)
        return;
    used += (size_t)snprintf(out + used, SYNC_STORES_TEXT_BYTES - used, "%s%s (lane%s", used != 0 ? " and " : "", name,
                             n > 1 ? "s" : "");
    for (unsigned k = 0; k != n && used < SYNC_STORES_TEXT_BYTES; ++k)
        used += (size_t)snprintf(out + used, SYNC_STORES_TEXT_BYTES - used, "%s %u", k != 0 ? "," : "", ids[k]);
    if (used < SYNC_STORES_TEXT_BYTES)
        snprintf(out + used, SYNC_STORES_TEXT_BYTES - used, ")");
}

/* Checks once whether the schema is current (on a connection of its own); the result in r. Logs each new reason once. */
static void check_migrations(sync_readiness_t *r, const ig_config_t *cfg)
{
    char err[SYNC_DB_ERR_BYTES], first[256];
    /* The bucket count is compared too: lanes that connected before migration 016 had no record to compare with. */
    PGconn *conn = sync_layout_connect_pg(cfg, err, sizeof(err));
    int pending = -1;

    if (conn != NULL) {
        pending = sync_migrate_pending(conn, cfg->migrations_dir, first, sizeof(first), err, sizeof(err));
        PQfinish(conn);
    }
    r->migrations_current = pending == 0;
    if (pending == 0)
        return;
    if (pending > 0)
        snprintf(r->why, sizeof(r->why), "waiting for migrations: %d not applied (first %s); run invitegate-sync migrate", pending,
                 first);
    else
        snprintf(r->why, sizeof(r->why), "waiting for the schema check: %s", err);
    if (strcmp(r->why, r->logged) != 0) {
        if (pending > 0)
            ig_warn("msg=\"not ready: migrations not applied; run invitegate-sync migrate\" migrations_dir=%s pending=%d first=%s",
                    cfg->migrations_dir, pending, first);
        else
            ig_warn("msg=\"not ready: the schema could not be checked\" migrations_dir=%s %s", cfg->migrations_dir, err);
        snprintf(r->logged, sizeof(r->logged), "%s", r->why);
    }
}

/*
 * The systemd STATUS: what the daemon waits for, or what it does. Sent only
 * when it changed (ig_notify_status).
 */
static void send_status(int ready, const sync_readiness_t *r, sync_lane_t *lanes, sync_gate_job_t *gate, sync_summary_t *summary)
{
    char stores[SYNC_STORES_TEXT_BYTES] = "";

    describe_waiting(stores, lanes, SYNC_LANE_WAIT_POSTGRESQL, "PostgreSQL");
    describe_waiting(stores, lanes, SYNC_LANE_WAIT_REDIS, "Redis");
    if (stores[0] != '\0')
        ig_notify_status("%s%s%s", ready ? "" : "waiting for ", stores, ready ? " unreachable: events wait in Redis" : "");
    else if (!lanes_ready(lanes))
        ig_notify_status("waiting for the lanes to reach Redis and PostgreSQL");
    else if (!ready)
        ig_notify_status("%s", r->why[0] != '\0' ? r->why : "checking the migrations");
    else if (atomic_load(&gate->failing))
        ig_notify_status("trust gate not evaluated (a store fails; the gateways keep the last decision); %llu batches committed",
                         sync_summary_total(summary));
    else
        ig_notify_status("%.0f events/s, %llu batches committed", sync_summary_rate(summary), sync_summary_total(summary));
}

/* Starts the lanes (sync_thread_start). Returns the number started. */
static unsigned start_lanes(sync_lane_t *lanes)
{
    unsigned n = 0;

    for (; n != SYNC_LANES; ++n) {
        int err = sync_thread_start(&lanes[n].thread, sync_lane_main, &lanes[n]);
        if (err != 0) {
            ig_error("msg=\"cannot start a lane\" lane=%u reason=\"%s\"", n, strerror(err));
            break;
        }
    }
    return n;
}

int sync_daemon_run(const ig_config_t *cfg, const sync_keys_t *keys)
{
    sync_lane_t lanes[SYNC_LANES];
    sync_summary_t summary;
    sync_gate_job_t gate;
    sync_retention_job_t retention;
    sync_readiness_t readiness;
    sync_metrics_server_t metrics_server;
    uint64_t period_ms = ig_notify_watchdog_period_ms();
    unsigned started;
    int ready = 0, ret = 0;

    if (check_config(cfg) != 0)
        return -1;
    sync_summary_init(&summary);
    memset(&readiness, 0, sizeof(readiness));
    memset(&retention, 0, sizeof(retention));
    for (unsigned i = 0; i != SYNC_LANES; ++i)
        sync_lane_init(&lanes[i], cfg, keys, &summary, i, i * (cfg->buckets / SYNC_LANES), cfg->buckets / SYNC_LANES);
    ig_info("msg=\"sync daemon starting\" consumer=%s lanes=%d buckets=%u batch_size=%u block_ms=%u batch_window_ms=%u "
            "batch_max_events=%u",
            cfg->sync_consumer, SYNC_LANES, cfg->buckets, cfg->sync_batch_size, cfg->sync_block_ms, cfg->sync_batch_window_ms,
            cfg->sync_batch_max_events);

    sync_gate_job_init(&gate, cfg);
    sync_metrics.lanes = SYNC_LANES;
    sync_metrics.buckets = cfg->buckets;
    if ((started = start_lanes(lanes)) != SYNC_LANES || sync_gate_job_start(&gate) != 0 ||
        sync_retention_job_start(&retention, cfg) != 0) {
        /* Without every lane some streams would never be read (nor the gate evaluated): stop the others. */
        raise(SIGTERM);
        ret = -1;
    }
    (void)sync_metrics_server_start(&metrics_server, cfg);
    while (!sync_stop_requested()) {
        sync_sleep_ms(SYNC_TICK_MS);
        if (!ready && lanes_ready(lanes) && sync_now_ms() >= readiness.next_check_ms) {
            check_migrations(&readiness, cfg);
            readiness.next_check_ms = sync_now_ms() + SYNC_MIGRATIONS_CHECK_MS;
            if ((ready = readiness.migrations_current) != 0) {
                ig_info("msg=\"sync daemon ready\" consumer=%s migrations_dir=%s", cfg->sync_consumer, cfg->migrations_dir);
                atomic_store(&sync_metrics.ready, 1);
                ig_notify("READY=1");
            }
        }
        send_status(ready, &readiness, lanes, &gate, &summary);
        if (period_ms != 0 && lanes_alive(lanes, period_ms))
            ig_notify_watchdog(sync_now_ms());
        sync_summary_flush(&summary, 0);
    }

    ig_notify("STOPPING=1\nSTATUS=stopping: finishing the batches in PostgreSQL");
    for (unsigned i = 0; i != started; ++i)
        pthread_join(lanes[i].thread, NULL);
    sync_gate_job_stop(&gate);
    sync_retention_job_stop(&retention);
    sync_metrics_server_stop(&metrics_server);
    sync_summary_flush(&summary, 1);
    ig_info("msg=\"sync daemon stopping\" consumer=%s batches=%llu", cfg->sync_consumer, sync_summary_total(&summary));
    for (unsigned i = 0; i != SYNC_LANES; ++i)
        sync_lane_dispose(&lanes[i]);
    sync_summary_dispose(&summary);
    return ret;
}
