#include <assert.h>
#include <stdio.h>
#include <string.h>
#include "ig_log.h"
#include "db.h"
#include "lane.h"

/* How often the streams are trimmed below their oldest unacknowledged entry. */
#define SYNC_TRIM_INTERVAL_MS 10000
/* Floor of the claim period (sync_claim_idle_ms / 2), so claiming never starves reading. */
#define SYNC_CLAIM_MIN_INTERVAL_MS 100

void sync_lane_init(sync_lane_t *l, const ig_config_t *cfg, const sync_keys_t *keys, sync_summary_t *summary, unsigned id,
                    unsigned first, unsigned count)
{
    memset(l, 0, sizeof(*l));
    l->cfg = cfg;
    l->summary = summary;
    l->id = id;
    sync_stream_init(&l->stream, cfg, first, count);
    sync_apply_init(&l->apply, cfg, keys);
    l->owns_waitlist = first <= IG_WL_BUCKET && IG_WL_BUCKET < first + count;
    sync_points_init(&l->points, cfg, keys);
    for (size_t i = 0; i != SYNC_LANE_BATCHES; ++i)
        sync_batch_init(&l->batches[i]);
    l->fetched = &l->batches[0];
    l->inflight = &l->batches[1];
    l->done = &l->batches[2];
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
    for (size_t i = 0; i != SYNC_LANE_BATCHES; ++i)
        sync_batch_dispose(&l->batches[i]);
    sync_apply_dispose(&l->apply);
}

static void swap(sync_batch_t **x, sync_batch_t **y)
{
    sync_batch_t *t = *x;
    *x = *y;
    *y = t;
}

/* Connects to Redis, retrying with backoff. Returns -1 only when a stop was requested. */
static int ensure_redis(sync_lane_t *l)
{
    while (l->stream.redis == NULL) {
        if (sync_stop_requested())
            return -1;
        if (sync_stream_connect(&l->stream) == 0) {
            ig_info("msg=\"connected to redis, reading own pending entries first\" lane=%u consumer=%s streams=%u-%u group=%s",
                    l->id, l->cfg->sync_consumer, l->stream.first, l->stream.first + l->stream.count - 1, IG_STREAM_GROUP);
            sync_backoff_reset(&l->redis_backoff);
            return 0;
        }
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
        if ((l->pg = sync_db_connect(l->cfg->database_url, err, sizeof(err))) != NULL) {
            ig_info("msg=\"connected to postgresql\" lane=%u server_version=%d", l->id, PQserverVersion(l->pg));
            sync_backoff_reset(&l->pg_backoff);
            return 0;
        }
        if (sync_backoff_should_log(&l->pg_backoff))
            ig_warn("msg=\"postgresql connection failed\" lane=%u %s attempt=%u retry_ms=%u", l->id, err,
                    l->pg_backoff.failures + 1, l->pg_backoff.delay_ms);
        sync_backoff_wait(&l->pg_backoff);
    }
    return 0;
}

/* Drops the Redis connection after a failed call; the fetched batch's entries stay pending. */
static void redis_failed(sync_lane_t *l, const char *what)
{
    ig_warn("msg=\"redis %s failed, reconnecting\" lane=%u consumer=%s reason=\"%s\"", what, l->id, l->cfg->sync_consumer,
            l->stream.errstr);
    sync_stream_disconnect(&l->stream);
    sync_batch_clear(l->fetched);
    l->claiming = 0;
}

/* Runs the timers: one round of a claim pass into fetched, or a trim. */
static void run_timers(sync_lane_t *l, int *claimed)
{
    uint64_t now = sync_now_ms();
    long long removed;
    int more;

    *claimed = 0;
    if (l->claiming || now >= l->next_claim_ms) {
        if (!l->claiming)
            sync_stream_claim_start(&l->stream);
        l->claiming = 1;
        *claimed = 1;
        if (sync_stream_claim(&l->stream, l->fetched, &more) != 0) {
            redis_failed(l, "XAUTOCLAIM");
            return;
        }
        if (l->fetched->num_events != 0)
            ig_info("msg=\"claimed entries of idle consumers\" lane=%u consumer=%s count=%zu", l->id, l->cfg->sync_consumer,
                    l->fetched->num_events);
        if (!more) {
            l->claiming = 0;
            unsigned period = l->cfg->sync_claim_idle_ms / 2;
            l->next_claim_ms = now + (period < SYNC_CLAIM_MIN_INTERVAL_MS ? SYNC_CLAIM_MIN_INTERVAL_MS : period);
        }
        return;
    }
    if (now >= l->next_trim_ms) {
        l->next_trim_ms = now + SYNC_TRIM_INTERVAL_MS;
        if (sync_stream_trim(&l->stream, &removed) != 0)
            redis_failed(l, "trim");
        else if (removed != 0)
            ig_log(IG_LOG_DEBUG, "msg=\"streams trimmed\" lane=%u removed=%lld", l->id, removed);
    }
}

/*
 * Fills fetched from Redis: a claim round when one is due, otherwise a read.
 * Blocks for new entries only when block is set (nothing is in PostgreSQL:
 * a blocked read would delay that batch's acknowledgement). Own pending
 * entries come first; claims and trims wait until they are drained.
 */
static void fetch(sync_lane_t *l, int block)
{
    int claimed = 0;

    if (!l->stream.draining) {
        run_timers(l, &claimed);
        if (claimed || l->stream.redis == NULL)
            return;
    }
    if (sync_stream_read(&l->stream, l->fetched, block) != 0)
        redis_failed(l, "read");
}

/* One line per malformed entry recorded for the first time. */
static void log_anomalies(const sync_lane_t *l, const sync_batch_t *b, const sync_apply_stats_t *stats)
{
    for (size_t i = 0; stats->malformed != 0 && i != b->num_events; ++i) {
        const sync_event_t *ev = &b->events[i];
        char code[IG_LOG_REDACT_BYTES] = "none", entry[SYNC_ENTRY_ID_BYTES];
        if (!l->apply.fresh[i] || ev->type != SYNC_EVENT_MALFORMED)
            continue;
        if (ev->code != NULL)
            ig_log_redact(code, ev->code, strlen(ev->code));
        ig_warn("msg=\"malformed event skipped\" lane=%u batch=%llu stream=%s entry=%s code=%s reason=\"%s\"", l->id,
                (unsigned long long)b->seq, l->stream.keys[ev->bucket], sync_event_entry_id(entry, ev), code, ev->reason);
    }
}

/*
 * Completes the batch in PostgreSQL (sync_apply_finish), retrying it until it
 * is committed. Returns -1 only when a stop was requested before that could
 * happen: the batch is then left unacknowledged, pending in Redis.
 */
static int finish_inflight(sync_lane_t *l, sync_apply_stats_t *stats)
{
    sync_batch_t *b = l->inflight;
    int ret = sync_apply_finish(&l->apply, l->pg, b, stats);

    for (;;) {
        if (ret == 0) {
            sync_backoff_reset(&l->pg_backoff);
            return 0;
        }
        if (sync_backoff_should_log(&l->pg_backoff))
            ig_error("msg=\"batch not applied, retrying it\" lane=%u batch=%llu source=%s events=%zu %s attempt=%u "
                     "retry_ms=%u",
                     l->id, (unsigned long long)b->seq, b->source, b->num_events, l->apply.errstr, l->pg_backoff.failures + 1,
                     l->pg_backoff.delay_ms);
        /* A connection left in pipeline mode is in an unknown state: replace it too. */
        if (PQstatus(l->pg) != CONNECTION_OK || PQpipelineStatus(l->pg) != PQ_PIPELINE_OFF) {
            PQfinish(l->pg);
            l->pg = NULL;
        }
        if (sync_stop_requested())
            return -1;
        sync_backoff_wait(&l->pg_backoff);
        if (sync_stop_requested() || ensure_pg(l) != 0)
            return -1;
        ret = sync_apply_batch(&l->apply, l->pg, b, stats);
    }
}

/* Acknowledges the committed batch, if any, and empties it. */
static void ack_done(sync_lane_t *l)
{
    long long acked;

    if (l->done->num_events == 0)
        return;
    /* A failed XACK is harmless: the entries are re-read and found recorded. */
    if (l->stream.redis == NULL || sync_stream_ack(&l->stream, l->done, &acked) != 0) {
        ig_warn("msg=\"acknowledgement failed, entries will be re-read and skipped\" lane=%u batch=%llu reason=\"%s\"", l->id,
                (unsigned long long)l->done->seq, l->stream.redis == NULL ? "not connected" : l->stream.errstr);
        sync_stream_disconnect(&l->stream);
    }
    sync_batch_clear(l->done);
}

/* Sends the fetched batch to PostgreSQL; it becomes the one in flight. Returns -1 only when a stop was requested. */
static int start_fetched(sync_lane_t *l)
{
    if (ensure_pg(l) != 0)
        return -1;
    swap(&l->fetched, &l->inflight);
    l->inflight->seq = ++l->seq;
    l->inflight_start_ms = sync_now_ms();
    sync_apply_start(&l->apply, l->pg, l->inflight);
    return 0;
}

/* Finishes the batch in flight; on COMMIT it becomes the one to acknowledge. Returns -1 as finish_inflight. */
static int commit_inflight(sync_lane_t *l)
{
    sync_batch_t *b = l->inflight;
    sync_apply_stats_t stats;

    if (finish_inflight(l, &stats) != 0) {
        ig_warn("msg=\"stopping before the batch could be committed; its entries stay pending\" lane=%u batch=%llu "
                "events=%zu",
                l->id, (unsigned long long)b->seq, b->num_events);
        sync_batch_clear(b);
        return -1;
    }
    if (stats.fell_back)
        ig_info("msg=\"batch met a unique conflict on the fast path, applied by the safe path\" lane=%u batch=%llu "
                "events=%zu fresh=%zu",
                l->id, (unsigned long long)b->seq, b->num_events, stats.fresh);
    ig_log(IG_LOG_DEBUG,
           "msg=\"batch committed\" lane=%u batch=%llu source=%s events=%zu fresh=%zu replayed=%zu fast=%d commit_ms=%.2f", l->id,
           (unsigned long long)b->seq, b->source, b->num_events, stats.fresh, stats.replayed, stats.fast, stats.txn_ms);
    log_anomalies(l, b, &stats);
    sync_summary_add(l->summary, b->num_events, &stats, l->inflight_start_ms);
    assert(l->done->num_events == 0);
    swap(&l->inflight, &l->done);
    return 0;
}

/*
 * The points records after a COMMIT (the users the batch touched) and the
 * timed jobs; PostgreSQL is idle here. A failure only delays: the refresh
 * writes the users again.
 */
static void points_between_batches(sync_lane_t *l, int committed)
{
    const sync_product_t *p = &l->apply.product;

    if (!l->owns_waitlist || l->pg == NULL)
        return;
    if (committed && p->num_touched != 0)
        (void)sync_points_push(&l->points, l->pg, l->stream.redis, p->touched, p->num_touched);
    (void)sync_points_tick(&l->points, l->pg, l->stream.redis);
    if (l->stream.redis != NULL && l->stream.redis->err != 0)
        redis_failed(l, "points write-back");
}

void *sync_lane_main(void *arg)
{
    sync_lane_t *l = arg;

    sync_heartbeat_attach(&l->beat_ms);
    if (ensure_pg(l) == 0 && ensure_redis(l) == 0)
        atomic_store(&l->ready, 1);
    while (!sync_stop_requested()) {
        sync_heartbeat();
        /* 1. The batch read last goes to PostgreSQL, which works on it during 2 and 3. */
        if (l->fetched->num_events != 0 && start_fetched(l) != 0)
            break;
        /* 2. The batch committed last is acknowledged, and 3. the next one read. With a batch in
           flight, reconnecting to Redis waits until it is finished. */
        if (l->stream.redis == NULL && l->inflight->num_events == 0)
            (void)ensure_redis(l);
        ack_done(l);
        if (l->stream.redis != NULL && !sync_stop_requested())
            fetch(l, l->inflight->num_events == 0);
        /* 4. The batch in flight is committed, and 5. the points records follow it. */
        int committed = l->inflight->num_events != 0;
        if (committed && commit_inflight(l) != 0)
            break;
        points_between_batches(l, committed);
    }
    ack_done(l);
    sync_stream_disconnect(&l->stream);
    if (l->pg != NULL)
        PQfinish(l->pg);
    l->pg = NULL;
    sync_heartbeat_attach(NULL);
    return NULL;
}
