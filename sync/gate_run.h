/*
 * The trust gate's job in the sync daemon: a thread of its own, with its own
 * PostgreSQL and Redis connections, so that a slow evaluation never holds up
 * the lanes that persist events. Every gate_interval_ms it
 *
 * 1. reads the operator's override, IG_KEY_GATE_MODE ("open", "closed",
 *    "auto"; absent = auto);
 * 2. counts the trailing window (gate_window_days, ending at the wall clock
 *    plus sync_clock_offset_s) in PostgreSQL: redemptions, the users whose
 *    lifecycle events say activated, churned or fraud_flagged, and the
 *    automatic fraud signals:
 *    - burst: the redemptions of a network (/24 for IPv4, /48 for IPv6, from
 *      redemptions.client_addr) in the minutes in which it burst. With k =
 *      ceil(gate_burst_window_s / 60) (at least 1; 1 for the default 60 s, a
 *      single minute), a network bursts when more than
 *      gate_burst_per_network of its redemptions fall within k consecutive
 *      minutes, and every minute of such a span is in the burst. The spans
 *      are whole minutes of the clock rather than sliding seconds, so a
 *      burst is judged by what falls within k whole minutes: one split
 *      evenly across a minute boundary passes with up to twice the limit.
 *      Loopback and unknown addresses form no network (they are the
 *      machine itself: a local proxy or a test, not clients);
 *    - disposable_domain: every redemption by an address whose domain was in
 *      disposable_domains (the list the gateway refuses joins with) when it
 *      was inserted;
 *    - referral_ring: every user referred in the window who sits on a
 *      referral cycle of length 1, 2 or 3 (A referred B and B referred A, or
 *      A -> B -> C -> A). The product's own flow cannot make one (only a new
 *      entry can be referred), so a cycle means rows written by other means.
 *      Counting them walks every relationship of the window, so they are
 *      counted at most every SYNC_GATE_RINGS_INTERVAL_MS and the count is
 *      reused in between;
 *    A redemption caught by both burst and disposable counts once; the
 *    signalled redemptions and ring users count as fraud (gate.h).
 *    Nothing here reads redemptions (migration 011): a trigger counts each
 *    inserted redemption once, per minute, in redemption_minutes, and per
 *    client network and minute in network_minutes; the totals of the window
 *    are sums over its minutes. At start the job writes the configured
 *    disposable domains to gate_disposable_domains, which the trigger
 *    flags addresses by. The minutes in which a network burst are kept in
 *    network_bursts, incrementally: every evaluation recomputes the bursts
 *    of the last SYNC_GATE_RECHECK_MINUTES minutes (and of the k - 1
 *    minutes before them, whose spans reach into those) from
 *    network_minutes, from the first of those minutes whose redemptions
 *    changed since the last evaluation on (none changed: nothing to do), so
 *    it costs what the recent minutes hold, not what the window holds. A
 *    redemption applied more than SYNC_GATE_RECHECK_MINUTES after it
 *    happened (a backlog after an outage) is counted in the totals at once,
 *    but is examined for bursts only when network_bursts is rebuilt from
 *    the whole window: at the first evaluation after the daemon starts (so
 *    that changed settings apply too). Minutes older than the window and
 *    its first span are deleted once a minute;
 * 3. decides (sync_gate_decide) from those counts and the previous automatic
 *    state;
 * 4. writes the result to Redis in one pipeline: `SET ig_key_gate(B) closed` in
 *    every bucket while closed, `DEL` of them while open (the gateways refuse
 *    redeem, generate and admit while their bucket's key says closed), then
 *    the JSON document `IG_KEY_TRUST` that GET /api/quality/trust-score and
 *    POST /api/quality/evaluate-gate serve. One command per key, each in one
 *    slot, so the same writes work on a Redis Cluster;
 * 5. records the evaluation in gate_evaluations (migration 007) when the
 *    gate, its mode, its health, its alerts or a rounded rate changed, and at
 *    least once a minute otherwise.
 *
 * At start the automatic state is read back from the last recorded row, so a
 * restart keeps a closed gate closed. The gate flags have no expiry: should
 * the daemon stop, the gateways keep the last decision.
 *
 * Failures: a store that fails is reconnected with backoff, and nothing is
 * written to Redis from an evaluation that could not count; the flags stay as
 * they were. gate_interval_ms = 0 turns the job off.
 */
#ifndef SYNC_GATE_RUN_H
#define SYNC_GATE_RUN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <hiredis/hiredis.h>
#include "redis_route.h"
#include <libpq-fe.h>
#include "ig_config.h"
#include "gate.h"
#include "runtime.h"

/** At least one history row this often, even when nothing changed. */
#define SYNC_GATE_RECORD_INTERVAL_MS 60000

/**
 * Referral rings are counted this often at most: the count walks every
 * relationship of the window (over 0.2 s a second with 80,000 of them), and
 * rings come only from rows written outside the product's flow.
 */
#define SYNC_GATE_RINGS_INTERVAL_MS 10000

/**
 * Publications of one evaluation at most after the first, each for a mode
 * an operator forced while the previous one was written (one is enough
 * unless forces follow each other within a round trip).
 */
#define SYNC_GATE_REPUBLISH_ROUNDS 3

/**
 * The trailing minutes (the current one included) whose bursts every
 * evaluation recomputes: how late a redemption may be applied and still be
 * examined for bursts before the next start.
 */
#define SYNC_GATE_RECHECK_MINUTES 10
/** Room for the totals of the rechecked minutes as the last burst update saw them (PostgreSQL array text). */
#define SYNC_GATE_WATCHED_BYTES 1024

typedef struct sync_gate_job_t {
    const ig_config_t *cfg;                        /**< borrowed; outlives the job */
    PGconn *pg;                                    /**< owned; NULL while disconnected */
    sync_route_t route;                            /**< the Redis connections (closed while disconnected) */
    sync_backoff_t backoff;                        /**< delay after a failed evaluation */
    int restored;                                  /**< the automatic state was read from gate_evaluations */
    int leased;                                    /**< this daemon holds the gate job's lease (on pg) */
    int standby_logged;                            /**< "another daemon evaluates" was logged since the last change */
    int auto_closed;                               /**< the automatic gate's state after the last evaluation */
    int have_last;                                 /**< last_recorded holds a row written by this process */
    sync_gate_decision_t last_recorded;            /**< the decision of the last history row */
    uint64_t last_recorded_ms;                     /**< when it was written (monotonic) */
    int last_closed;                               /**< what Redis was last told (-1 = nothing yet), for the log */
    sync_gate_mode_t last_mode;                    /**< the override seen last, for the log */
    int mode_warned;                               /**< an unknown mode value was logged */
    int domains_ready;                             /**< gate_disposable_domains holds the configured list */
    int bursts_ready;                              /**< network_bursts was rebuilt from the whole window since start */
    char watched_minutes[SYNC_GATE_WATCHED_BYTES]; /**< the rechecked minutes at the last burst update, as timestamptz[] */
    char watched_totals[SYNC_GATE_WATCHED_BYTES];  /**< their redemptions then, as bigint[] (a change recomputes them) */
    long long rings;                               /**< the last count of ring users */
    uint64_t rings_ms;                             /**< when it was taken (monotonic); 0 = never */
    int pruned;                                    /**< pruned_ms is set */
    uint64_t pruned_ms;                            /**< when what left the window was last deleted (monotonic) */
    char errstr[512];                              /**< last failure */
    _Atomic uint64_t beat_ms;                      /**< heartbeat of the job's thread */
    _Atomic int failing;                           /**< the last evaluation failed (the gate keeps its last decision) */
    pthread_t thread;                              /**< valid while started */
    int started;                                   /**< the thread runs */
} sync_gate_job_t;

/** Prepares j for cfg (borrowed). Does not connect. */
void sync_gate_job_init(sync_gate_job_t *j, const ig_config_t *cfg);

/**
 * Starts the job's thread (with SIGTERM and SIGINT blocked in it: the main
 * thread takes them), unless gate_interval_ms is 0. Returns 0, or -1 when the
 * thread could not be started (logged).
 */
int sync_gate_job_start(sync_gate_job_t *j);

/** Waits for the thread to end (after a stop was requested) and closes both connections. */
void sync_gate_job_stop(sync_gate_job_t *j);

/**
 * One evaluation, on the calling thread: connects where needed, counts,
 * decides, writes Redis and the history. Returns 0, or -1 with the reason in
 * j->errstr (the failed store's connection is dropped).
 */
int sync_gate_job_evaluate(sync_gate_job_t *j);

#endif
