/* Counting, printing and JSON of one run (result.h). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "bench.h"
#include "result.h"

/* Series intervals: about 120 points per run, none shorter than 100 ms. */
#define MIN_INTERVAL_NS (100 * 1000000ull)
#define SERIES_POINTS 120

static double ms(uint64_t ns)
{
    return (double)ns / BENCH_NS_PER_MS;
}

bench_result_t *bench_result_new(const char *name, double duration_s)
{
    bench_result_t *r = calloc(1, sizeof(*r));
    uint64_t interval;

    if (r == NULL)
        return NULL;
    snprintf(r->name, sizeof(r->name), "%s", name);
    r->via = "http";
    r->duration_s = duration_s;
    r->aof_bytes_per_op = NAN;
    bench_hist_reset(&r->all);
    bench_hist_reset(&r->interval);
    for (int i = 0; i != BENCH_OP_COUNT; ++i)
        bench_hist_reset(&r->per_op[i]);
    interval = (uint64_t)(duration_s * (double)BENCH_NS_PER_SEC / SERIES_POINTS);
    r->interval_ns = interval < MIN_INTERVAL_NS ? MIN_INTERVAL_NS : interval;
    r->inv.ok = 1;
    r->inv.catchup_s = -1.0;
    return r;
}

void bench_result_start(bench_result_t *r, uint64_t now_ns)
{
    r->start_ns = r->end_ns = now_ns;
    r->interval_end_ns = now_ns + r->interval_ns;
}

/* Closes the intervals that ended before now_ns. */
static void close_intervals(bench_result_t *r, uint64_t now_ns)
{
    while (now_ns >= r->interval_end_ns) {
        if (r->num_series < BENCH_SERIES_MAX) {
            bench_point_t *p = &r->series[r->num_series++];
            p->t_s = (double)(r->interval_end_ns - r->start_ns) / BENCH_NS_PER_SEC;
            p->rps = (double)r->interval.total * BENCH_NS_PER_SEC / (double)r->interval_ns;
            p->p50_ms = ms(bench_hist_percentile(&r->interval, 50));
            p->p99_ms = ms(bench_hist_percentile(&r->interval, 99));
            p->max_ms = ms(r->interval.max_ns);
        }
        bench_hist_reset(&r->interval);
        r->interval_end_ns += r->interval_ns;
    }
}

static void count_answer(bench_result_t *r, bench_op_t op, int status, const char *reason, size_t reason_len)
{
    if (reason == NULL)
        reason = "", reason_len = 0;
    if (reason_len >= BENCH_REASON_BYTES)
        reason_len = BENCH_REASON_BYTES - 1;
    for (size_t i = 0; i != r->num_answers; ++i) {
        bench_answer_t *a = &r->answers[i];
        if (a->op == op && a->status == status && strlen(a->reason) == reason_len && memcmp(a->reason, reason, reason_len) == 0) {
            ++a->count;
            return;
        }
    }
    if (r->num_answers == BENCH_ANSWERS_MAX) {
        ++r->answers_dropped;
        return;
    }
    bench_answer_t *a = &r->answers[r->num_answers++];
    a->op = op;
    a->status = status;
    memcpy(a->reason, reason, reason_len);
    a->reason[reason_len] = '\0';
    a->count = 1;
}

void bench_result_record(bench_result_t *r, bench_op_t op, int status, const char *reason, size_t reason_len, uint64_t latency_ns,
                         uint64_t now_ns)
{
    close_intervals(r, now_ns);
    ++r->requests;
    ++r->op_requests[op];
    count_answer(r, op, status, reason, reason_len);
    if (now_ns > r->end_ns)
        r->end_ns = now_ns;
    /* No answer, or 503 unavailable (Redis did not answer the gateway in time): the write may have happened. */
    int uncertain = status == BENCH_STATUS_NONE ||
                    (status == 503 && reason != NULL && reason_len == 11 && memcmp(reason, "unavailable", 11) == 0);
    if (status >= 200 && status < 300)
        ++r->op_ok[op];
    if (op == BENCH_OP_REDEEM) {
        if (status == 200)
            ++r->successes;
        else if (uncertain)
            ++r->uncertain;
    } else if (op == BENCH_OP_JOIN) {
        if (status == 201)
            ++r->joins_new;
        else if (uncertain)
            ++r->joins_uncertain;
    } else if (op == BENCH_OP_POSITION && status == 404) {
        ++r->positions_not_found;
    }
    if (status == BENCH_STATUS_NONE)
        return;
    bench_hist_record(&r->all, latency_ns);
    bench_hist_record(&r->per_op[op], latency_ns);
    bench_hist_record(&r->interval, latency_ns);
}

void bench_result_finish(bench_result_t *r, uint64_t now_ns)
{
    close_intervals(r, now_ns);
    if (r->interval.total != 0 && r->num_series < BENCH_SERIES_MAX) {
        /* The last, partial interval. */
        uint64_t len = now_ns - (r->interval_end_ns - r->interval_ns);
        bench_point_t *p = &r->series[r->num_series++];
        p->t_s = (double)(now_ns - r->start_ns) / BENCH_NS_PER_SEC;
        p->rps = len != 0 ? (double)r->interval.total * BENCH_NS_PER_SEC / (double)len : 0;
        p->p50_ms = ms(bench_hist_percentile(&r->interval, 50));
        p->p99_ms = ms(bench_hist_percentile(&r->interval, 99));
        p->max_ms = ms(r->interval.max_ns);
    }
    if (now_ns > r->end_ns)
        r->end_ns = now_ns;
}

double bench_result_elapsed(const bench_result_t *r)
{
    return (double)(r->end_ns - r->start_ns) / BENCH_NS_PER_SEC;
}

double bench_result_throughput(const bench_result_t *r)
{
    double secs = bench_result_elapsed(r);
    return secs > 0 ? (double)r->requests / secs : 0.0;
}

double bench_result_ok_ops(const bench_result_t *r)
{
    uint64_t ok = 0;

    if (strcmp(r->via, "redis") == 0)
        return (double)r->successes;
    for (int op = 0; op != BENCH_OP_COUNT; ++op)
        ok += r->op_ok[op];
    return (double)ok;
}

void bench_result_fail(bench_result_t *r, const char *fmt, ...)
{
    size_t used = strlen(r->inv.failures);
    va_list args;

    r->inv.ok = 0;
    if (used != 0 && used + 2 < sizeof(r->inv.failures)) {
        strcat(r->inv.failures, "; ");
        used += 2;
    }
    va_start(args, fmt);
    vsnprintf(r->inv.failures + used, sizeof(r->inv.failures) - used, fmt, args);
    va_end(args);
}

const char *bench_grouped(char *buf, size_t cap, double v)
{
    char raw[32];
    size_t n = (size_t)snprintf(raw, sizeof(raw), "%.0f", v), out = 0;
    for (size_t i = 0; i != n && out + 2 < cap; ++i) {
        if (i != 0 && raw[i - 1] != '-' && (n - i) % 3 == 0)
            buf[out++] = ',';
        buf[out++] = raw[i];
    }
    buf[out] = '\0';
    return buf;
}

static void print_latency(FILE *f, const char *lead, const bench_hist_t *h)
{
    fprintf(f, "%slatency ms  p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  mean %.3f\n", lead,
            ms(bench_hist_percentile(h, 50)), ms(bench_hist_percentile(h, 90)), ms(bench_hist_percentile(h, 99)),
            ms(bench_hist_percentile(h, 99.9)), ms(h->max_ns), bench_hist_mean(h) / BENCH_NS_PER_MS);
}

void bench_result_print(const bench_result_t *r, FILE *f)
{
    char a[32], b[32], c[32];
    const bench_invariants_t *inv = &r->inv;

    fprintf(f, "%s: %s over %s, %s", r->name, r->workload, r->via, r->open_loop ? "open loop" : "closed loop");
    if (r->open_loop)
        fprintf(f, " at %s req/s", bench_grouped(a, sizeof(a), r->target_rate));
    fprintf(f, ", %u connection%s", r->connections, r->connections == 1 ? "" : "s");
    if (r->pipeline > 1)
        fprintf(f, " x %u calls in flight", r->pipeline);
    if (r->batch > 1)
        fprintf(f, " x %u redemptions each", r->batch);
    fprintf(f, ", %.1f s (redis %s)\n", r->duration_s, r->persistence);
    fprintf(f, "  requests %s in %.2f s = %s req/s", bench_grouped(a, sizeof(a), (double)r->requests), bench_result_elapsed(r),
            bench_grouped(b, sizeof(b), bench_result_throughput(r)));
    if (r->op_requests[BENCH_OP_REDEEM] != 0)
        fprintf(f, "; redemptions succeeded %s", bench_grouped(c, sizeof(c), (double)r->successes));
    if (r->op_requests[BENCH_OP_JOIN] != 0)
        fprintf(f, "; joins new %s, already joined %s", bench_grouped(a, sizeof(a), (double)r->joins_new),
                bench_grouped(c, sizeof(c), (double)(r->op_ok[BENCH_OP_JOIN] - r->joins_new)));
    if (r->op_requests[BENCH_OP_POSITION] != 0)
        fprintf(f, "; positions answered %s", bench_grouped(a, sizeof(a), (double)r->op_ok[BENCH_OP_POSITION]));
    fputc('\n', f);
    if (r->skipped[0] != '\0')
        fprintf(f, "  skipped: %s\n", r->skipped);
    print_latency(f, "  ", &r->all);
    for (int op = 0; op != BENCH_OP_COUNT; ++op) {
        char lead[32];
        if (r->op_requests[op] == 0 || r->op_requests[op] == r->requests)
            continue;
        snprintf(lead, sizeof(lead), "  %-8s ", bench_op_name((bench_op_t)op));
        print_latency(f, lead, &r->per_op[op]);
    }
    fprintf(f, "  answers:");
    for (size_t i = 0; i != r->num_answers; ++i)
        fprintf(f, "%s %s %d%s%s %s", i ? "," : "", bench_op_name(r->answers[i].op), r->answers[i].status,
                r->answers[i].reason[0] ? " " : "", r->answers[i].reason, bench_grouped(a, sizeof(a), (double)r->answers[i].count));
    fputc('\n', f);
    if (r->err_connect + r->err_closed + r->err_protocol + r->err_timeout + r->uncertain + r->past_capacity != 0)
        fprintf(f,
                "  errors: connect %llu, closed %llu, protocol %llu, timeout %llu; uncertain redemptions %llu; tickets past "
                "the pool's capacity %llu\n",
                (unsigned long long)r->err_connect, (unsigned long long)r->err_closed, (unsigned long long)r->err_protocol,
                (unsigned long long)r->err_timeout, (unsigned long long)r->uncertain, (unsigned long long)r->past_capacity);
    if (r->open_loop)
        fprintf(f, "  schedule: most requests behind %llu, never sent %llu\n", (unsigned long long)r->max_backlog,
                (unsigned long long)r->not_sent);
    bench_cpu_print(f, "  cpu: ", &r->cpu);
    if (!isnan(r->aof_bytes_per_op))
        fprintf(f, "  redis append-only file: %.0f bytes per operation\n", r->aof_bytes_per_op);
    fprintf(f, "  invariants:");
    if (inv->redis_checked)
        fprintf(f, " redis uses %+lld for %llu successes, %lld codes over max_uses, %lld missing;",
                inv->redis_after - inv->redis_before, (unsigned long long)r->successes, inv->over_max, inv->missing);
    if (inv->pg_checked)
        fprintf(f, " postgresql %+lld;", inv->pg_after - inv->pg_before);
    if (inv->wl_checked)
        fprintf(f, " waitlist %+lld entries for %llu new joins;", inv->wl_after - inv->wl_before, (unsigned long long)r->joins_new);
    if (inv->pg_wl_checked)
        fprintf(f, " postgresql waitlist %+lld;", inv->pg_wl_after - inv->pg_wl_before);
    if (inv->catchup_s >= 0)
        fprintf(f, " sync caught up %.3f s after the load stopped;", inv->catchup_s);
    fprintf(f, " %s%s\n", inv->ok ? "OK" : "BROKEN: ", inv->ok ? "" : inv->failures);
}

static json_t *latency_json(const bench_hist_t *h)
{
    return json_pack("{s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:I}", "p50", ms(bench_hist_percentile(h, 50)), "p90",
                     ms(bench_hist_percentile(h, 90)), "p99", ms(bench_hist_percentile(h, 99)), "p999",
                     ms(bench_hist_percentile(h, 99.9)), "max", ms(h->max_ns), "mean", bench_hist_mean(h) / BENCH_NS_PER_MS, "min",
                     h->total ? ms(h->min_ns) : 0.0, "count", (json_int_t)h->total);
}

/* The percentile curve of the whole run, for plots and comparisons. */
static json_t *percentiles_json(const bench_hist_t *h)
{
    static const double pcts[] = {0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 99.999, 100};
    json_t *arr = json_array();
    for (size_t i = 0; i != sizeof(pcts) / sizeof(pcts[0]); ++i)
        json_array_append_new(arr, json_pack("{s:f,s:f}", "pct", pcts[i], "ms", ms(bench_hist_percentile(h, pcts[i]))));
    return arr;
}

static json_t *result_json(const bench_result_t *r)
{
    const bench_invariants_t *inv = &r->inv;
    json_t *answers = json_array(), *ops = json_object(), *series = json_array(), *root;

    for (size_t i = 0; i != r->num_answers; ++i)
        json_array_append_new(answers,
                              json_pack("{s:s,s:i,s:s,s:I}", "op", bench_op_name(r->answers[i].op), "status", r->answers[i].status,
                                        "reason", r->answers[i].reason, "count", (json_int_t)r->answers[i].count));
    for (int op = 0; op != BENCH_OP_COUNT; ++op)
        if (r->op_requests[op] != 0)
            json_object_set_new(ops, bench_op_name((bench_op_t)op),
                                json_pack("{s:I,s:I,s:f,s:o}", "requests", (json_int_t)r->op_requests[op], "ok",
                                          (json_int_t)r->op_ok[op], "throughput",
                                          bench_result_elapsed(r) > 0 ? (double)r->op_requests[op] / bench_result_elapsed(r) : 0.0,
                                          "latency_ms", latency_json(&r->per_op[op])));
    for (size_t i = 0; i != r->num_series; ++i)
        json_array_append_new(series, json_pack("{s:f,s:f,s:f,s:f,s:f}", "t", r->series[i].t_s, "rps", r->series[i].rps, "p50",
                                                r->series[i].p50_ms, "p99", r->series[i].p99_ms, "max", r->series[i].max_ms));
    root =
        json_pack("{s:s,s:s,s:s,s:s,s:s,s:i,s:i,s:f,s:f,s:f,s:I,s:f,s:I,s:I,s:I}", "kind", "load", "name", r->name, "via", r->via,
                  "workload", r->workload, "mode", r->open_loop ? "open" : "closed", "connections", (int)r->connections, "pipeline",
                  (int)r->pipeline, "duration_s", r->duration_s, "elapsed_s", bench_result_elapsed(r), "target_rate",
                  r->target_rate, "requests", (json_int_t)r->requests, "throughput", bench_result_throughput(r), "successes",
                  (json_int_t)r->successes, "uncertain", (json_int_t)r->uncertain, "past_capacity", (json_int_t)r->past_capacity);
    json_object_set_new(root, "batch", json_integer(r->batch > 1 ? r->batch : 1));
    json_object_set_new(root, "joins_new", json_integer((json_int_t)r->joins_new));
    json_object_set_new(root, "joins_uncertain", json_integer((json_int_t)r->joins_uncertain));
    json_object_set_new(root, "positions_not_found", json_integer((json_int_t)r->positions_not_found));
    json_object_set_new(root, "redis_persistence", json_string(r->persistence));
    json_object_set_new(root, "gateway_threads", json_integer(r->gateway_threads));
    json_object_set_new(root, "skipped", json_string(r->skipped));
    json_object_set_new(root, "latency_ms", latency_json(&r->all));
    json_object_set_new(root, "percentiles", percentiles_json(&r->all));
    json_object_set_new(root, "ops", ops);
    json_object_set_new(root, "answers", answers);
    json_object_set_new(root, "errors",
                        json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "connect", (json_int_t)r->err_connect, "closed",
                                  (json_int_t)r->err_closed, "protocol", (json_int_t)r->err_protocol, "timeout",
                                  (json_int_t)r->err_timeout, "max_backlog", (json_int_t)r->max_backlog, "not_sent",
                                  (json_int_t)r->not_sent, "answers_dropped", (json_int_t)r->answers_dropped));
    json_object_set_new(root, "series", series);
    json_object_set_new(root, "cpu", bench_cpu_json(&r->cpu));
    json_object_set_new(root, "aof_bytes_per_op", isnan(r->aof_bytes_per_op) ? json_null() : json_real(r->aof_bytes_per_op));
    json_object_set_new(
        root, "invariants",
        json_pack("{s:b,s:I,s:I,s:I,s:I,s:b,s:I,s:I,s:b,s:I,s:I,s:b,s:I,s:I,s:f,s:b,s:s}", "redis_checked", inv->redis_checked,
                  "redis_before", (json_int_t)inv->redis_before, "redis_after", (json_int_t)inv->redis_after, "over_max",
                  (json_int_t)inv->over_max, "missing", (json_int_t)inv->missing, "pg_checked", inv->pg_checked, "pg_before",
                  (json_int_t)inv->pg_before, "pg_after", (json_int_t)inv->pg_after, "wl_checked", inv->wl_checked, "wl_before",
                  (json_int_t)inv->wl_before, "wl_after", (json_int_t)inv->wl_after, "pg_wl_checked", inv->pg_wl_checked,
                  "pg_wl_before", (json_int_t)inv->pg_wl_before, "pg_wl_after", (json_int_t)inv->pg_wl_after, "catchup_s",
                  inv->catchup_s, "ok", inv->ok, "failures", inv->failures));
    return root;
}

int bench_result_write_json(const bench_result_t *r, const char *path)
{
    json_t *root = result_json(r);
    int ret = 0;
    if (root == NULL || json_dump_file(root, path, JSON_INDENT(1) | JSON_REAL_PRECISION(8)) != 0) {
        bench_error("cannot write %s", path);
        ret = -1;
    }
    json_decref(root);
    return ret;
}
