/*
 * Applies a batch to PostgreSQL exactly once (ARCHITECTURE.md, "Exactly once
 * into PostgreSQL").
 *
 * One transaction per batch: the event ids go into processed_events, and only
 * the events that were new are applied, with one statement per event type for
 * the whole batch (array parameters expanded by unnest). Redemptions are the
 * exception: their row in redemptions, unique by event id, is their record,
 * so their ids are not written twice. Every statement is
 * idempotent and does not depend on the order of events either (GREATEST /
 * LEAST merges, and an invite inserted after its redemptions or revocation
 * takes its use count and revoked_at from them), so a replay, a claim from a
 * dead consumer or two daemons splitting a stream cannot double-count or lose
 * an update. Two daemons committing at once serialise on per-bucket advisory
 * locks (see SQL_LOCK in apply.c).
 *
 * Two ways to run that transaction:
 *
 * - the safe path, for entries that may have been applied before (own
 *   pending entries re-read after a restart, entries claimed from a dead
 *   consumer): processed_events takes the ids with ON CONFLICT DO NOTHING
 *   RETURNING, and the statements apply the events that came back, with ON
 *   CONFLICT DO NOTHING wherever a row may exist. The redemptions are
 *   inserted the same way, and only those that came back count as applied
 *   (use counts, redeemers).
 * - the fast path, for a batch of first deliveries (read with ">"), which
 *   nothing can have applied before: plain INSERTs, without the conflict
 *   checks that cost as much as the inserts themselves, sent in one pipeline
 *   (BEGIN to COMMIT) that sync_apply_start returns from at once, so the
 *   caller can read the next batch from Redis while PostgreSQL works. Should
 *   a unique index object after all (the group was reset and re-delivered
 *   applied entries, a redemption by an address already recorded), the
 *   transaction rolls back and the batch is applied again by the safe path:
 *   the unique indexes, not the choice of path, keep it exactly once.
 *
 * The waitlist, referral and points events (product.h) depend on order and
 * on what the events before them did, so a batch holding any takes the safe
 * path, which applies them in stream order after the array statements
 * (joined, clicked and admitted a run at a time, the others one by one),
 * then recomputes the touched users' balances. Every e-mail a
 * redemption or a bound code names is recorded in user_emails too (so an
 * erasure, which carries only a user id, finds it); a row written after the
 * person's erasure for an event from before it is anonymised there.
 */
#ifndef SYNC_APPLY_H
#define SYNC_APPLY_H

#include <stddef.h>
#include <time.h>
#include <libpq-fe.h>
#include "batch.h"
#include "db.h"
#include "pgarray.h"
#include "product.h"

/** Array parameters built per batch: one per column of each statement (see apply.c). */
#define SYNC_APPLY_ARRAYS 22
/** Statements of one fast-path transaction, BEGIN and COMMIT included. */
#define SYNC_APPLY_MAX_STEPS 9

/** What one committed batch did. */
typedef struct sync_apply_stats_t {
    size_t fresh;     /**< events applied for the first time by this batch */
    size_t replayed;  /**< events already applied (or a redemption by an address that already redeemed the code): skipped */
    size_t issued;    /**< fresh issued events */
    size_t redeemed;  /**< fresh redeemed events */
    size_t revoked;   /**< fresh revoked events */
    size_t malformed; /**< fresh malformed events (recorded, nothing applied) */
    size_t product;   /**< fresh waitlist, referral and points events */
    double txn_ms;    /**< BEGIN to COMMIT acknowledged, in milliseconds */
    int fast;         /**< committed by the fast path */
    int fell_back;    /**< the fast path met a unique-index conflict, so the safe path applied the batch */
} sync_apply_stats_t;

/** Reusable buffers and the state of the batch being applied; one per connection. */
typedef struct sync_apply_t {
    sync_pgarray_t arrays[SYNC_APPLY_ARRAYS]; /**< parameter literals being built */
    /** Per event of the last batch: 1 = seen for the first time, so applied. Valid after a
        successful sync_apply_finish until the next start (the caller logs malformed events from it). */
    unsigned char *fresh;
    size_t cap_fresh;                        /**< allocated bytes in fresh */
    const char *steps[SYNC_APPLY_MAX_STEPS]; /**< fast path: the statements sent, whose results are awaited */
    int sent;                                /**< entries used in steps */
    int send_failed;                         /**< sync_apply_start failed; errstr says why */
    sync_apply_stats_t pending;              /**< stats of the fast-path transaction in flight */
    struct timespec started;                 /**< when sync_apply_start began */
    const sync_keys_t *keys;                 /**< borrowed: user ids of the e-mails recorded */
    const sync_event_t **run;                /**< owned; the run of product events being collected (borrowed from the batch) */
    size_t cap_run;                          /**< allocated slots in run */
    /** The product events' state; after a committed batch, the users whose points or referral
        counts it changed (product.touched), until the next start. */
    sync_product_t product;
    char errstr[SYNC_DB_ERR_BYTES]; /**< why the last sync_apply_finish failed */
} sync_apply_t;

/** Starts a with empty buffers, for cfg and keys (borrowed; they must outlive a). */
void sync_apply_init(sync_apply_t *a, const ig_config_t *cfg, const sync_keys_t *keys);

/** Frees the buffers of a. */
void sync_apply_dispose(sync_apply_t *a);

/**
 * Begins applying b on conn (idle, outside a transaction). For a batch of
 * first deliveries this sends the whole fast-path transaction and returns
 * without waiting for PostgreSQL; otherwise it does nothing yet. Either way
 * sync_apply_finish must follow, with the same b (which must not change in
 * between) and conn, before conn is used for anything else.
 */
void sync_apply_start(sync_apply_t *a, PGconn *conn, const sync_batch_t *b);

/**
 * Completes the application of b that sync_apply_start began: reads the
 * fast-path results (and on a unique-index conflict applies b again by the
 * safe path), or runs the safe path. Returns 0 when committed (stats
 * filled), or -1 with a->errstr set: the transaction was rolled back (or the
 * connection is broken or left in pipeline mode: PQstatus and
 * PQpipelineStatus tell) and nothing of b may be acknowledged. Retrying the
 * same batch is always safe.
 */
__attribute__((warn_unused_result)) int sync_apply_finish(sync_apply_t *a, PGconn *conn, const sync_batch_t *b,
                                                          sync_apply_stats_t *stats);

/** sync_apply_start then sync_apply_finish. */
__attribute__((warn_unused_result)) int sync_apply_batch(sync_apply_t *a, PGconn *conn, const sync_batch_t *b,
                                                         sync_apply_stats_t *stats);

#endif
