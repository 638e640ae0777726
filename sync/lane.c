#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "layout.h"
#include "ig_log.h"
#include "db.h"
#include "lane.h"
#include "metrics.h"
#include "redeemers.h"

/* How often the streams are trimmed below their marks. */
#define SYNC_TRIM_INTERVAL_MS 10000
/* How long a lane that holds no lease waits before trying again (its heartbeat goes on). */
#define SYNC_IDLE_SLEEP_MS 500

void sync_lane_init(sync_lane_t *l, const ig_config_t *cfg, const sync_keys_t *keys, sync_summary_t *summary, unsigned id,
                    unsigned first, unsigned count)
{
    memset(l, 0, sizeof(*l));
    l->cfg = cfg;
    l->summary = summary;
    l->keys = keys;
    l->id = id;
    sync_stream_init(&l->stream, cfg);
    sync_progress_init(&l->progress, first, count);
    sync_apply_init(&l->apply, cfg, keys);
    sync_points_init(&l->points, cfg, keys);
    sync_batch_init(&l->batch);
    sync_backoff_reset(&l->redis_backoff);
    sync_backoff_reset(&l->pg_backoff);
    l->next_trim_ms = sync_now_ms() + SYNC_TRIM_INTERVAL_MS;
    atomic_init(&l->beat_ms, sync_now_ms());
    atomic_init(&l->ready, 0);
}

void sync_lane_dispose(sync_lane_t *l)
{
    sync_stream_disconnect(&l->stream);
    if (l->pg != NULL)
        PQfinish(l->pg);
    l->pg = NULL;
    sync_batch_dispose(&l->batch);
    sync_apply_dispose(&l->apply);
}

/* Whether this lane holds the waitlist's bucket: it then runs the points write-back and jobs. */
static int owns_waitlist(const sync_lane_t *l)
{
    return l->progress.held[IG_WL_BUCKET];
}

/* What the lane waits for, for STATUS and the metrics. */
static void set_waiting(sync_lane_t *l, sync_lane_wait_t what)
{
    if (l->id < SYNC_METRICS_MAX_LANES)
        atomic_store(&sync_metrics.waiting[l->id], (int)what);
}

/* Connects to Redis, retrying with backoff. Returns -1 only when a stop was requested. */
static int ensure_redis(sync_lane_t *l)
{
    while (!sync_route_is_open(&l->stream.route)) {
        if (sync_stop_requested())
            return -1;
        if (sync_stream_connect(&l->stream) == 0) {
            ig_info("msg=\"connected to redis\" lane=%u", l->id);
            set_waiting(l, SYNC_LANE_WAIT_NONE);
            if (l->redis_was_up)
                atomic_fetch_add(&sync_metrics.reconnects[SYNC_STORE_REDIS], 1);
            l->redis_was_up = 1;
            sync_backoff_reset(&l->redis_backoff);
            return 0;
        }
        set_waiting(l, SYNC_LANE_WAIT_REDIS);
        atomic_fetch_add(&sync_metrics.connect_failures[SYNC_STORE_REDIS], 1);
        if (sync_backoff_should_log(&l->redis_backoff))
            ig_warn("msg=\"redis connection failed\" lane=%u reason=\"%s\" attempt=%u retry_ms=%u", l->id, l->stream.errstr,
                    l->redis_backoff.failures + 1, l->redis_backoff.delay_ms);
        sync_backoff_wait(&l->redis_backoff);
    }
    return 0;
}

/* Connects to PostgreSQL if needed, retrying with backoff. Returns -1 only when a stop was requested. */
static int ensure_pg(sync_lane_t *l)
{
    char err[SYNC_DB_ERR_BYTES];

    while (l->pg == NULL) {
        if (sync_stop_requested())
            return -1;
        if ((l->pg = sync_layout_connect_pg(l->cfg, err, sizeof(err))) != NULL) {
            ig_info("msg=\"connected to postgresql\" lane=%u server_version=%d", l->id, PQserverVersion(l->pg));
            set_waiting(l, SYNC_LANE_WAIT_NONE);
            if (l->pg_was_up)
                atomic_fetch_add(&sync_metrics.reconnects[SYNC_STORE_POSTGRESQL], 1);
            l->pg_was_up = 1;
            sync_backoff_reset(&l->pg_backoff);
            return 0;
        }
        set_waiting(l, SYNC_LANE_WAIT_POSTGRESQL);
        atomic_fetch_add(&sync_metrics.connect_failures[SYNC_STORE_POSTGRESQL], 1);
        if (sync_backoff_should_log(&l->pg_backoff))
            ig_warn("msg=\"postgresql connection failed\" lane=%u %s attempt=%u retry_ms=%u", l->id, err,
                    l->pg_backoff.failures + 1, l->pg_backoff.delay_ms);
        sync_backoff_wait(&l->pg_backoff);
    }
    return 0;
}

/* Reads every leased stream again from its mark: what was read and not committed is read again. */
static void rewind_streams(sync_lane_t *l)
{
    sync_batch_clear(&l->batch);
    for (unsigned b = l->progress.first; b != l->progress.first + l->progress.count; ++b)
        if (l->progress.held[b])
            sync_stream_seek(&l->stream, b, l->progress.applied[b]);
}

/* Drops the PostgreSQL connection, and the leases with it: nothing is read until they are taken again. */
static void drop_pg(sync_lane_t *l)
{
    if (l->pg != NULL)
        PQfinish(l->pg);
    l->pg = NULL;
    for (unsigned b = l->progress.first; b != l->progress.first + l->progress.count; ++b) {
        if (l->progress.held[b]) {
            sync_stream_stop(&l->stream, b);
            sync_metrics_mark(b, 0, l->progress.applied[b]);
        }
    }
    if (sync_progress_held(&l->progress) != 0)
        ig_warn("msg=\"leases released with the postgresql connection\" lane=%u leases=%u", l->id,
                sync_progress_held(&l->progress));
    sync_progress_drop(&l->progress);
    sync_batch_clear(&l->batch);
}

/* Drops the Redis connection after a failed call; the batch being read is read again from the marks. */
static void redis_failed(sync_lane_t *l, const char *what)
{
    ig_warn("msg=\"redis %s failed, reconnecting\" lane=%u reason=\"%s\"", what, l->id, l->stream.errstr);
    atomic_fetch_add(&sync_metrics.errors[SYNC_STORE_REDIS], 1);
    sync_stream_disconnect(&l->stream);
    rewind_streams(l);
}

/* Takes the leases of the lane's buckets that are free, and reads their streams from their marks. Returns 0 or -1. */
static int take_leases(sync_lane_t *l)
{
    int gained[IG_BUCKETS_MAX];
    char mark[SYNC_ENTRY_ID_BYTES];

    if (sync_progress_acquire(&l->progress, l->pg, 0, gained) != 0) {
        ig_warn("msg=\"leases could not be taken\" lane=%u %s", l->id, l->progress.errstr);
        drop_pg(l);
        return -1;
    }
    for (unsigned b = l->progress.first; b != l->progress.first + l->progress.count; ++b) {
        if (!gained[b])
            continue;
        snprintf(mark, sizeof(mark), "%" PRIu64 "-%" PRIu64, l->progress.applied[b][0], l->progress.applied[b][1]);
        ig_info("msg=\"lease taken, reading the stream from its mark\" lane=%u stream=%s mark=%s", l->id, l->stream.keys[b], mark);
        sync_stream_seek(&l->stream, b, l->progress.applied[b]);
        sync_metrics_mark(b, 1, l->progress.applied[b]);
    }
    return 0;
}

/* One line per malformed event: it is skipped (its mark moves past it with the batch). */
static void log_malformed(const sync_lane_t *l, const sync_batch_t *b)
{
    for (size_t i = 0; i != b->num_events; ++i) {
        const sync_event_t *ev = &b->events[i];
        char code[IG_LOG_REDACT_BYTES] = "none", entry[SYNC_ENTRY_ID_BYTES];
        if (ev->type != SYNC_EVENT_MALFORMED)
            continue;
        if (ev->code != NULL)
            ig_log_redact(code, ev->code, strlen(ev->code));
        ig_warn("msg=\"malformed event skipped\" lane=%u batch=%llu stream=%s entry=%s item=%u code=%s reason=\"%s\"", l->id,
                (unsigned long long)b->seq, l->stream.keys[ev->bucket], sync_event_entry_id(entry, ev), ev->item, code, ev->reason);
    }
}

/*
 * Applies the batch. On COMMIT it is done (returns 1); on a failure its
 * entries are read again from the marks after a backoff (a broken
 * connection, or a mark another daemon moved, also gives up the leases,
 * which are then taken again with fresh marks) and 0 is returned.
 */
static int apply_batch(sync_lane_t *l)
{
    sync_batch_t *b = &l->batch;
    sync_apply_stats_t stats;
    uint64_t started = sync_now_ms();
    int conflict = 0;

    b->seq = ++l->seq;
    if (sync_redeemers_register(sync_stream_redis(&l->stream, IG_WL_BUCKET), l->keys, b, l->stream.errstr,
                                sizeof(l->stream.errstr)) != 0) {
        redis_failed(l, "redeemer registration");
        return 0;
    }
    if (sync_apply_batch(&l->apply, l->pg, &l->progress, b, &stats, &conflict) == 0) {
        sync_backoff_reset(&l->pg_backoff);
        ig_log(IG_LOG_DEBUG, "msg=\"batch committed\" lane=%u batch=%llu events=%zu redeemed=%zu product=%zu commit_ms=%.2f", l->id,
               (unsigned long long)b->seq, stats.events, stats.redeemed, stats.product, stats.txn_ms);
        if (stats.malformed != 0)
            log_malformed(l, b);
        sync_summary_add(l->summary, &stats, started);
        sync_metrics_batch(b, &stats);
        for (unsigned k = l->progress.first; k != l->progress.first + l->progress.count; ++k)
            if (b->has[k])
                sync_metrics_mark(k, 1, l->progress.applied[k]);
        sync_batch_clear(b);
        return 1;
    }
    atomic_fetch_add(&sync_metrics.batch_failures, 1);
    atomic_fetch_add(&sync_metrics.errors[SYNC_STORE_POSTGRESQL], 1);
    if (conflict || sync_backoff_should_log(&l->pg_backoff))
        ig_error("msg=\"batch not applied, reading it again\" lane=%u batch=%llu events=%zu %s attempt=%u retry_ms=%u", l->id,
                 (unsigned long long)b->seq, b->num_events, l->apply.errstr, l->pg_backoff.failures + 1, l->pg_backoff.delay_ms);
    if (conflict || PQstatus(l->pg) != CONNECTION_OK)
        drop_pg(l);
    else
        rewind_streams(l);
    sync_backoff_wait(&l->pg_backoff);
    return 0;
}

/*
 * Between batches: the points records of the users the last batch touched
 * (after its COMMIT), the timed jobs, and the trimming of the streams. A
 * failure only delays: the refresh writes the users again, the next trim
 * cuts what this one did not.
 */
static void between_batches(sync_lane_t *l, int committed)
{
    const sync_product_t *p = &l->apply.product;
    uint64_t now = sync_now_ms();
    long long removed;

    redisContext *wl = sync_stream_redis(&l->stream, IG_WL_BUCKET);
    if (l->pg != NULL && wl != NULL && owns_waitlist(l)) {
        if (committed && p->num_touched != 0)
            (void)sync_points_push(&l->points, l->pg, wl, p->touched, p->num_touched);
        (void)sync_points_tick(&l->points, l->pg, wl);
        if (wl->err != 0) {
            snprintf(l->stream.errstr, sizeof(l->stream.errstr), "%s", wl->errstr);
            redis_failed(l, "points write-back");
        }
    }
    if (sync_route_is_open(&l->stream.route) && now >= l->next_trim_ms) {
        l->next_trim_ms = now + SYNC_TRIM_INTERVAL_MS;
        if (sync_stream_trim(&l->stream, (const uint64_t(*)[2])l->progress.applied, &removed) != 0)
            redis_failed(l, "trim");
        else if (removed != 0)
            ig_log(IG_LOG_DEBUG, "msg=\"streams trimmed\" lane=%u removed=%lld", l->id, removed);
    }
}

void *sync_lane_main(void *arg)
{
    sync_lane_t *l = arg;
    char name[16];

    /* Named, so that an operator (or a test) can tell the lanes from the other threads. */
    snprintf(name, sizeof(name), "sync-lane-%u", l->id);
    pthread_setname_np(pthread_self(), name);
    sync_heartbeat_attach(&l->beat_ms);
    while (!sync_stop_requested()) {
        int committed = 0;
        sync_heartbeat();
        if (ensure_pg(l) != 0 || ensure_redis(l) != 0)
            break;
        atomic_store(&l->ready, 1);
        if (take_leases(l) != 0)
            continue;
        if (sync_progress_held(&l->progress) == 0) {
            /* Another daemon applies these buckets: wait to take over. */
            sync_sleep_ms(SYNC_IDLE_SLEEP_MS);
            continue;
        }
        if (sync_stream_fill(&l->stream, &l->batch, l->cfg->sync_batch_window_ms, l->cfg->sync_batch_max_events) != 0) {
            redis_failed(l, "read");
            continue;
        }
        if (l->batch.entries != 0 && !sync_stop_requested())
            committed = apply_batch(l);
        between_batches(l, committed);
    }
    sync_stream_disconnect(&l->stream);
    if (l->pg != NULL)
        PQfinish(l->pg);
    l->pg = NULL;
    sync_heartbeat_attach(NULL);
    return NULL;
}
