/*
 * Applies the waitlist, referral and points events of stream IG_KEY_WL_EVENTS
 * (joined, admitted, shared, clicked, earned, lifecycle, spent, erased) to
 * PostgreSQL, inside the transaction of their batch (apply.c), in stream
 * order, because each depends on what the ones before it did: a
 * payment pays according to the relationship's status, an erasure finds the
 * address an earlier event recorded.
 *
 * The frequent kinds (joined, clicked, admitted) are applied a run at a
 * time: a run is a stretch of consecutive such events of a batch, and it
 * costs a few array statements instead of several statements per event
 * (sync_product_apply_run, product_run.c). The other kinds are applied one
 * by one (sync_product_apply, product.c) and end
 * the run before them, so whatever they read or change is in the state the
 * events before them left. Inside a run, only these orderings matter, and
 * each is kept:
 *
 * - user_emails: the first event naming a person records them (its time is
 *   first_seen_at), the later ones change nothing;
 * - waitlist rows and referral codes: the first insert of a key wins;
 * - relationships: whether a join's referral is created depends on the
 *   relationships the joins before it created (one per referred user, no
 *   2-cycle, and which share is the earliest eligible one). The run reads
 *   what PostgreSQL holds once, then decides each join in stream order
 *   against that and the run's own decisions, and inserts the result;
 * - a click counts only when the code's row exists at its time, an
 *   admission only when the waitlist row does: those whose code or person a
 *   join earlier in the run created are applied after the run's inserts,
 *   the others before them.
 *
 * Lifecycle events stay one by one: a payment reads the relationship's
 * status, the ledger's counts for the caps and the payer's churn, all of
 * which the events before it (of the same user, their referrer or their
 * referrer's referrer) may have changed.
 *
 * The referral rules are those of ARCHITECTURE.md ("Referral rules"):
 *
 * - a join with a referral code (or, without one, the earliest share to that
 *   address) makes a PENDING level-1 relationship; no self-referral, and no
 *   relationship to someone the newcomer referred;
 * - activated: PENDING -> ACTIVE and REFERRAL_WELCOME to the newcomer, unless
 *   the relationship is older than referral_expire_days at the event's time
 *   (it becomes EXPIRED and earns nothing);
 * - paid, unless the payer churned or was flagged as fraud before: the first
 *   (relationship PENDING or ACTIVE) -> REWARDED and REFERRAL_FIRST_PAYMENT to
 *   the direct referrer; each later one REFERRAL_RECURRING to them, at most
 *   points_recurring_months times; every one REFERRAL_L2 to the referrer's
 *   referrer, at most points_l2_months times (both caps per relationship);
 * - spent: a negative ledger row of the spend's type;
 * - erased: the address becomes 'erased:<user_id>' wherever it is stored.
 *
 * Every ledger row is inserted with ON CONFLICT DO NOTHING under the unique
 * indexes of migration 006 (each event is applied once, by the high-water
 * mark; the indexes guard the ledger against rows written by other means),
 * and the balances of the users a batch touched
 * are recomputed from the ledger in the same transaction (balance = sum of
 * deltas), so the ledger and the balances never disagree.
 */
#ifndef SYNC_PRODUCT_H
#define SYNC_PRODUCT_H

#include <stddef.h>
#include <libpq-fe.h>
#include "ig_config.h"
#include "ig_email.h"
#include "ig_user.h"
#include "db.h"
#include "event.h"
#include "people.h"
#include "pgarray.h"

/** Array parameters of the statements of a run (see product.c). */
#define SYNC_PRODUCT_ARRAYS 35

/**
 * Per-connection state: the users whose points or referral counts the
 * current batch changed, and buffers reused from run to run.
 */
typedef struct sync_product_t {
    const ig_config_t *cfg;                     /**< borrowed: amounts, caps, expiry */
    const sync_keys_t *keys;                    /**< borrowed */
    sync_user_id_t *touched;                    /**< owned; num_touched used, no duplicates */
    size_t num_touched;                         /**< users touched by the batch */
    size_t cap_touched;                         /**< allocated slots */
    sync_pgarray_t arrays[SYNC_PRODUCT_ARRAYS]; /**< parameter literals of a run's statements */
    struct sync_product_item_t *items;          /**< owned; per event of a run: its derived ids and codes */
    size_t cap_items;                           /**< allocated slots in items */
    const char **slots;                         /**< owned; the run's hash sets of ids, pairs and codes */
    size_t cap_slots;                           /**< allocated slots in slots */
    char errstr[SYNC_DB_ERR_BYTES];             /**< why the last call failed */
} sync_product_t;

/** Starts p with cfg and keys (both borrowed; they must outlive p). */
void sync_product_init(sync_product_t *p, const ig_config_t *cfg, const sync_keys_t *keys);

/** Frees what p holds. */
void sync_product_dispose(sync_product_t *p);

/** Forgets the users touched (a new batch begins). */
void sync_product_reset(sync_product_t *p);

/**
 * Applies ev, a product event of a kind not applied in runs (shared, earned,
 * lifecycle, spent, erased), in the open transaction on conn. Returns 0, or
 * -1 with p->errstr set: the caller rolls the transaction back.
 */
__attribute__((warn_unused_result)) int sync_product_apply(sync_product_t *p, PGconn *conn, const sync_event_t *ev);

/** Whether events of type are applied a run at a time (joined, clicked, admitted). */
static inline int sync_product_in_runs(sync_event_type_t type)
{
    return type == SYNC_EVENT_JOINED || type == SYNC_EVENT_CLICKED || type == SYNC_EVENT_ADMITTED;
}

/**
 * Applies evs (n of them, all of kinds sync_product_in_runs accepts,
 * in the open transaction on conn, in stream order and consecutive among the
 * batch's product events) with a few
 * array statements, leaving what applying each with sync_product_apply in
 * turn would leave. evs is borrowed. Returns 0, or -1 with p->errstr set:
 * the caller rolls the transaction back.
 */
__attribute__((warn_unused_result)) int sync_product_apply_run(sync_product_t *p, PGconn *conn, const sync_event_t *const *evs,
                                                               size_t n);

/**
 * Recomputes user_point_balances of every touched user from the ledger, in
 * the open transaction. Returns 0, or -1 with p->errstr set.
 */
__attribute__((warn_unused_result)) int sync_product_finish(sync_product_t *p, PGconn *conn);

#endif
