/*
 * Applies a batch to PostgreSQL exactly once (ARCHITECTURE.md, "Exactly once
 * into PostgreSQL").
 *
 * One transaction per batch: the event ids go into processed_events (ON
 * CONFLICT DO NOTHING RETURNING), and only the events that were new are
 * applied, with one statement per event type for the whole batch (array
 * parameters expanded by unnest). Every statement is idempotent and does not
 * depend on the order of events either (GREATEST / LEAST merges, and an
 * invite inserted after its redemptions or revocation takes its use count and
 * revoked_at from them), so a replay, a claim from a dead consumer or two
 * daemons splitting a stream cannot double-count or lose an update. Two
 * daemons committing at once serialise on per-bucket advisory locks (see
 * SQL_LOCK in apply.c).
 */
#ifndef SYNC_APPLY_H
#define SYNC_APPLY_H

#include <stddef.h>
#include <libpq-fe.h>
#include "batch.h"
#include "db.h"
#include "pgarray.h"

/** Array parameters built per batch: one per column of each statement (see apply.c). */
#define SYNC_APPLY_ARRAYS 19

/** What one committed batch did. */
typedef struct sync_apply_stats_t {
    size_t fresh;     /**< events recorded in processed_events by this batch */
    size_t replayed;  /**< events already recorded: skipped */
    size_t issued;    /**< fresh issued events */
    size_t redeemed;  /**< fresh redeemed events */
    size_t revoked;   /**< fresh revoked events */
    size_t malformed; /**< fresh malformed events (recorded, nothing applied) */
    double txn_ms;    /**< BEGIN to COMMIT acknowledged, in milliseconds */
} sync_apply_stats_t;

/** Reusable buffers; one per connection. */
typedef struct sync_apply_t {
    sync_pgarray_t arrays[SYNC_APPLY_ARRAYS]; /**< parameter literals being built */
    /** Per event of the last batch: 1 = recorded for the first time, so applied. Valid after a
        successful sync_apply_batch until the next call (the caller logs malformed events from it). */
    unsigned char *fresh;
    size_t cap_fresh;               /**< allocated bytes in fresh */
    char errstr[SYNC_DB_ERR_BYTES]; /**< why the last sync_apply_batch failed */
} sync_apply_t;

/** Starts a with empty buffers. */
void sync_apply_init(sync_apply_t *a);

/** Frees the buffers of a. */
void sync_apply_dispose(sync_apply_t *a);

/**
 * Applies b in one transaction on conn and commits. Returns 0 when
 * committed (stats filled), or -1 with a->errstr set: the transaction was
 * rolled back (or the connection is broken, PQstatus tells) and nothing of b
 * may be acknowledged. Retrying the same batch is always safe.
 */
__attribute__((warn_unused_result)) int sync_apply_batch(sync_apply_t *a, PGconn *conn, const sync_batch_t *b,
                                                         sync_apply_stats_t *stats);

#endif
