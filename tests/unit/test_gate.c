/* The trust gate's decision (sync/gate.h): rates, score, hysteresis, overrides, health, and the published JSON. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "gate.h"

/* The documented defaults: weights 0.4/0.3/0.3, close below 0.5, reopen above 0.6, fraud at most 0.2, 20 redemptions. */
static ig_config_t cfg;

static int setup(void **state)
{
    ig_config_defaults(&cfg);
    return 0;
}

/* A window of 100 redemptions with the given activated, churned and flagged users. */
static sync_gate_counts_t window(long long activated, long long churned, long long flagged)
{
    sync_gate_counts_t c;
    memset(&c, 0, sizeof(c));
    c.redeemed = 100;
    c.activated = activated;
    c.churned = churned;
    c.fraud_flagged = flagged;
    return c;
}

static void defaults_are_documented(void **state)
{
    assert_int_equal(cfg.gate_min_redemptions, 20);
    assert_true(cfg.gate_weight_engagement == 0.4 && cfg.gate_weight_churn == 0.3 && cfg.gate_weight_fraud == 0.3);
    assert_true(cfg.gate_close_below == 0.5 && cfg.gate_reopen_above == 0.6 && cfg.gate_max_fraud_rate == 0.2);
}

static void rates_and_score(void **state)
{
    sync_gate_counts_t c = window(80, 20, 5);
    sync_gate_decision_t d;

    sync_gate_decide(&d, &c, 0, SYNC_GATE_AUTO, &cfg);
    assert_true(sync_gate_round4(d.engagement_rate) == 0.8);
    assert_true(sync_gate_round4(d.churn_rate) == 0.25);
    assert_true(sync_gate_round4(d.fraud_rate) == 0.05);
    /* (0.4 * 0.8 + 0.3 * 0.75 + 0.3 * 0.95) / 1 = 0.83 */
    assert_true(sync_gate_round4(d.trust_score) == 0.83);
    assert_false(d.closed);
    assert_string_equal(d.health, "degraded"); /* the flagged users raise an alert */

    c.fraud_flagged = 0;
    sync_gate_decide(&d, &c, 0, SYNC_GATE_AUTO, &cfg);
    assert_string_equal(d.health, "healthy");
    assert_int_equal(d.num_alerts, 0);
}

static void zero_denominators_and_clamping(void **state)
{
    sync_gate_counts_t c = window(0, 5, 0);
    sync_gate_decision_t d;

    /* Nobody activated: churn is 0, not a division by zero; nobody engaged scores exactly the reopen level. */
    sync_gate_decide(&d, &c, 0, SYNC_GATE_AUTO, &cfg);
    assert_true(d.churn_rate == 0 && d.engagement_rate == 0 && d.fraud_rate == 0);
    assert_true(sync_gate_round4(d.trust_score) == 0.6);
    assert_false(d.closed);
    assert_string_equal(d.health, "degraded");

    /* More events than redemptions (users from before the window): rates stay within [0, 1]. */
    c = window(500, 900, 300);
    sync_gate_decide(&d, &c, 0, SYNC_GATE_AUTO, &cfg);
    assert_true(d.engagement_rate == 1 && d.churn_rate == 1 && d.fraud_rate == 1);
    assert_true(sync_gate_round4(d.trust_score) == 0.4);
}

static void no_data_is_open(void **state)
{
    sync_gate_counts_t c = window(0, 0, 19);
    sync_gate_decision_t d;

    c.redeemed = 19;
    /* Even all of them flagged, and even a gate that was closed: below the minimum nothing is judged. */
    sync_gate_decide(&d, &c, 1, SYNC_GATE_AUTO, &cfg);
    assert_true(d.no_data);
    assert_false(d.closed);
    assert_false(d.auto_closed);
    assert_string_equal(d.health, "no_data");

    c.redeemed = 0;
    sync_gate_decide(&d, &c, 0, SYNC_GATE_AUTO, &cfg);
    assert_true(d.no_data && !d.closed);
    assert_true(d.trust_score >= 0 && d.trust_score <= 1);

    /* Exactly the minimum is data. */
    c = window(15, 0, 0);
    c.redeemed = 20;
    sync_gate_decide(&d, &c, 0, SYNC_GATE_AUTO, &cfg);
    assert_false(d.no_data);
    assert_string_equal(d.health, "healthy");
}

static void closes_when_fraud_crosses_the_maximum(void **state)
{
    sync_gate_counts_t c = window(90, 0, 20);
    sync_gate_decision_t d;

    /* 20 % is the maximum itself: still open (score 0.36 + 0.3 + 0.24 = 0.9). */
    sync_gate_decide(&d, &c, 0, SYNC_GATE_AUTO, &cfg);
    assert_false(d.closed);
    /* 21 %: closed although the score (0.897) is high. */
    c.fraud_flagged = 21;
    sync_gate_decide(&d, &c, 0, SYNC_GATE_AUTO, &cfg);
    assert_true(d.closed && d.auto_closed);
    assert_true(d.trust_score > cfg.gate_reopen_above);
    assert_string_equal(d.health, "paused");
    int found = 0;
    for (size_t i = 0; i != d.num_alerts; ++i)
        found |= strcmp(d.alerts[i].type, "fraud_rate") == 0;
    assert_true(found);
}

static void signals_count_as_fraud(void **state)
{
    sync_gate_counts_t c = window(90, 0, 10);
    sync_gate_decision_t d;

    c.burst = 8;
    c.burst_nets = 1;
    c.disposable = 5;
    c.signalled_redemptions = 11; /* 2 redemptions were both, counted once */
    c.ring = 2;
    sync_gate_decide(&d, &c, 0, SYNC_GATE_AUTO, &cfg);
    assert_int_equal(d.signalled, 13);
    assert_true(sync_gate_round4(d.fraud_rate) == 0.23);
    assert_true(d.closed);
    const char *want[] = {"burst", "referral_ring", "disposable_domain", "fraud_flagged", "fraud_rate"};
    assert_int_equal(d.num_alerts, 5);
    for (size_t i = 0; i != 5; ++i)
        assert_string_equal(d.alerts[i].type, want[i]);
}

/* A flagged user caught by a signal too counts twice (the signals are counted per minute, gate.h): the rate clamps to 1. */
static void flagged_and_signalled_may_overlap(void **state)
{
    sync_gate_counts_t c = window(0, 0, 60);
    sync_gate_decision_t d;

    c.burst = 70;
    c.burst_nets = 1;
    c.signalled_redemptions = 70;
    sync_gate_decide(&d, &c, 0, SYNC_GATE_AUTO, &cfg);
    assert_int_equal(d.signalled, 70);
    assert_true(d.fraud_rate == 1);
    assert_true(d.trust_score >= 0 && d.trust_score <= 1);
    assert_true(d.closed);
}

static void closes_on_a_low_score(void **state)
{
    /* Engagement 0.2, churn 0.5, fraud 0.1: 0.08 + 0.15 + 0.27 = 0.5, not below: open. */
    sync_gate_counts_t c = window(20, 10, 10);
    sync_gate_decision_t d;

    sync_gate_decide(&d, &c, 0, SYNC_GATE_AUTO, &cfg);
    assert_true(sync_gate_round4(d.trust_score) == 0.5);
    assert_false(d.closed);
    /* Churn 0.6: 0.08 + 0.12 + 0.27 = 0.47: closed. */
    c.churned = 12;
    sync_gate_decide(&d, &c, 0, SYNC_GATE_AUTO, &cfg);
    assert_true(d.closed);
}

static void hysteresis_band(void **state)
{
    sync_gate_counts_t c;
    sync_gate_decision_t d;

    /* A score inside the band keeps either state: nobody activated, 17 % flagged: 0 + 0.3 + 0.3 * 0.83 = 0.549. */
    c = window(0, 0, 17);
    sync_gate_decide(&d, &c, 1, SYNC_GATE_AUTO, &cfg);
    assert_true(d.trust_score > cfg.gate_close_below && d.trust_score < cfg.gate_reopen_above);
    assert_true(d.closed);
    sync_gate_decide(&d, &c, 0, SYNC_GATE_AUTO, &cfg);
    assert_false(d.closed);
    assert_string_equal(d.health, "degraded");

    /* Exactly the reopen level is still in the band: a closed gate stays closed. */
    c = window(0, 0, 0);
    sync_gate_decide(&d, &c, 1, SYNC_GATE_AUTO, &cfg);
    assert_true(sync_gate_round4(d.trust_score) == 0.6);
    assert_true(d.closed);

    /* Above it, with fraud within the maximum: reopens. */
    c = window(10, 0, 0); /* 0.04 + 0.3 + 0.3 = 0.64 */
    sync_gate_decide(&d, &c, 1, SYNC_GATE_AUTO, &cfg);
    assert_false(d.closed);
    assert_false(d.auto_closed);

    /* Above it but fraud over the maximum: stays closed. */
    c = window(100, 0, 21); /* 0.4 + 0.3 + 0.237 = 0.937 */
    sync_gate_decide(&d, &c, 1, SYNC_GATE_AUTO, &cfg);
    assert_true(d.closed);
}

static void a_sequence_does_not_flap(void **state)
{
    /* Flagged users per 100 redemptions over successive evaluations (no one activated: score = 0.6 - 0.003 * flagged). */
    static const struct {
        long long flagged;
        int closed;
    } steps[] = {{0, 0}, {20, 0}, {34, 1}, {30, 1}, {20, 1}, {1, 1}, {0, 1}};
    int prev = 0;
    sync_gate_decision_t d;

    for (size_t i = 0; i != sizeof(steps) / sizeof(steps[0]); ++i) {
        sync_gate_counts_t c = window(0, 0, steps[i].flagged);
        sync_gate_decide(&d, &c, prev, SYNC_GATE_AUTO, &cfg);
        if (d.closed != steps[i].closed)
            fail_msg("step %zu (flagged %lld, score %.4f): closed %d, expected %d", i, steps[i].flagged, d.trust_score, d.closed,
                     steps[i].closed);
        prev = d.auto_closed;
    }
    /* Engagement lifts the score above the reopen level: open again. */
    sync_gate_counts_t c = window(30, 0, 0);
    sync_gate_decide(&d, &c, prev, SYNC_GATE_AUTO, &cfg);
    assert_false(d.closed);
}

static void overrides(void **state)
{
    sync_gate_counts_t bad = window(0, 0, 50), good = window(90, 0, 0), none = window(0, 0, 0);
    sync_gate_decision_t d;

    none.redeemed = 3;
    /* Forced open: open whatever the metrics, while the automatic state goes on underneath. */
    sync_gate_decide(&d, &bad, 0, SYNC_GATE_OPEN, &cfg);
    assert_false(d.closed);
    assert_true(d.auto_closed);
    assert_string_equal(d.health, "degraded");
    assert_string_equal(d.alerts[d.num_alerts - 1].type, "override");

    /* Forced closed: closed with healthy metrics and with no data. */
    sync_gate_decide(&d, &good, 0, SYNC_GATE_CLOSED, &cfg);
    assert_true(d.closed);
    assert_false(d.auto_closed);
    assert_string_equal(d.health, "paused");
    sync_gate_decide(&d, &none, 0, SYNC_GATE_CLOSED, &cfg);
    assert_true(d.closed);
    assert_string_equal(d.health, "paused");

    /* Back to auto: from the automatic state. */
    sync_gate_decide(&d, &bad, 1, SYNC_GATE_AUTO, &cfg);
    assert_true(d.closed);
}

static void mode_values(void **state)
{
    sync_gate_mode_t m;

    assert_int_equal(sync_gate_mode_parse(&m, NULL, 0), 0);
    assert_int_equal(m, SYNC_GATE_AUTO);
    assert_int_equal(sync_gate_mode_parse(&m, "open", 4), 0);
    assert_int_equal(m, SYNC_GATE_OPEN);
    assert_int_equal(sync_gate_mode_parse(&m, "closed", 6), 0);
    assert_int_equal(m, SYNC_GATE_CLOSED);
    assert_int_equal(sync_gate_mode_parse(&m, "auto", 4), 0);
    assert_int_equal(m, SYNC_GATE_AUTO);
    assert_int_equal(sync_gate_mode_parse(&m, "CLOSED", 6), -1);
    assert_int_equal(m, SYNC_GATE_AUTO);
    assert_int_equal(sync_gate_mode_parse(&m, "closedx", 7), -1);
    assert_string_equal(sync_gate_mode_name(SYNC_GATE_CLOSED), "closed");
}

static void recording_policy(void **state)
{
    sync_gate_counts_t c = window(50, 5, 2);
    sync_gate_decision_t a, b;

    sync_gate_decide(&a, &c, 0, SYNC_GATE_AUTO, &cfg);
    assert_true(sync_gate_should_record(&a, NULL, 0, 60000));
    b = a;
    assert_false(sync_gate_should_record(&b, &a, 59999, 60000));
    assert_true(sync_gate_should_record(&b, &a, 60000, 60000));
    /* A move below the 4th decimal is not a change; one at it is. */
    b.trust_score = a.trust_score + 0.00001;
    assert_int_equal(sync_gate_should_record(&b, &a, 10, 60000),
                     sync_gate_round4(b.trust_score) != sync_gate_round4(a.trust_score));
    b = a;
    b.fraud_rate += 0.001;
    assert_true(sync_gate_should_record(&b, &a, 10, 60000));
    b = a;
    b.mode = SYNC_GATE_OPEN;
    assert_true(sync_gate_should_record(&b, &a, 10, 60000));
    b = a;
    b.closed = 1;
    assert_true(sync_gate_should_record(&b, &a, 10, 60000));
}

static void trust_document(void **state)
{
    sync_gate_counts_t c = window(80, 20, 5);
    sync_gate_decision_t d;
    char json[SYNC_GATE_JSON_BYTES];

    c.burst = 210;
    c.burst_nets = 1;
    sync_gate_decide(&d, &c, 0, SYNC_GATE_AUTO, &cfg);
    assert_int_equal(sync_gate_trust_json(json, sizeof(json), &d, &c, &cfg, 1766188800123LL), 0);
    assert_non_null(strstr(json, "{\"trust_score\":"));
    assert_non_null(strstr(json, "\"churn_rate\":0.25,\"fraud_rate\":0.05,\"engagement_rate\":0.8,"));
    assert_non_null(
        strstr(json, "\"invites_paused\":false,\"invites_allowed\":true,\"health_status\":\"degraded\",\"mode\":\"auto\""));
    assert_non_null(strstr(json,
                           "\"metrics\":{\"redeemed\":100,\"activated\":80,\"churned\":20,\"fraud_flagged\":5,\"signalled\":0,"
                           "\"window_days\":7,"));
    assert_non_null(strstr(json, "\"alerts\":[{\"type\":\"burst\",\"message\":\"210 redemptions came in bursts"));
    assert_non_null(strstr(json, "\"evaluated_at\":\"2025-12-20T00:00:00.123Z\"}"));
    assert_int_equal(json[strlen(json) - 1], '}');

    /* Too small a buffer fails rather than truncating. */
    assert_int_equal(sync_gate_trust_json(json, 40, &d, &c, &cfg, 0), -1);
    assert_int_equal(sync_gate_alerts_json(json, sizeof(json), &d), 0);
    assert_int_equal(json[0], '[');
}

static void time_format(void **state)
{
    char out[SYNC_GATE_TIME_BYTES];

    sync_gate_format_time(out, 0);
    assert_string_equal(out, "1970-01-01T00:00:00.000Z");
    sync_gate_format_time(out, 1700000000999LL);
    assert_string_equal(out, "2023-11-14T22:13:20.999Z");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_are_documented),
        cmocka_unit_test(rates_and_score),
        cmocka_unit_test(zero_denominators_and_clamping),
        cmocka_unit_test(no_data_is_open),
        cmocka_unit_test(closes_when_fraud_crosses_the_maximum),
        cmocka_unit_test(signals_count_as_fraud),
        cmocka_unit_test(flagged_and_signalled_may_overlap),
        cmocka_unit_test(closes_on_a_low_score),
        cmocka_unit_test(hysteresis_band),
        cmocka_unit_test(a_sequence_does_not_flap),
        cmocka_unit_test(overrides),
        cmocka_unit_test(mode_values),
        cmocka_unit_test(recording_policy),
        cmocka_unit_test(trust_document),
        cmocka_unit_test(time_format),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
