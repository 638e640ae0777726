#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "metrics.h"

/* The `route` label of each route id. */
static const char *const route_names[GW_ROUTE_COUNT] = {
#define GW_ROUTE_LABEL(id, label, method, pattern, handler, idem) [GW_ROUTE_##id] = label,
    GW_ROUTE_LIST(GW_ROUTE_LABEL)
#undef GW_ROUTE_LABEL
        [GW_ROUTE_OTHER] = "other"};
static const int statuses[GW_METRICS_STATUS_COUNT] = {200, 201, 202, 302, 400, 401, 403, 404, 405,
                                                      409, 410, 413, 415, 422, 429, 500, 503, 0};
/* Upper bounds in microseconds; the last bucket is +Inf. */
static const uint64_t bounds_us[GW_METRICS_LATENCY_BUCKETS - 1] = {100,   250,   500,    1000,   2500,   5000,   10000,
                                                                   25000, 50000, 100000, 250000, 500000, 1000000};

static size_t status_index(int status)
{
    for (size_t i = 0; i != GW_METRICS_STATUS_COUNT - 1; ++i)
        if (statuses[i] == status)
            return i;
    return GW_METRICS_STATUS_COUNT - 1; /* "other" */
}

static void observe(gw_histogram_t *h, uint64_t ns)
{
    size_t i = 0;
    while (i != GW_METRICS_LATENCY_BUCKETS - 1 && ns > bounds_us[i] * 1000)
        ++i;
    atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_ns, ns, memory_order_relaxed);
}

void gw_metrics_request(gw_metrics_t *m, gw_route_id_t route, int status, uint64_t duration_ns)
{
    atomic_fetch_add_explicit(&m->requests[route][status_index(status)], 1, memory_order_relaxed);
    observe(&m->latency[route], duration_ns);
}

void gw_metrics_redis(gw_metrics_t *m, uint64_t rtt_ns, int failed)
{
    if (failed)
        atomic_fetch_add_explicit(&m->redis_errors, 1, memory_order_relaxed);
    else
        observe(&m->redis_rtt, rtt_ns);
}

void gw_metrics_cluster_retry(gw_metrics_t *m, gw_cluster_retry_t reason)
{
    atomic_fetch_add_explicit(&m->cluster_retries[reason], 1, memory_order_relaxed);
}

void gw_metrics_conn_refused(gw_metrics_t *m, gw_conn_verdict_t verdict)
{
    atomic_fetch_add_explicit(&m->conn_refused[verdict], 1, memory_order_relaxed);
}

void gw_metrics_accept_paused(gw_metrics_t *m)
{
    atomic_fetch_add_explicit(&m->accept_pauses, 1, memory_order_relaxed);
}

#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)

typedef struct buf_t {
    char *data;
    size_t len, cap;
} buf_t;

static void put(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(buf_t *b, const char *fmt, ...)
{
    va_list args;
    for (;;) {
        va_start(args, fmt);
        int n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, args);
        va_end(args);
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        b->cap = b->cap * 2 + (size_t)n;
        if ((b->data = realloc(b->data, b->cap)) == NULL)
            abort();
    }
}

static void put_histogram(buf_t *b, const char *name, const char *labels, gw_histogram_t *const *hs, size_t n)
{
    uint64_t cumulative = 0, count = 0, sum_ns = 0;
    const char *sep = labels[0] ? "," : "";
    for (size_t i = 0; i != GW_METRICS_LATENCY_BUCKETS; ++i) {
        for (size_t t = 0; t != n; ++t)
            cumulative += LOAD(hs[t]->buckets[i]);
        if (i == GW_METRICS_LATENCY_BUCKETS - 1)
            put(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep, (unsigned long long)cumulative);
        else
            put(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep, bounds_us[i] / 1e6, (unsigned long long)cumulative);
    }
    for (size_t t = 0; t != n; ++t) {
        count += LOAD(hs[t]->count);
        sum_ns += LOAD(hs[t]->sum_ns);
    }
    put(b, "%s_sum{%s} %.9f\n%s_count{%s} %llu\n", name, labels, sum_ns / 1e9, name, labels, (unsigned long long)count);
}

char *gw_metrics_render(size_t *len, gw_metrics_t *const *all, size_t n, const gw_metrics_gauges_t *gauges)
{
    buf_t b = {malloc(16384), 0, 16384};
    gw_histogram_t *hs[256];
    char labels[64];
    uint64_t errors = 0, pauses = 0;

    if (b.data == NULL || n > sizeof(hs) / sizeof(hs[0]))
        abort();
    put(&b, "# HELP invitegate_http_requests_total HTTP requests answered, by route and status.\n"
            "# TYPE invitegate_http_requests_total counter\n");
    for (size_t r = 0; r != GW_ROUTE_COUNT; ++r) {
        for (size_t s = 0; s != GW_METRICS_STATUS_COUNT; ++s) {
            uint64_t v = 0;
            for (size_t t = 0; t != n; ++t)
                v += LOAD(all[t]->requests[r][s]);
            if (v != 0) {
                char status[8];
                snprintf(status, sizeof(status), "%d", statuses[s]);
                put(&b, "invitegate_http_requests_total{route=\"%s\",status=\"%s\"} %llu\n", route_names[r],
                    statuses[s] ? status : "other", (unsigned long long)v);
            }
        }
    }
    put(&b, "# HELP invitegate_http_request_duration_seconds Time from request to answer, by route.\n"
            "# TYPE invitegate_http_request_duration_seconds histogram\n");
    for (size_t r = 0; r != GW_ROUTE_COUNT; ++r) {
        for (size_t t = 0; t != n; ++t)
            hs[t] = &all[t]->latency[r];
        snprintf(labels, sizeof(labels), "route=\"%s\"", route_names[r]);
        put_histogram(&b, "invitegate_http_request_duration_seconds", labels, hs, n);
    }
    put(&b, "# HELP invitegate_redis_roundtrip_seconds Redis call round trips from the gateway.\n"
            "# TYPE invitegate_redis_roundtrip_seconds histogram\n");
    for (size_t t = 0; t != n; ++t) {
        hs[t] = &all[t]->redis_rtt;
        errors += LOAD(all[t]->redis_errors);
    }
    put_histogram(&b, "invitegate_redis_roundtrip_seconds", "", hs, n);
    put(&b,
        "# HELP invitegate_redis_errors_total Redis calls that timed out or lost their connection.\n"
        "# TYPE invitegate_redis_errors_total counter\ninvitegate_redis_errors_total %llu\n"
        "# HELP invitegate_redis_ready Whether the answering thread's Redis connection is up with the library loaded.\n"
        "# TYPE invitegate_redis_ready gauge\ninvitegate_redis_ready %d\n"
        "# HELP invitegate_gateway_threads Event loops serving requests.\n"
        "# TYPE invitegate_gateway_threads gauge\ninvitegate_gateway_threads %u\n",
        (unsigned long long)errors, gauges->redis_ready, gauges->threads);
    static const char *const retry_reasons[GW_CLUSTER_RETRY_REASONS] = {"moved", "ask", "tryagain", "clusterdown", "no_master"};
    put(&b, "# HELP invitegate_redis_cluster_retries_total Calls to a Redis Cluster held back or sent again, by reason (none "
            "had run).\n"
            "# TYPE invitegate_redis_cluster_retries_total counter\n");
    for (size_t r = 0; r != GW_CLUSTER_RETRY_REASONS; ++r) {
        uint64_t v = 0;
        for (size_t t = 0; t != n; ++t)
            v += LOAD(all[t]->cluster_retries[r]);
        put(&b, "invitegate_redis_cluster_retries_total{reason=\"%s\"} %llu\n", retry_reasons[r], (unsigned long long)v);
    }
    put(&b,
        "# HELP invitegate_connections_open Client connections open in this gateway process.\n"
        "# TYPE invitegate_connections_open gauge\n"
        "invitegate_connections_open %zu\n"
        "# HELP invitegate_connections_refused_total Connections closed unread at accept, by the limit they were over.\n"
        "# TYPE invitegate_connections_refused_total counter\n",
        gauges->connections_open);
    for (size_t v = GW_CONN_ADMITTED + 1; v != GW_CONN_VERDICTS; ++v) {
        uint64_t refused = 0;
        for (size_t t = 0; t != n; ++t)
            refused += LOAD(all[t]->conn_refused[v]);
        put(&b, "invitegate_connections_refused_total{reason=\"%s\"} %llu\n", gw_conn_verdict_name((gw_conn_verdict_t)v),
            (unsigned long long)refused);
    }
    for (size_t t = 0; t != n; ++t)
        pauses += LOAD(all[t]->accept_pauses);
    put(&b,
        "# HELP invitegate_accept_pauses_total Episodes in which a listener paused because accepting failed for want of "
        "descriptors or memory.\n"
        "# TYPE invitegate_accept_pauses_total counter\ninvitegate_accept_pauses_total %llu\n",
        (unsigned long long)pauses);
    *len = b.len;
    return b.data;
}
