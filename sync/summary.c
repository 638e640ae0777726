#include <stdio.h>
#include <string.h>
#include "ig_log.h"
#include "runtime.h"
#include "summary.h"

/* Committed batches are summarised in one info line at most this often. */
#define SYNC_SUMMARY_INTERVAL_MS 1000

void sync_summary_init(sync_summary_t *s)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->lock, NULL);
}

void sync_summary_dispose(sync_summary_t *s)
{
    pthread_mutex_destroy(&s->lock);
}

void sync_summary_add(sync_summary_t *s, const sync_apply_stats_t *stats, uint64_t started_ms)
{
    pthread_mutex_lock(&s->lock);
    /* A window counts the time its batches took: from the first one's start, or the previous line. */
    if (s->batches == 0)
        s->since_ms = started_ms > s->last_flush_ms ? started_ms : s->last_flush_ms;
    ++s->batches;
    ++s->total_batches;
    s->events += stats->events;
    s->redeemed += stats->redeemed;
    s->product += stats->product;
    s->txn_ms_sum += stats->txn_ms;
    if (stats->events > s->max_batch)
        s->max_batch = stats->events;
    if (stats->txn_ms > s->txn_ms_max)
        s->txn_ms_max = stats->txn_ms;
    pthread_mutex_unlock(&s->lock);
}

void sync_summary_flush(sync_summary_t *s, int force)
{
    uint64_t now = sync_now_ms(), elapsed;
    sync_summary_t w;

    pthread_mutex_lock(&s->lock);
    elapsed = now - s->since_ms;
    if (s->batches == 0 || (elapsed < SYNC_SUMMARY_INTERVAL_MS && !force)) {
        /* An idle window restarts, so that idle time never dilutes a rate. */
        if (s->batches == 0)
            s->last_flush_ms = now;
        pthread_mutex_unlock(&s->lock);
        return;
    }
    w = *s;
    s->batches = s->events = s->redeemed = s->product = s->max_batch = 0;
    s->txn_ms_sum = s->txn_ms_max = 0;
    s->last_flush_ms = now;
    double secs = (double)(elapsed < 1 ? 1 : elapsed) / 1000.0;
    s->rate = (double)w.events / secs;
    s->rate_ms = now;
    pthread_mutex_unlock(&s->lock);

    ig_info("msg=\"batches committed\" events=%zu redeemed=%zu product=%zu events_per_sec=%.0f batches=%zu avg_batch=%.1f "
            "max_batch=%zu avg_commit_ms=%.2f max_commit_ms=%.2f",
            w.events, w.redeemed, w.product, (double)w.events / secs, w.batches, (double)w.events / (double)w.batches, w.max_batch,
            w.txn_ms_sum / (double)w.batches, w.txn_ms_max);
}

unsigned long long sync_summary_total(sync_summary_t *s)
{
    unsigned long long n;

    pthread_mutex_lock(&s->lock);
    n = s->total_batches;
    pthread_mutex_unlock(&s->lock);
    return n;
}

double sync_summary_rate(sync_summary_t *s)
{
    double rate;

    pthread_mutex_lock(&s->lock);
    rate = s->rate_ms != 0 && sync_now_ms() - s->rate_ms <= 2 * SYNC_SUMMARY_INTERVAL_MS ? s->rate : 0;
    pthread_mutex_unlock(&s->lock);
    return rate;
}
