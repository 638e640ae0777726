/*
 * The trust gate's decision (SPEC.md, "Trust gate"): from the counts of a
 * trailing window and the gate's previous state, whether invites are paused,
 * with the rates, the health status and the alerts that explain it. Pure:
 * no store is touched here (gate_run.h reads the counts and writes the
 * result), so every rule below is tested on its own (tests/unit/test_gate.c).
 *
 * Rates over the window (gate_window_days), each 0 when its denominator is 0
 * and clamped to [0, 1]:
 *
 *   engagement_rate = activated / redeemed
 *   churn_rate      = churned / activated
 *   fraud_rate      = (fraud_flagged + signalled) / redeemed
 *
 * where fraud_flagged counts the users the host application flagged, and
 * signalled the redemptions and users that the automatic fraud signals
 * caught (bursts from one network, disposable domains, referral rings; see
 * gate_run.h). A redemption caught by both a burst and a disposable domain
 * counts once, and a referral ring leaves out the users the host flagged.
 * The burst and disposable-domain signals are counted per minute, not per
 * redemption (migration 011), so they cannot tell which redemptions belong
 * to users the host flagged: such a user, caught by one of them too, counts
 * twice. The sum may then exceed redeemed; the rate is clamped to 1.
 *
 *   trust_score = (w_e * engagement + w_c * (1 - churn) + w_f * (1 - fraud)) / (w_e + w_c + w_f)
 *
 * with the weights gate_weight_engagement (0.4), gate_weight_churn (0.3) and
 * gate_weight_fraud (0.3): engagement weighs most because it is the one rate
 * that says the invited people use the product; churn and fraud share the
 * rest. A launch with nobody activated yet and no fraud scores 0.6, which is
 * the default reopen level: the gate stays open until the metrics turn bad.
 *
 * The automatic gate, with hysteresis so that it does not flap:
 *
 * - fewer than gate_min_redemptions redemptions in the window: no data, open;
 * - open: closes when trust_score < gate_close_below (0.5) or fraud_rate >
 *   gate_max_fraud_rate (0.2);
 * - closed: reopens only when trust_score > gate_reopen_above (0.6) and
 *   fraud_rate <= gate_max_fraud_rate; between the two levels it keeps its
 *   state.
 *
 * An operator's override (mode "open" or "closed") decides the gate whatever
 * the metrics; the automatic state goes on being computed underneath, so
 * going back to "auto" resumes from what the metrics say.
 *
 * health_status: "paused" while the gate is closed, "no_data" below the
 * minimum, "degraded" while open with alerts or a score at or below
 * gate_reopen_above, else "healthy".
 */
#ifndef SYNC_GATE_H
#define SYNC_GATE_H

#include <stddef.h>
#include "ig_config.h"

/** Alerts one evaluation can raise (one of each type at most). */
#define SYNC_GATE_MAX_ALERTS 8
#define SYNC_GATE_MESSAGE_BYTES 192
/** Room for the JSON of IG_KEY_TRUST (and for metrics and alerts alone). */
#define SYNC_GATE_JSON_BYTES 4096
/** "2025-12-20T00:00:00.000Z" and the NUL, with room for any year the format can print. */
#define SYNC_GATE_TIME_BYTES 64

/** Operator override, from the Redis key IG_KEY_GATE_MODE. */
typedef enum sync_gate_mode_t {
    SYNC_GATE_AUTO,   /**< the metrics decide (also when the key is absent) */
    SYNC_GATE_OPEN,   /**< forced open */
    SYNC_GATE_CLOSED, /**< forced closed */
} sync_gate_mode_t;

/** What the window holds, as read from PostgreSQL. */
typedef struct sync_gate_counts_t {
    long long redeemed;              /**< redemptions in the window */
    long long activated;             /**< users with an `activated` lifecycle event in the window */
    long long churned;               /**< users with a `churned` event */
    long long fraud_flagged;         /**< users the host application flagged (`fraud_flagged`) */
    long long burst;                 /**< redemptions in the minutes in which their network burst */
    long long burst_nets;            /**< networks (/24, /48) that burst */
    long long disposable;            /**< redemptions by addresses at a disposable domain */
    long long signalled_redemptions; /**< redemptions in a burst or at a disposable domain, each once (users counted in
                                        fraud_flagged included) */
    long long ring; /**< referred users on a referral cycle of length 1 to 3, but not those counted in fraud_flagged */
} sync_gate_counts_t;

/** One alert: a machine-readable type, a sentence, and the number behind it. */
typedef struct sync_gate_alert_t {
    const char *type;                      /**< static string: "burst", "fraud_rate", ... */
    char message[SYNC_GATE_MESSAGE_BYTES]; /**< for people; names no address or code */
    double value;                          /**< the count or rate that raised it */
    double threshold;                      /**< the configured limit it crossed (0 when none) */
} sync_gate_alert_t;

/** The outcome of one evaluation. */
typedef struct sync_gate_decision_t {
    sync_gate_mode_t mode;  /**< the override in force */
    int closed;             /**< invites paused: what the gateways are told */
    int auto_closed;        /**< the automatic gate's state (the hysteresis memory; kept under overrides) */
    int no_data;            /**< fewer than gate_min_redemptions redemptions */
    long long signalled;    /**< redemptions and users caught by the automatic signals */
    double engagement_rate; /**< activated / redeemed */
    double churn_rate;      /**< churned / activated */
    double fraud_rate;      /**< (fraud_flagged + signalled) / redeemed */
    double trust_score;     /**< weighted combination, in [0, 1] */
    const char *health;     /**< "healthy", "degraded", "paused" or "no_data" (static) */
    size_t num_alerts;
    sync_gate_alert_t alerts[SYNC_GATE_MAX_ALERTS];
} sync_gate_decision_t;

/** Parses the value of IG_KEY_GATE_MODE (NULL = absent). Returns 0, or -1 for an unknown value (*mode is then AUTO). */
int sync_gate_mode_parse(sync_gate_mode_t *mode, const char *value, size_t len);

/** "auto", "open" or "closed". */
const char *sync_gate_mode_name(sync_gate_mode_t mode);

/**
 * Decides the gate: d is filled from the window's counts c, the automatic
 * gate's previous state prev_auto_closed, the override mode and the
 * thresholds and weights of cfg (all borrowed).
 */
void sync_gate_decide(sync_gate_decision_t *d, const sync_gate_counts_t *c, int prev_auto_closed, sync_gate_mode_t mode,
                      const ig_config_t *cfg);

/** x rounded to 4 decimals, the precision of everything the gate publishes. */
double sync_gate_round4(double x);

/**
 * Whether an evaluation goes into the history (gate_evaluations): when the
 * gate, its automatic state, the mode, the health or a rate rounded to 4
 * decimals differs from the last recorded one, or when min_interval_ms
 * passed since it. last is NULL when nothing was recorded yet.
 */
int sync_gate_should_record(const sync_gate_decision_t *cur, const sync_gate_decision_t *last, unsigned long long elapsed_ms,
                            unsigned long long min_interval_ms);

/** Writes "YYYY-MM-DDTHH:MM:SS.mmmZ" for Unix milliseconds ms. */
void sync_gate_format_time(char out[SYNC_GATE_TIME_BYTES], long long ms);

/**
 * Writes the metrics object of d and c (window_days and min_redemptions from
 * cfg) as JSON into out. Returns 0, or -1 when cap is too small.
 */
int sync_gate_metrics_json(char *out, size_t cap, const sync_gate_decision_t *d, const sync_gate_counts_t *c,
                           const ig_config_t *cfg);

/** Writes the alerts of d as a JSON array into out. Returns 0, or -1 when cap is too small. */
int sync_gate_alerts_json(char *out, size_t cap, const sync_gate_decision_t *d);

/**
 * Writes the document of IG_KEY_TRUST into out: trust_score, churn_rate,
 * fraud_rate, engagement_rate, invites_paused, invites_allowed,
 * health_status, mode, metrics, alerts and evaluated_at (Unix milliseconds
 * at_ms), rates rounded to 4 decimals. Returns 0, or -1 when cap is too small.
 */
int sync_gate_trust_json(char *out, size_t cap, const sync_gate_decision_t *d, const sync_gate_counts_t *c, const ig_config_t *cfg,
                         long long at_ms);

#endif
