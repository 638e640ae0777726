#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "gate.h"

int sync_gate_mode_parse(sync_gate_mode_t *mode, const char *value, size_t len)
{
    *mode = SYNC_GATE_AUTO;
    if (value == NULL || (len == 4 && memcmp(value, "auto", 4) == 0))
        return 0;
    if (len == 4 && memcmp(value, "open", 4) == 0) {
        *mode = SYNC_GATE_OPEN;
        return 0;
    }
    if (len == 6 && memcmp(value, "closed", 6) == 0) {
        *mode = SYNC_GATE_CLOSED;
        return 0;
    }
    return -1;
}

const char *sync_gate_mode_name(sync_gate_mode_t mode)
{
    switch (mode) {
    case SYNC_GATE_OPEN:
        return "open";
    case SYNC_GATE_CLOSED:
        return "closed";
    default:
        return "auto";
    }
}

/* num / den in [0, 1]; 0 when there is no denominator. */
static double rate(long long num, long long den)
{
    if (den <= 0 || num <= 0)
        return 0;
    return num >= den ? 1 : (double)num / (double)den;
}

double sync_gate_round4(double x)
{
    /* Half away from zero, like round(), without libm; the gate's numbers are far inside long long. */
    return (double)(long long)(x * 10000 + (x < 0 ? -0.5 : 0.5)) / 10000;
}

__attribute__((format(printf, 5, 6))) static void add_alert(sync_gate_decision_t *d, const char *type, double value,
                                                            double threshold, const char *fmt, ...)
{
    va_list args;
    sync_gate_alert_t *a;

    if (d->num_alerts == SYNC_GATE_MAX_ALERTS)
        return;
    a = &d->alerts[d->num_alerts++];
    a->type = type;
    a->value = value;
    a->threshold = threshold;
    va_start(args, fmt);
    vsnprintf(a->message, sizeof(a->message), fmt, args);
    va_end(args);
}

/* The automatic gate: no data opens it, the thresholds close it, the band between them keeps it. */
static int auto_state(const sync_gate_decision_t *d, int prev_closed, const ig_config_t *cfg)
{
    int fraud_over = d->fraud_rate > cfg->gate_max_fraud_rate;

    if (d->no_data)
        return 0;
    if (!prev_closed)
        return d->trust_score < cfg->gate_close_below || fraud_over;
    return !(d->trust_score > cfg->gate_reopen_above && !fraud_over);
}

static void raise_alerts(sync_gate_decision_t *d, const sync_gate_counts_t *c, const ig_config_t *cfg)
{
    if (c->burst > 0)
        add_alert(d, "burst", (double)c->burst, cfg->gate_burst_per_network,
                  "%lld redemptions came in bursts of more than %u within %u s from %lld network%s", c->burst,
                  cfg->gate_burst_per_network, cfg->gate_burst_window_s, c->burst_nets, c->burst_nets == 1 ? "" : "s");
    if (c->ring > 0)
        add_alert(d, "referral_ring", (double)c->ring, 0, "%lld referred user%s on a referral cycle", c->ring,
                  c->ring == 1 ? " is" : "s are");
    if (c->disposable > 0)
        add_alert(d, "disposable_domain", (double)c->disposable, 0, "%lld redemption%s by addresses at disposable domains",
                  c->disposable, c->disposable == 1 ? "" : "s");
    if (c->fraud_flagged > 0)
        add_alert(d, "fraud_flagged", (double)c->fraud_flagged, 0, "%lld user%s flagged as fraud by the application",
                  c->fraud_flagged, c->fraud_flagged == 1 ? "" : "s");
    if (d->no_data)
        return;
    if (d->fraud_rate > cfg->gate_max_fraud_rate)
        add_alert(d, "fraud_rate", sync_gate_round4(d->fraud_rate), cfg->gate_max_fraud_rate,
                  "fraud rate %.4f is above the maximum %.4f", d->fraud_rate, cfg->gate_max_fraud_rate);
    if (d->trust_score < cfg->gate_close_below)
        add_alert(d, "trust_score", sync_gate_round4(d->trust_score), cfg->gate_close_below,
                  "trust score %.4f is below the closing level %.4f", d->trust_score, cfg->gate_close_below);
}

void sync_gate_decide(sync_gate_decision_t *d, const sync_gate_counts_t *c, int prev_auto_closed, sync_gate_mode_t mode,
                      const ig_config_t *cfg)
{
    double we = cfg->gate_weight_engagement, wc = cfg->gate_weight_churn, wf = cfg->gate_weight_fraud, sum = we + wc + wf;

    memset(d, 0, sizeof(*d));
    d->mode = mode;
    d->no_data = c->redeemed < (long long)cfg->gate_min_redemptions || c->redeemed == 0;
    d->signalled = c->signalled_redemptions + c->ring;
    d->engagement_rate = rate(c->activated, c->redeemed);
    d->churn_rate = rate(c->churned, c->activated);
    d->fraud_rate = rate(c->fraud_flagged + d->signalled, c->redeemed);
    /* All weights 0 would leave nothing to weigh: count the three rates equally. */
    if (!(sum > 0))
        we = wc = wf = 1, sum = 3;
    d->trust_score = (we * d->engagement_rate + wc * (1 - d->churn_rate) + wf * (1 - d->fraud_rate)) / sum;
    d->trust_score = d->trust_score < 0 ? 0 : d->trust_score > 1 ? 1 : d->trust_score;

    d->auto_closed = auto_state(d, prev_auto_closed, cfg);
    d->closed = mode == SYNC_GATE_CLOSED || (mode == SYNC_GATE_AUTO && d->auto_closed);
    raise_alerts(d, c, cfg);
    if (mode != SYNC_GATE_AUTO)
        add_alert(d, "override", 0, 0, "an operator forced the gate %s", sync_gate_mode_name(mode));

    if (d->closed)
        d->health = "paused";
    else if (d->no_data)
        d->health = "no_data";
    else if (d->num_alerts != 0 || d->trust_score <= cfg->gate_reopen_above)
        d->health = "degraded";
    else
        d->health = "healthy";
}

int sync_gate_should_record(const sync_gate_decision_t *cur, const sync_gate_decision_t *last, unsigned long long elapsed_ms,
                            unsigned long long min_interval_ms)
{
    if (last == NULL || elapsed_ms >= min_interval_ms)
        return 1;
    if (cur->closed != last->closed || cur->auto_closed != last->auto_closed || cur->mode != last->mode ||
        strcmp(cur->health, last->health) != 0 || cur->num_alerts != last->num_alerts)
        return 1;
    return sync_gate_round4(cur->trust_score) != sync_gate_round4(last->trust_score) ||
           sync_gate_round4(cur->engagement_rate) != sync_gate_round4(last->engagement_rate) ||
           sync_gate_round4(cur->churn_rate) != sync_gate_round4(last->churn_rate) ||
           sync_gate_round4(cur->fraud_rate) != sync_gate_round4(last->fraud_rate);
}

void sync_gate_format_time(char out[SYNC_GATE_TIME_BYTES], long long ms)
{
    time_t secs = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    struct tm tm;

    gmtime_r(&secs, &tm);
    snprintf(out, SYNC_GATE_TIME_BYTES, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms - (long long)secs * 1000));
}

/* A JSON writer into a fixed buffer; once something does not fit, every later write fails too. */
typedef struct json_buf_t {
    char *p;
    size_t cap;
    size_t len;
    int overflow;
} json_buf_t;

__attribute__((format(printf, 2, 3))) static void put(json_buf_t *b, const char *fmt, ...)
{
    va_list args;
    int n;

    if (b->overflow)
        return;
    va_start(args, fmt);
    n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, args);
    va_end(args);
    if (n < 0 || (size_t)n >= b->cap - b->len)
        b->overflow = 1;
    else
        b->len += (size_t)n;
}

/* A rate or score: 4 decimals, trailing zeros dropped (0.5, not 0.5000). */
static void put_number(json_buf_t *b, double x)
{
    put(b, "%.10g", sync_gate_round4(x));
}

/* A string known to need no escaping but quotes and backslashes (messages are ours, not clients'). */
static void put_string(json_buf_t *b, const char *s)
{
    put(b, "\"");
    for (; *s != '\0'; ++s) {
        if (*s == '"' || *s == '\\')
            put(b, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            put(b, "\\u%04x", (unsigned)(unsigned char)*s);
        else
            put(b, "%c", *s);
    }
    put(b, "\"");
}

static void put_metrics(json_buf_t *b, const sync_gate_decision_t *d, const sync_gate_counts_t *c, const ig_config_t *cfg)
{
    put(b,
        "{\"redeemed\":%lld,\"activated\":%lld,\"churned\":%lld,\"fraud_flagged\":%lld,\"signalled\":%lld,"
        "\"window_days\":%u,\"min_redemptions\":%u,\"signals\":{\"burst\":%lld,\"burst_networks\":%lld,"
        "\"disposable_domain\":%lld,\"referral_ring\":%lld}}",
        c->redeemed, c->activated, c->churned, c->fraud_flagged, d->signalled, cfg->gate_window_days, cfg->gate_min_redemptions,
        c->burst, c->burst_nets, c->disposable, c->ring);
}

static void put_alerts(json_buf_t *b, const sync_gate_decision_t *d)
{
    put(b, "[");
    for (size_t i = 0; i != d->num_alerts; ++i) {
        const sync_gate_alert_t *a = &d->alerts[i];
        put(b, "%s{\"type\":", i == 0 ? "" : ",");
        put_string(b, a->type);
        put(b, ",\"message\":");
        put_string(b, a->message);
        put(b, ",\"value\":");
        put_number(b, a->value);
        put(b, ",\"threshold\":");
        put_number(b, a->threshold);
        put(b, "}");
    }
    put(b, "]");
}

int sync_gate_metrics_json(char *out, size_t cap, const sync_gate_decision_t *d, const sync_gate_counts_t *c,
                           const ig_config_t *cfg)
{
    json_buf_t b = {out, cap, 0, cap == 0};

    put_metrics(&b, d, c, cfg);
    return b.overflow ? -1 : 0;
}

int sync_gate_alerts_json(char *out, size_t cap, const sync_gate_decision_t *d)
{
    json_buf_t b = {out, cap, 0, cap == 0};

    put_alerts(&b, d);
    return b.overflow ? -1 : 0;
}

int sync_gate_trust_json(char *out, size_t cap, const sync_gate_decision_t *d, const sync_gate_counts_t *c, const ig_config_t *cfg,
                         long long at_ms)
{
    json_buf_t b = {out, cap, 0, cap == 0};
    char at[SYNC_GATE_TIME_BYTES];

    sync_gate_format_time(at, at_ms);
    put(&b, "{\"trust_score\":");
    put_number(&b, d->trust_score);
    put(&b, ",\"churn_rate\":");
    put_number(&b, d->churn_rate);
    put(&b, ",\"fraud_rate\":");
    put_number(&b, d->fraud_rate);
    put(&b, ",\"engagement_rate\":");
    put_number(&b, d->engagement_rate);
    put(&b, ",\"invites_paused\":%s,\"invites_allowed\":%s,\"health_status\":\"%s\",\"mode\":\"%s\",\"metrics\":",
        d->closed ? "true" : "false", d->closed ? "false" : "true", d->health, sync_gate_mode_name(d->mode));
    put_metrics(&b, d, c, cfg);
    put(&b, ",\"alerts\":");
    put_alerts(&b, d);
    put(&b, ",\"evaluated_at\":\"%s\"}", at);
    return b.overflow ? -1 : 0;
}
