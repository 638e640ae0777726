/*
 * Applies the waitlist, referral and points events of stream ig:{0}:events
 * (joined, admitted, shared, clicked, earned, lifecycle, spent, erased) to
 * PostgreSQL, inside the safe-path transaction of their batch (apply.c),
 * one event at a time and in stream order, because each depends on what the
 * ones before it did: a payment pays according to the relationship's status,
 * an erasure finds the address an earlier event recorded.
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
 * indexes of migration 006, and the balances of the users a batch touched
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

/** The subkeys of secret_key the daemon needs (derived like the gateway's, common/ig_keys.h). */
typedef struct sync_keys_t {
    ig_user_keys_t user;                     /**< user ids and referral codes */
    unsigned char email[IG_EMAIL_KEY_BYTES]; /**< hash8 of an e-mail, the Redis identity */
} sync_keys_t;

/** Derives k from the master key. */
void sync_keys_derive(sync_keys_t *k, const unsigned char secret_key[IG_SECRET_KEY_BYTES]);

/** Wipes k. */
void sync_keys_wipe(sync_keys_t *k);

/** A user id as a NUL-terminated string. */
typedef struct sync_user_id_t {
    char s[IG_USER_ID_BYTES];
} sync_user_id_t;

/** Per-connection state: the users whose points or referral counts the current batch changed. */
typedef struct sync_product_t {
    const ig_config_t *cfg;         /**< borrowed: amounts, caps, expiry */
    const sync_keys_t *keys;        /**< borrowed */
    sync_user_id_t *touched;        /**< owned; num_touched used, no duplicates */
    size_t num_touched;             /**< users touched by the batch */
    size_t cap_touched;             /**< allocated slots */
    char errstr[SYNC_DB_ERR_BYTES]; /**< why the last call failed */
} sync_product_t;

/** Starts p with cfg and keys (both borrowed; they must outlive p). */
void sync_product_init(sync_product_t *p, const ig_config_t *cfg, const sync_keys_t *keys);

/** Frees what p holds. */
void sync_product_dispose(sync_product_t *p);

/** Forgets the users touched (a new batch begins). */
void sync_product_reset(sync_product_t *p);

/**
 * Applies ev (a product event recorded for the first time by the open
 * transaction on conn). Returns 0, or -1 with p->errstr set: the caller
 * rolls the transaction back.
 */
__attribute__((warn_unused_result)) int sync_product_apply(sync_product_t *p, PGconn *conn, const sync_event_t *ev);

/**
 * Recomputes user_point_balances of every touched user from the ledger, in
 * the open transaction. Returns 0, or -1 with p->errstr set.
 */
__attribute__((warn_unused_result)) int sync_product_finish(sync_product_t *p, PGconn *conn);

/** The user id of a normalised e-mail. */
void sync_user_id_of(sync_user_id_t *out, const char *email, const sync_keys_t *keys);

/** The daemon's clock in Unix milliseconds: the wall clock shifted by sync_clock_offset_s. */
long long sync_clock_ms(const ig_config_t *cfg);

#endif
