#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "event.h"
#include "lane.h"
#include "metrics.h"
#include "runtime.h"

sync_metrics_t sync_metrics;

/* Events per batch: a window under a live load holds tens to thousands, a backlog sync_batch_max_events. */
static const double batch_bounds[] = {1, 10, 100, 1000, 10000, 100000, 1000000};
/* Seconds from BEGIN to COMMIT acknowledged. */
static const double commit_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
_Static_assert(sizeof(batch_bounds) / sizeof(batch_bounds[0]) <= SYNC_METRICS_MAX_BOUNDS, "too many bounds");
_Static_assert(sizeof(commit_bounds) / sizeof(commit_bounds[0]) <= SYNC_METRICS_MAX_BOUNDS, "too many bounds");

static const char *const store_names[SYNC_STORE_COUNT] = {"redis", "postgresql"};

static void add(_Atomic uint64_t *counter, uint64_t n)
{
    atomic_fetch_add_explicit(counter, n, memory_order_relaxed);
}

static uint64_t get(_Atomic uint64_t *counter)
{
    return atomic_load_explicit(counter, memory_order_relaxed);
}

static uint64_t double_bits(double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    return bits;
}

static double bits_double(uint64_t bits)
{
    double v;
    memcpy(&v, &bits, sizeof(v));
    return v;
}

/* Counts value (in the bounds' unit) in h; sum grows by sum_units (the recording unit). */
static void observe(sync_histogram_t *h, const double *bounds, size_t n, double value, uint64_t sum_units)
{
    size_t i = 0;
    while (i != n && value > bounds[i])
        ++i;
    add(&h->buckets[i], 1);
    add(&h->count, 1);
    add(&h->sum, sum_units);
}

void sync_metrics_batch(const sync_batch_t *b, const sync_apply_stats_t *stats)
{
    for (size_t i = 0; i != b->num_events; ++i)
        if ((unsigned)b->events[i].type < SYNC_METRICS_EVENT_TYPES)
            add(&sync_metrics.events[b->events[i].type], 1);
    add(&sync_metrics.batches, 1);
    observe(&sync_metrics.batch_events, batch_bounds, sizeof(batch_bounds) / sizeof(batch_bounds[0]), (double)stats->events,
            stats->events);
    observe(&sync_metrics.commit_us, commit_bounds, sizeof(commit_bounds) / sizeof(commit_bounds[0]), stats->txn_ms / 1000.0,
            (uint64_t)(stats->txn_ms * 1000.0));
}

void sync_metrics_mark(unsigned bucket, int held, const uint64_t mark[2])
{
    atomic_store_explicit(&sync_metrics.mark_ms[bucket], mark[0], memory_order_relaxed);
    atomic_store_explicit(&sync_metrics.mark_seq[bucket], mark[1], memory_order_relaxed);
    atomic_store_explicit(&sync_metrics.held[bucket], held, memory_order_relaxed);
}

void sync_metrics_gate(const sync_gate_decision_t *d, uint64_t now_ms)
{
    atomic_store(&sync_metrics.gate_closed, d->closed);
    atomic_store(&sync_metrics.gate_auto_closed, d->auto_closed);
    atomic_store(&sync_metrics.gate_mode, (int)d->mode);
    atomic_store(&sync_metrics.gate_score_bits, double_bits(d->trust_score));
    atomic_store(&sync_metrics.gate_engagement_bits, double_bits(d->engagement_rate));
    atomic_store(&sync_metrics.gate_churn_bits, double_bits(d->churn_rate));
    atomic_store(&sync_metrics.gate_fraud_bits, double_bits(d->fraud_rate));
    atomic_store(&sync_metrics.gate_evaluated_ms, now_ms);
    atomic_store(&sync_metrics.gate_known, 1);
    add(&sync_metrics.gate_evaluations, 1);
}

/* --- the text ------------------------------------------------------------ */

typedef struct text_t {
    char *buf;
    size_t len, cap;
    int oom; /**< an allocation failed: the text is unusable */
} text_t;

static void put(text_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text_t *t, const char *fmt, ...)
{
    va_list args;
    int n;

    if (t->oom)
        return;
    for (;;) {
        va_start(args, fmt);
        n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, args);
        va_end(args);
        if (n < 0) {
            t->oom = 1;
            return;
        }
        if ((size_t)n < t->cap - t->len)
            break;
        char *grown = realloc(t->buf, t->cap * 2 + (size_t)n);
        if (grown == NULL) {
            t->oom = 1;
            return;
        }
        t->buf = grown;
        t->cap = t->cap * 2 + (size_t)n;
    }
    t->len += (size_t)n;
}

/* The # HELP and # TYPE lines of a family. */
static void family(text_t *t, const char *name, const char *type, const char *help)
{
    put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void histogram(text_t *t, const char *name, const char *help, sync_histogram_t *h, const double *bounds, size_t n,
                      double sum_scale)
{
    uint64_t cumulative = 0;

    family(t, name, "histogram", help);
    for (size_t i = 0; i != n; ++i) {
        cumulative += get(&h->buckets[i]);
        put(t, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name, bounds[i], cumulative);
    }
    cumulative += get(&h->buckets[n]);
    /* count is read after the buckets and a batch may land in between: +Inf and count are the same read. */
    put(t, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n%s_sum %.6f\n%s_count %" PRIu64 "\n", name, cumulative, name,
        (double)get(&h->sum) * sum_scale, name, cumulative);
}

/*
 * XLEN of every stream, and the first entry past the mark of those this
 * daemon holds, in one pipeline. Returns 0, or -1 (the connection is then
 * unusable).
 */
static int stream_gauges(text_t *t, sync_route_t *route)
{
    long long length[IG_BUCKETS_MAX];
    double age[IG_BUCKETS_MAX];
    int held[IG_BUCKETS_MAX];
    char key[IG_KEY_MAX_BYTES], from[48];
    uint64_t now = (uint64_t)sync_clock_ms(0);

    for (unsigned b = 0; b != route->buckets; ++b) {
        redisContext *redis = sync_route_bucket(route, b);
        ig_key_events(key, b);
        redisAppendCommand(redis, "XLEN %s", key);
        if ((held[b] = atomic_load(&sync_metrics.held[b])) != 0) {
            snprintf(from, sizeof(from), "(%" PRIu64 "-%" PRIu64, get(&sync_metrics.mark_ms[b]), get(&sync_metrics.mark_seq[b]));
            redisAppendCommand(redis, "XRANGE %s %s + COUNT 1", key, from);
        }
    }
    /* Each reply from the connection of its bucket, in the order sent. */
    for (unsigned b = 0; b != route->buckets; ++b) {
        redisContext *redis = sync_route_bucket(route, b);
        void *r;
        redisReply *reply;
        if (redisGetReply(redis, &r) != REDIS_OK)
            return -1;
        reply = r;
        length[b] = reply->type == REDIS_REPLY_INTEGER ? reply->integer : -1;
        freeReplyObject(reply);
        if (!held[b])
            continue;
        if (redisGetReply(redis, &r) != REDIS_OK)
            return -1;
        reply = r;
        age[b] = 0;
        /* [[id, fields]]: the oldest entry not applied; none means nothing waits. */
        if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 1 && reply->element[0]->type == REDIS_REPLY_ARRAY &&
            reply->element[0]->elements >= 1 && reply->element[0]->element[0]->type == REDIS_REPLY_STRING) {
            uint64_t ms = strtoull(reply->element[0]->element[0]->str, NULL, 10);
            age[b] = ms < now ? (double)(now - ms) / 1000.0 : 0;
        } else if (reply->type != REDIS_REPLY_ARRAY) {
            age[b] = -1;
        }
        freeReplyObject(reply);
    }
    family(t, "invitegate_sync_stream_entries", "gauge",
           "Entries in the bucket's event stream: those not applied yet and those applied since the last trim (every 10 s).");
    for (unsigned b = 0; b != route->buckets; ++b)
        if (length[b] >= 0)
            put(t, "invitegate_sync_stream_entries{bucket=\"%u\"} %lld\n", b, length[b]);
    family(t, "invitegate_sync_stream_oldest_unapplied_age_seconds", "gauge",
           "Age of the oldest stream entry past the bucket's high-water mark (0: nothing waits), for the buckets this daemon "
           "holds.");
    for (unsigned b = 0; b != route->buckets; ++b)
        if (held[b] && age[b] >= 0)
            put(t, "invitegate_sync_stream_oldest_unapplied_age_seconds{bucket=\"%u\"} %.3f\n", b, age[b]);
    return 0;
}

char *sync_metrics_render(size_t *len, sync_route_t *route, int *redis_failed)
{
    sync_metrics_t *m = &sync_metrics;
    text_t t = {malloc(16384), 0, 16384, 0};
    int stream_ok = 0, waiting[SYNC_STORE_COUNT] = {0};

    *redis_failed = 0;
    if (t.buf == NULL)
        return NULL;
    family(&t, "invitegate_sync_ready", "gauge", "1 once every lane reached Redis and PostgreSQL and the migrations are applied.");
    put(&t, "invitegate_sync_ready %d\n", atomic_load(&m->ready) != 0);

    family(&t, "invitegate_sync_events_applied_total", "counter", "Events committed to PostgreSQL, by kind.");
    for (int type = SYNC_EVENT_MALFORMED + 1; type != SYNC_METRICS_EVENT_TYPES; ++type)
        put(&t, "invitegate_sync_events_applied_total{kind=\"%s\"} %" PRIu64 "\n", sync_event_type_name((sync_event_type_t)type),
            get(&m->events[type]));
    family(&t, "invitegate_sync_events_malformed_total", "counter", "Malformed events skipped (logged, nothing applied).");
    put(&t, "invitegate_sync_events_malformed_total %" PRIu64 "\n", get(&m->events[SYNC_EVENT_MALFORMED]));
    family(&t, "invitegate_sync_batches_total", "counter", "Batches committed, one transaction each.");
    put(&t, "invitegate_sync_batches_total %" PRIu64 "\n", get(&m->batches));
    family(&t, "invitegate_sync_batch_failures_total", "counter", "Batches not applied (rolled back, read again after a backoff).");
    put(&t, "invitegate_sync_batch_failures_total %" PRIu64 "\n", get(&m->batch_failures));
    histogram(&t, "invitegate_sync_batch_events", "Events per committed batch.", &m->batch_events, batch_bounds,
              sizeof(batch_bounds) / sizeof(batch_bounds[0]), 1.0);
    histogram(&t, "invitegate_sync_commit_duration_seconds", "Time from BEGIN to COMMIT acknowledged, per committed batch.",
              &m->commit_us, commit_bounds, sizeof(commit_bounds) / sizeof(commit_bounds[0]), 1e-6);

    family(&t, "invitegate_sync_reconnects_total", "counter", "Connections made again after one was lost, by store.");
    for (int s = 0; s != SYNC_STORE_COUNT; ++s)
        put(&t, "invitegate_sync_reconnects_total{store=\"%s\"} %" PRIu64 "\n", store_names[s], get(&m->reconnects[s]));
    family(&t, "invitegate_sync_connect_failures_total", "counter", "Connection attempts that failed, by store.");
    for (int s = 0; s != SYNC_STORE_COUNT; ++s)
        put(&t, "invitegate_sync_connect_failures_total{store=\"%s\"} %" PRIu64 "\n", store_names[s], get(&m->connect_failures[s]));
    family(&t, "invitegate_sync_errors_total", "counter", "Calls that failed on an open connection, by store.");
    for (int s = 0; s != SYNC_STORE_COUNT; ++s)
        put(&t, "invitegate_sync_errors_total{store=\"%s\"} %" PRIu64 "\n", store_names[s], get(&m->errors[s]));
    for (unsigned i = 0; i != m->lanes && i != SYNC_METRICS_MAX_LANES; ++i) {
        int w = atomic_load(&m->waiting[i]);
        if (w == SYNC_LANE_WAIT_REDIS)
            ++waiting[SYNC_STORE_REDIS];
        else if (w == SYNC_LANE_WAIT_POSTGRESQL)
            ++waiting[SYNC_STORE_POSTGRESQL];
    }
    family(&t, "invitegate_sync_lanes_waiting", "gauge", "Lanes reconnecting to a store that does not answer, by store.");
    for (int s = 0; s != SYNC_STORE_COUNT; ++s)
        put(&t, "invitegate_sync_lanes_waiting{store=\"%s\"} %d\n", store_names[s], waiting[s]);

    family(&t, "invitegate_sync_lease_held", "gauge", "1 for the buckets whose lease (and stream) this daemon holds.");
    for (unsigned b = 0; b != m->buckets; ++b)
        put(&t, "invitegate_sync_lease_held{bucket=\"%u\"} %d\n", b, atomic_load(&m->held[b]) != 0);
    family(&t, "invitegate_sync_mark_timestamp_seconds", "gauge",
           "When the last entry applied from the bucket's stream was added to it (its high-water mark), for the buckets this "
           "daemon holds.");
    for (unsigned b = 0; b != m->buckets; ++b)
        if (atomic_load(&m->held[b]) && get(&m->mark_ms[b]) != 0)
            put(&t, "invitegate_sync_mark_timestamp_seconds{bucket=\"%u\"} %.3f\n", b, (double)get(&m->mark_ms[b]) / 1000.0);
    if (route != NULL && sync_route_is_open(route)) {
        if (stream_gauges(&t, route) == 0)
            stream_ok = 1;
        else
            *redis_failed = 1;
    }
    family(&t, "invitegate_sync_stream_scrape_success", "gauge",
           "1 when the stream gauges could be read from Redis for this scrape.");
    put(&t, "invitegate_sync_stream_scrape_success %d\n", stream_ok);

    family(&t, "invitegate_sync_trust_gate_evaluations_total", "counter", "Trust gate evaluations that succeeded.");
    put(&t, "invitegate_sync_trust_gate_evaluations_total %" PRIu64 "\n", get(&m->gate_evaluations));
    family(&t, "invitegate_sync_trust_gate_failures_total", "counter",
           "Trust gate evaluations that failed (the gateways keep the last decision).");
    put(&t, "invitegate_sync_trust_gate_failures_total %" PRIu64 "\n", get(&m->gate_failures));
    if (atomic_load(&m->gate_known)) {
        int mode = atomic_load(&m->gate_mode);
        family(&t, "invitegate_sync_trust_gate_closed", "gauge", "1 while invites are paused (the decision the gateways apply).");
        put(&t, "invitegate_sync_trust_gate_closed %d\n", atomic_load(&m->gate_closed) != 0);
        family(&t, "invitegate_sync_trust_gate_auto_closed", "gauge", "1 while the metrics alone would pause invites.");
        put(&t, "invitegate_sync_trust_gate_auto_closed %d\n", atomic_load(&m->gate_auto_closed) != 0);
        family(&t, "invitegate_sync_trust_gate_mode", "gauge", "1 for the operator's mode in force (auto, open or closed).");
        for (int i = SYNC_GATE_AUTO; i <= SYNC_GATE_CLOSED; ++i)
            put(&t, "invitegate_sync_trust_gate_mode{mode=\"%s\"} %d\n", sync_gate_mode_name((sync_gate_mode_t)i), mode == i);
        family(&t, "invitegate_sync_trust_gate_score", "gauge", "trust_score of the last evaluation, from 0 to 1.");
        put(&t, "invitegate_sync_trust_gate_score %.6f\n", bits_double(get(&m->gate_score_bits)));
        family(&t, "invitegate_sync_trust_gate_engagement_ratio", "gauge", "engagement_rate of the last evaluation.");
        put(&t, "invitegate_sync_trust_gate_engagement_ratio %.6f\n", bits_double(get(&m->gate_engagement_bits)));
        family(&t, "invitegate_sync_trust_gate_churn_ratio", "gauge", "churn_rate of the last evaluation.");
        put(&t, "invitegate_sync_trust_gate_churn_ratio %.6f\n", bits_double(get(&m->gate_churn_bits)));
        family(&t, "invitegate_sync_trust_gate_fraud_ratio", "gauge", "fraud_rate of the last evaluation.");
        put(&t, "invitegate_sync_trust_gate_fraud_ratio %.6f\n", bits_double(get(&m->gate_fraud_bits)));
        family(&t, "invitegate_sync_trust_gate_last_evaluation_timestamp_seconds", "gauge",
               "When the trust gate was last evaluated (Unix time).");
        put(&t, "invitegate_sync_trust_gate_last_evaluation_timestamp_seconds %.3f\n", (double)get(&m->gate_evaluated_ms) / 1000.0);
    }
    if (t.oom) {
        free(t.buf);
        return NULL;
    }
    *len = t.len;
    return t.buf;
}
