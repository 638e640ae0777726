/* SVG plots of a run (svg.h). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "bench.h"
#include "svg.h"

#define W 980
#define H 440
#define LEFT 72
#define RIGHT 72
#define TOP 48
#define BOTTOM 52
#define PW (W - LEFT - RIGHT)
#define PH (H - TOP - BOTTOM)
/* Percentile plot: at most 99.9999 %. */
#define MAX_NINES 6

/* A round step (1, 2 or 5 times a power of ten) that cuts span into about n ticks. */
static double nice_step(double span, int n)
{
    double raw = span / n, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

/* A logarithmic latency axis over whole decades of milliseconds. */
typedef struct log_axis_t {
    double lo, hi; /* log10 of the bounds */
} log_axis_t;

static void log_axis_fit(log_axis_t *a, double min_ms, double max_ms)
{
    if (min_ms <= 0 || min_ms > max_ms)
        min_ms = 0.01;
    if (max_ms <= min_ms)
        max_ms = min_ms * 10;
    a->lo = floor(log10(min_ms));
    a->hi = ceil(log10(max_ms));
    if (a->hi <= a->lo)
        a->hi = a->lo + 1;
}

static double log_y(const log_axis_t *a, double ms)
{
    double v = ms > 0 ? log10(ms) : a->lo;
    if (v < a->lo)
        v = a->lo;
    return TOP + PH - (v - a->lo) / (a->hi - a->lo) * PH;
}

static void header(FILE *f, const char *title, const char *subtitle)
{
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
            "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
            "<text x=\"%d\" y=\"20\" font-size=\"15\" font-weight=\"bold\">%s</text>\n"
            "<text x=\"%d\" y=\"37\" font-size=\"11\" fill=\"#555\">%s</text>\n",
            W, H, W, H, LEFT, title, LEFT, subtitle);
}

/* Horizontal grid and labels of a log latency axis. */
static void log_grid(FILE *f, const log_axis_t *a)
{
    for (double d = a->lo; d <= a->hi + 1e-9; d += 1) {
        for (int m = 1; m <= 9; ++m) {
            double ms = pow(10, d) * m;
            if (log10(ms) > a->hi + 1e-9)
                break;
            double y = log_y(a, ms);
            fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n", LEFT, LEFT + PW, y, y,
                    m == 1 ? "#bbb" : "#eee");
            if (m == 1 || m == 2 || m == 5)
                fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" fill=\"#333\">%g</text>\n", LEFT - 6, y + 4, ms);
        }
    }
    fprintf(f,
            "<text transform=\"translate(18,%d) rotate(-90)\" text-anchor=\"middle\">latency (ms, log scale)</text>\n"
            "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#333\"/>\n",
            TOP + PH / 2, LEFT, TOP, PW, PH);
}

static void legend(FILE *f, int i, const char *color, const char *label)
{
    int x = LEFT + 10 + i * 120;
    fprintf(f,
            "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"2\"/>"
            "<text x=\"%d\" y=\"%d\">%s</text>\n",
            x, x + 22, TOP + 14, TOP + 14, color, x + 27, TOP + 18, label);
}

static FILE *open_svg(const char *prefix, const char *suffix, char *path, size_t cap)
{
    FILE *f;
    snprintf(path, cap, "%s.%s.svg", prefix, suffix);
    if ((f = fopen(path, "w")) == NULL)
        bench_error("cannot write %s: %s", path, strerror(errno));
    return f;
}

static void subtitle_of(char *out, size_t cap, const bench_result_t *r)
{
    snprintf(out, cap, "%s over %s, %s, %u conn%s%s, %.0f req/s, p99 %.3g ms, max %.3g ms; redis %s", r->workload, r->via,
             r->open_loop ? "open loop" : "closed loop", r->connections, r->connections == 1 ? "" : "s",
             r->pipeline > 1 ? " pipelined" : "", bench_result_throughput(r),
             (double)bench_hist_percentile(&r->all, 99) / BENCH_NS_PER_MS, (double)r->all.max_ns / BENCH_NS_PER_MS, r->persistence);
}

static int write_time(const bench_result_t *r, const char *prefix)
{
    static const char *const colors[] = {"#1f77b4", "#ff7f0e", "#d62728"};
    static const char *const labels[] = {"p50", "p99", "max"};
    char path[600], title[160], sub[300];
    double t_max = 0, rps_max = 0, lo = 1e300, hi = 0;
    log_axis_t a;
    FILE *f = open_svg(prefix, "latency", path, sizeof(path));

    if (f == NULL)
        return -1;
    for (size_t i = 0; i != r->num_series; ++i) {
        const bench_point_t *p = &r->series[i];
        t_max = fmax(t_max, p->t_s);
        rps_max = fmax(rps_max, p->rps);
        if (p->p50_ms > 0)
            lo = fmin(lo, p->p50_ms);
        hi = fmax(hi, p->max_ms);
    }
    if (t_max <= 0)
        t_max = 1;
    if (rps_max <= 0)
        rps_max = 1;
    double t_step = nice_step(t_max, 10), rps_step = nice_step(rps_max, 4);
    rps_max = ceil(rps_max / rps_step) * rps_step;
    log_axis_fit(&a, lo, hi);
    snprintf(title, sizeof(title), "%s: latency over time", r->name);
    subtitle_of(sub, sizeof(sub), r);
    header(f, title, sub);
    /* Throughput behind the latencies, on the right-hand axis. */
    fprintf(f, "<polyline fill=\"#e8e8e8\" stroke=\"none\" points=\"%d,%d", LEFT, TOP + PH);
    for (size_t i = 0; i != r->num_series; ++i)
        fprintf(f, " %.1f,%.1f", LEFT + r->series[i].t_s / t_max * PW, TOP + PH - r->series[i].rps / rps_max * PH);
    fprintf(f, " %d,%d\"/>\n", LEFT + PW, TOP + PH);
    for (double v = 0; v <= rps_max + rps_step / 2; v += rps_step)
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" fill=\"#888\">%.0f</text>\n", LEFT + PW + 6, TOP + PH - v / rps_max * PH + 4, v);
    fprintf(f, "<text transform=\"translate(%d,%d) rotate(90)\" text-anchor=\"middle\" fill=\"#888\">answers/s (grey)</text>\n",
            W - 12, TOP + PH / 2);
    log_grid(f, &a);
    for (double t = 0; t <= t_max + 1e-9; t += t_step)
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%g</text>\n", LEFT + t / t_max * PW, TOP + PH + 16, t);
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">time (s)</text>\n", LEFT + PW / 2, H - 12);
    for (int s = 0; s != 3; ++s) {
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%s\" points=\"", colors[s], s == 2 ? "1" : "1.8");
        for (size_t i = 0; i != r->num_series; ++i) {
            const bench_point_t *p = &r->series[i];
            double v = s == 0 ? p->p50_ms : s == 1 ? p->p99_ms : p->max_ms;
            fprintf(f, "%.1f,%.1f ", LEFT + p->t_s / t_max * PW, log_y(&a, v));
        }
        fprintf(f, "\"/>\n");
        legend(f, s, colors[s], labels[s]);
    }
    fprintf(f, "</svg>\n");
    if (fclose(f) != 0) {
        bench_error("cannot write %s", path);
        return -1;
    }
    return 0;
}

static void percentile_curve(FILE *f, const bench_hist_t *h, const log_axis_t *a, double x_max, const char *color, double width)
{
    fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%.1f\" points=\"", color, width);
    for (double x = 0; x <= x_max + 1e-9; x += 0.02) {
        double pct = 100.0 * (1.0 - pow(10, -x));
        fprintf(f, "%.1f,%.1f ", LEFT + x / x_max * PW, log_y(a, (double)bench_hist_percentile(h, pct) / BENCH_NS_PER_MS));
    }
    fprintf(f, "%.1f,%.1f\"/>\n", (double)LEFT + PW, log_y(a, (double)h->max_ns / BENCH_NS_PER_MS));
}

static int write_percentiles(const bench_result_t *r, const char *prefix)
{
    static const char *const colors[] = {"#333", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"};
    char path[600], title[160], sub[300];
    double x_max;
    log_axis_t a;
    int n_ops = 0;
    FILE *f = open_svg(prefix, "percentiles", path, sizeof(path));

    if (f == NULL)
        return -1;
    x_max = r->all.total > 1 ? ceil(log10((double)r->all.total)) : 1;
    if (x_max > MAX_NINES)
        x_max = MAX_NINES;
    if (x_max < 1)
        x_max = 1;
    log_axis_fit(&a, (double)r->all.min_ns / BENCH_NS_PER_MS, (double)r->all.max_ns / BENCH_NS_PER_MS);
    snprintf(title, sizeof(title), "%s: latency by percentile", r->name);
    subtitle_of(sub, sizeof(sub), r);
    header(f, title, sub);
    log_grid(f, &a);
    for (int k = 0; k <= (int)x_max; ++k) {
        double x = LEFT + k / x_max * PW;
        char label[16];
        if (k == 0)
            snprintf(label, sizeof(label), "0%%");
        else
            snprintf(label, sizeof(label), "%.*f%%", k > 2 ? k - 2 : 0, 100.0 * (1.0 - pow(10, -k)));
        fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"#eee\"/>", x, x, TOP, TOP + PH);
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", x, TOP + PH + 16, label);
    }
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">percentile</text>\n", LEFT + PW / 2, H - 12);
    percentile_curve(f, &r->all, &a, x_max, colors[0], 2.2);
    legend(f, n_ops++, colors[0], "all");
    for (int op = 0; op != BENCH_OP_COUNT; ++op) {
        if (r->op_requests[op] == 0 || r->op_requests[op] == r->requests || n_ops == 6)
            continue;
        percentile_curve(f, &r->per_op[op], &a, x_max, colors[n_ops], 1.4);
        legend(f, n_ops, colors[n_ops], bench_op_name((bench_op_t)op));
        ++n_ops;
    }
    fprintf(f, "</svg>\n");
    if (fclose(f) != 0) {
        bench_error("cannot write %s", path);
        return -1;
    }
    return 0;
}

int bench_svg_write(const bench_result_t *r, const char *prefix)
{
    int a = write_time(r, prefix), b = write_percentiles(r, prefix);
    return a == 0 && b == 0 ? 0 : -1;
}
