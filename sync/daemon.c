#include <stdio.h>
#include <string.h>
#include "ig_log.h"
#include "apply.h"
#include "batch.h"
#include "daemon.h"
#include "db.h"
#include "notify.h"
#include "runtime.h"
#include "stream.h"

/* How often the streams are trimmed below their oldest unacknowledged entry. */
#define SYNC_TRIM_INTERVAL_MS 10000
/* Floor of the claim period (sync_claim_idle_ms / 2), so claiming never starves reading. */
#define SYNC_CLAIM_MIN_INTERVAL_MS 100
/* Committed batches are summarised in one info line at most this often. */
#define SYNC_SUMMARY_INTERVAL_MS 1000

/* Committed work since the last summary line. */
typedef struct daemon_summary_t {
    uint64_t since_ms; /**< start of the window */
    size_t batches;    /**< batches committed */
    size_t events;     /**< events in them (fresh and replayed) */
    size_t fresh;      /**< events applied for the first time */
    size_t max_batch;  /**< largest batch */
    double txn_ms_sum; /**< sum of transaction times */
    double txn_ms_max; /**< longest transaction */
} daemon_summary_t;

typedef struct daemon_t {
    const ig_config_t *cfg;       /**< borrowed */
    sync_stream_t stream;         /**< Redis connection and read positions */
    PGconn *pg;                   /**< owned; NULL while disconnected */
    sync_apply_t apply;           /**< buffers for the PostgreSQL statements */
    sync_batch_t batch;           /**< the batch in hand */
    sync_backoff_t redis_backoff; /**< reconnect delay for Redis */
    sync_backoff_t pg_backoff;    /**< reconnect / retry delay for PostgreSQL */
    int claiming;                 /**< an XAUTOCLAIM pass is under way */
    uint64_t next_claim_ms;       /**< when the next claim pass starts */
    uint64_t next_trim_ms;        /**< when the streams are next trimmed */
    daemon_summary_t summary;     /**< for the once-a-second summary */
} daemon_t;

/* Connects to Redis if needed, retrying with backoff. Returns -1 only when a stop was requested. */
static int ensure_redis(daemon_t *d)
{
    while (d->stream.redis == NULL) {
        if (sync_stop_requested())
            return -1;
        if (sync_stream_connect(&d->stream) == 0) {
            ig_info("msg=\"connected to redis, reading own pending entries first\" consumer=%s streams=%d group=%s",
                    d->cfg->sync_consumer, IG_BUCKETS, IG_STREAM_GROUP);
            sync_backoff_reset(&d->redis_backoff);
            return 0;
        }
        if (sync_backoff_should_log(&d->redis_backoff))
            ig_warn("msg=\"redis connection failed\" reason=\"%s\" attempt=%u retry_ms=%u", d->stream.errstr,
                    d->redis_backoff.failures + 1, d->redis_backoff.delay_ms);
        sync_backoff_wait(&d->redis_backoff);
    }
    return 0;
}

/* Connects to PostgreSQL if needed, retrying with backoff. Returns -1 only when a stop was requested. */
static int ensure_pg(daemon_t *d)
{
    char err[SYNC_DB_ERR_BYTES];

    while (d->pg == NULL) {
        if (sync_stop_requested())
            return -1;
        if ((d->pg = sync_db_connect(d->cfg->database_url, err, sizeof(err))) != NULL) {
            ig_info("msg=\"connected to postgresql\" server_version=%d", PQserverVersion(d->pg));
            sync_backoff_reset(&d->pg_backoff);
            return 0;
        }
        if (sync_backoff_should_log(&d->pg_backoff))
            ig_warn("msg=\"postgresql connection failed\" %s attempt=%u retry_ms=%u", err, d->pg_backoff.failures + 1,
                    d->pg_backoff.delay_ms);
        sync_backoff_wait(&d->pg_backoff);
    }
    return 0;
}

/*
 * Applies the batch in hand until it is committed. Returns -1 only when a
 * stop was requested before that could happen: the batch is then left
 * unacknowledged, pending in Redis.
 */
static int commit_batch(daemon_t *d, sync_apply_stats_t *stats)
{
    for (;;) {
        if (ensure_pg(d) != 0)
            return -1;
        if (sync_apply_batch(&d->apply, d->pg, &d->batch, stats) == 0) {
            sync_backoff_reset(&d->pg_backoff);
            return 0;
        }
        if (sync_backoff_should_log(&d->pg_backoff))
            ig_error("msg=\"batch not applied, retrying it\" batch=%llu source=%s events=%zu %s attempt=%u retry_ms=%u",
                     (unsigned long long)d->batch.seq, d->batch.source, d->batch.num_events, d->apply.errstr,
                     d->pg_backoff.failures + 1, d->pg_backoff.delay_ms);
        if (PQstatus(d->pg) != CONNECTION_OK) {
            PQfinish(d->pg);
            d->pg = NULL;
        }
        if (sync_stop_requested())
            return -1;
        sync_backoff_wait(&d->pg_backoff);
        if (sync_stop_requested())
            return -1;
    }
}

/* One line per malformed entry recorded for the first time. */
static void log_anomalies(const daemon_t *d, const sync_apply_stats_t *stats)
{
    for (size_t i = 0; stats->malformed != 0 && i != d->batch.num_events; ++i) {
        const sync_event_t *ev = &d->batch.events[i];
        char code[IG_LOG_REDACT_BYTES] = "none";
        if (!d->apply.fresh[i] || ev->type != SYNC_EVENT_MALFORMED)
            continue;
        if (ev->code != NULL)
            ig_log_redact(code, ev->code, strlen(ev->code));
        ig_warn("msg=\"malformed event skipped\" batch=%llu stream=%s entry=%s code=%s reason=\"%s\"",
                (unsigned long long)d->batch.seq, d->stream.keys[ev->bucket], sync_event_entry_id(ev), code, ev->reason);
    }
}

/* Counts a committed batch into the summary window, which starts with its first batch. */
static void summary_add(daemon_t *d, const sync_apply_stats_t *stats)
{
    daemon_summary_t *s = &d->summary;

    ig_log(IG_LOG_DEBUG, "msg=\"batch committed\" batch=%llu source=%s events=%zu fresh=%zu replayed=%zu commit_ms=%.2f",
           (unsigned long long)d->batch.seq, d->batch.source, d->batch.num_events, stats->fresh, stats->replayed, stats->txn_ms);
    if (s->batches == 0)
        s->since_ms = sync_now_ms();
    ++s->batches;
    s->events += d->batch.num_events;
    s->fresh += stats->fresh;
    s->txn_ms_sum += stats->txn_ms;
    if (d->batch.num_events > s->max_batch)
        s->max_batch = d->batch.num_events;
    if (stats->txn_ms > s->txn_ms_max)
        s->txn_ms_max = stats->txn_ms;
}

/* Logs the summary line once its window is a second old (or now, with force) and starts a new window. */
static void summary_flush(daemon_t *d, int force)
{
    daemon_summary_t *s = &d->summary;
    uint64_t elapsed;
    char status[160];

    if (s->batches == 0 || ((elapsed = sync_now_ms() - s->since_ms) < SYNC_SUMMARY_INTERVAL_MS && !force))
        return;
    double secs = (double)(elapsed < SYNC_SUMMARY_INTERVAL_MS ? SYNC_SUMMARY_INTERVAL_MS : elapsed) / 1000.0;
    ig_info("msg=\"batches committed\" events=%zu fresh=%zu events_per_sec=%.0f batches=%zu avg_batch=%.1f max_batch=%zu "
            "avg_commit_ms=%.2f max_commit_ms=%.2f",
            s->events, s->fresh, (double)s->events / secs, s->batches, (double)s->events / (double)s->batches, s->max_batch,
            s->txn_ms_sum / (double)s->batches, s->txn_ms_max);
    snprintf(status, sizeof(status), "STATUS=%.0f events/s, last batch #%llu", (double)s->events / secs,
             (unsigned long long)d->batch.seq);
    sync_notify(status);
    memset(s, 0, sizeof(*s));
}

/*
 * Commits and acknowledges the batch in hand, then empties it. Returns -1
 * when a stop interrupted it before the commit.
 */
static int process_batch(daemon_t *d)
{
    sync_apply_stats_t stats;
    long long acked;
    int ret = 0;

    if (d->batch.num_events == 0)
        goto Exit;
    ++d->batch.seq;
    if (commit_batch(d, &stats) != 0) {
        ig_warn("msg=\"stopping before the batch could be committed; its entries stay pending\" batch=%llu events=%zu",
                (unsigned long long)d->batch.seq, d->batch.num_events);
        ret = -1;
        goto Exit;
    }
    log_anomalies(d, &stats);
    /* Only now, after COMMIT. A failed XACK is harmless: the entries are re-read and found recorded. */
    if (sync_stream_ack(&d->stream, &d->batch, &acked) != 0) {
        ig_warn("msg=\"acknowledgement failed, entries will be re-read and skipped\" batch=%llu reason=\"%s\"",
                (unsigned long long)d->batch.seq, d->stream.errstr);
        sync_stream_disconnect(&d->stream);
    }
    summary_add(d, &stats);

Exit:
    sync_batch_clear(&d->batch);
    return ret;
}

/* Drops the Redis connection after a failed call; the batch's entries stay pending. */
static void redis_failed(daemon_t *d, const char *what)
{
    ig_warn("msg=\"redis %s failed, reconnecting\" consumer=%s reason=\"%s\"", what, d->cfg->sync_consumer, d->stream.errstr);
    sync_stream_disconnect(&d->stream);
    sync_batch_clear(&d->batch);
    d->claiming = 0;
}

/* Runs the timers: one round of a claim pass, or a trim. Returns 1 when it produced a batch to process. */
static int run_timers(daemon_t *d)
{
    uint64_t now = sync_now_ms();
    long long removed;
    int more;

    if (d->claiming || now >= d->next_claim_ms) {
        if (!d->claiming)
            sync_stream_claim_start(&d->stream);
        d->claiming = 1;
        if (sync_stream_claim(&d->stream, &d->batch, &more) != 0) {
            redis_failed(d, "XAUTOCLAIM");
            return 0;
        }
        if (d->batch.num_events != 0)
            ig_info("msg=\"claimed entries of idle consumers\" consumer=%s count=%zu", d->cfg->sync_consumer, d->batch.num_events);
        if (!more) {
            d->claiming = 0;
            unsigned period = d->cfg->sync_claim_idle_ms / 2;
            d->next_claim_ms = now + (period < SYNC_CLAIM_MIN_INTERVAL_MS ? SYNC_CLAIM_MIN_INTERVAL_MS : period);
        }
        return 1;
    }
    if (now >= d->next_trim_ms) {
        d->next_trim_ms = now + SYNC_TRIM_INTERVAL_MS;
        if (sync_stream_trim(&d->stream, &removed) != 0)
            redis_failed(d, "trim");
        else if (removed != 0)
            ig_log(IG_LOG_DEBUG, "msg=\"streams trimmed\" removed=%lld", removed);
    }
    return 0;
}

static int check_config(const ig_config_t *cfg)
{
    const char *err = NULL;

    if (cfg->sync_batch_size == 0)
        err = "sync_batch_size must be at least 1";
    else if (cfg->sync_block_ms == 0)
        err = "sync_block_ms must be at least 1 (0 would block XREADGROUP forever and delay shutdown)";
    else if (cfg->sync_claim_idle_ms == 0)
        err = "sync_claim_idle_ms must be at least 1 (0 would claim entries live consumers are applying)";
    if (err != NULL)
        ig_error("msg=\"invalid configuration\" reason=\"%s\"", err);
    return err == NULL ? 0 : -1;
}

int sync_daemon_run(const ig_config_t *cfg)
{
    daemon_t d;

    if (check_config(cfg) != 0)
        return -1;
    memset(&d, 0, sizeof(d));
    d.cfg = cfg;
    sync_stream_init(&d.stream, cfg);
    sync_apply_init(&d.apply);
    sync_batch_init(&d.batch);
    sync_backoff_reset(&d.redis_backoff);
    sync_backoff_reset(&d.pg_backoff);
    d.next_trim_ms = sync_now_ms() + SYNC_TRIM_INTERVAL_MS;
    ig_info("msg=\"sync daemon starting\" consumer=%s batch_size=%u block_ms=%u claim_idle_ms=%u", cfg->sync_consumer,
            cfg->sync_batch_size, cfg->sync_block_ms, cfg->sync_claim_idle_ms);

    if (ensure_pg(&d) == 0 && ensure_redis(&d) == 0)
        sync_notify("READY=1");
    while (!sync_stop_requested()) {
        sync_notify_watchdog();
        summary_flush(&d, 0);
        if (ensure_redis(&d) != 0)
            break;
        /* Own pending entries come first; claims and trims wait until they are drained. */
        if (!d.stream.draining && run_timers(&d)) {
            if (process_batch(&d) != 0)
                break;
            continue;
        }
        if (d.stream.redis == NULL)
            continue;
        if (sync_stream_read(&d.stream, &d.batch) != 0) {
            redis_failed(&d, "read");
            continue;
        }
        if (process_batch(&d) != 0)
            break;
    }

    summary_flush(&d, 1);
    sync_notify("STOPPING=1");
    ig_info("msg=\"sync daemon stopping\" consumer=%s batches=%llu", cfg->sync_consumer, (unsigned long long)d.batch.seq);
    sync_stream_disconnect(&d.stream);
    if (d.pg != NULL)
        PQfinish(d.pg);
    sync_batch_dispose(&d.batch);
    sync_apply_dispose(&d.apply);
    return 0;
}
