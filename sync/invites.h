/*
 * The invite events of a batch (issued, redeemed, revoked) written to
 * PostgreSQL, inside the batch's transaction (apply.h): one statement per
 * kind for the whole batch, however many events it holds.
 *
 * Entries reach this point exactly once and in each stream's order
 * (progress.h), and every event of a code is in its bucket's stream after
 * the code's issue, so the invites row of a code is always there before its
 * redemptions and revocation. The statements still merge rather than
 * overwrite (GREATEST for use_count, LEAST for the first use and the
 * revocation) and skip an invite that exists, so that rows written by an
 * earlier version of the daemon, or by hand, never fail a batch.
 *
 * Redemptions go in by COPY (copy.h) with the redeemer's user id beside the
 * address, so that an erasure finds them by user id; a redemption from
 * before its person's erasure that is applied after it is written
 * anonymised. The addresses codes are bound to are recorded in user_emails
 * (an erasure carries only the user id, and finds them there).
 */
#ifndef SYNC_INVITES_H
#define SYNC_INVITES_H

#include <stddef.h>
#include <libpq-fe.h>
#include "copy.h"
#include "db.h"
#include "event.h"
#include "people.h"
#include "pgarray.h"

/** Array parameters of the statements (see invites.c). */
#define SYNC_INVITES_ARRAYS 18

/** Counts of what a batch held, by kind. */
typedef struct sync_invites_stats_t {
    size_t issued;   /**< codes issued */
    size_t redeemed; /**< redemptions */
    size_t revoked;  /**< revocations */
} sync_invites_stats_t;

/** A person erased, from user_emails. */
typedef struct sync_erased_t {
    unsigned char user_id[IG_USER_UUID_BYTES];
    long long at_ms; /**< when (Unix milliseconds) */
} sync_erased_t;

/** Reusable buffers of one connection. */
typedef struct sync_invites_t {
    const sync_keys_t *keys;                    /**< borrowed: user ids of the e-mails recorded */
    sync_pgarray_t arrays[SYNC_INVITES_ARRAYS]; /**< parameter literals being built */
    sync_copy_t copy;                           /**< the redemption rows */
    const sync_event_t **redeemed;              /**< owned array of borrowed events: the batch's redemptions */
    size_t num_redeemed;                        /**< used in redeemed */
    size_t cap_redeemed;                        /**< allocated in redeemed */
    sync_erased_t *erased;                      /**< owned; people erased after the batch's earliest redemption */
    size_t num_erased;                          /**< used in erased */
    size_t cap_erased;                          /**< allocated in erased */
    sync_invites_stats_t stats;                 /**< what was collected since the last reset */
    char errstr[SYNC_DB_ERR_BYTES];             /**< why the last sync_invites_apply failed */
} sync_invites_t;

/** Starts inv with empty buffers, for keys (borrowed; they must outlive inv). */
void sync_invites_init(sync_invites_t *inv, const sync_keys_t *keys);

/** Frees the buffers of inv. */
void sync_invites_dispose(sync_invites_t *inv);

/** Forgets what was collected (a new batch begins). */
void sync_invites_reset(sync_invites_t *inv);

/** Adds ev (issued, redeemed or revoked; anything else is ignored) to the batch's statements. */
void sync_invites_collect(sync_invites_t *inv, const sync_event_t *ev);

/**
 * Writes what was collected, in the open transaction on conn. Returns 0, or
 * -1 with inv->errstr set: the caller rolls the transaction back.
 */
__attribute__((warn_unused_result)) int sync_invites_apply(sync_invites_t *inv, PGconn *conn);

#endif
