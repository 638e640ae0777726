/*
 * Applies a batch to PostgreSQL exactly once (ARCHITECTURE.md, "Exactly once
 * into PostgreSQL"), in one transaction:
 *
 * 1. the high-water marks of the batch's buckets move from where the batch
 *    began to its last entries (progress.h): if another daemon moved them
 *    first, nothing is applied;
 * 2. the invite events (issued, redeemed, revoked), one statement per kind
 *    for the whole batch (invites.h);
 * 3. the waitlist, referral and points events (product.h), in stream order,
 *    because each depends on what the events before it did: the frequent
 *    kinds (joined, clicked, admitted) a run of consecutive events at a
 *    time, the others one by one between the runs; then the balances of the
 *    users they touched;
 * 4. COMMIT.
 *
 * Every entry after the mark is new, so nothing is looked up to decide
 * whether it was applied before: the mark is the whole record.
 */
#ifndef SYNC_APPLY_H
#define SYNC_APPLY_H

#include <stddef.h>
#include <libpq-fe.h>
#include "batch.h"
#include "db.h"
#include "invites.h"
#include "product.h"
#include "progress.h"

/** What one committed batch did. */
typedef struct sync_apply_stats_t {
    size_t events;    /**< events in the batch */
    size_t issued;    /**< codes issued */
    size_t redeemed;  /**< redemptions */
    size_t revoked;   /**< revocations */
    size_t product;   /**< waitlist, referral and points events */
    size_t malformed; /**< malformed events (logged, nothing applied) */
    double txn_ms;    /**< BEGIN to COMMIT acknowledged, in milliseconds */
} sync_apply_stats_t;

/** Reusable buffers and per-connection state; one per connection. */
typedef struct sync_apply_t {
    sync_invites_t invites;   /**< the invite events' statements */
    const sync_event_t **run; /**< owned; the run of product events being collected (borrowed from the batch) */
    size_t cap_run;           /**< allocated slots in run */
    /** The product events' state; after a committed batch, the users whose points or referral
        counts it changed (product.touched), until the next batch. */
    sync_product_t product;
    char errstr[SYNC_DB_ERR_BYTES]; /**< why the last sync_apply_batch failed */
} sync_apply_t;

/** Starts a with empty buffers, for cfg and keys (borrowed; they must outlive a). */
void sync_apply_init(sync_apply_t *a, const ig_config_t *cfg, const sync_keys_t *keys);

/** Frees the buffers of a. */
void sync_apply_dispose(sync_apply_t *a);

/**
 * Applies b on conn (idle, outside a transaction) and moves the marks of
 * progress. Returns 0 when committed (stats filled, progress updated), or
 * -1 with a->errstr set: the transaction was rolled back (or the connection
 * is broken: PQstatus tells), and *conflict is set when another daemon had
 * applied the batch's entries (b must then be dropped and the marks
 * loaded again). Otherwise retrying the same batch is safe.
 */
__attribute__((warn_unused_result)) int sync_apply_batch(sync_apply_t *a, PGconn *conn, sync_progress_t *progress,
                                                         const sync_batch_t *b, sync_apply_stats_t *stats, int *conflict);

#endif
