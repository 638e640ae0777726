/*
 * The sync daemon's side of the points record in Redis, and the periodic
 * referral expiry.
 *
 * PostgreSQL's ledger is the record; Redis serves GET /api/points and
 * refuses spends above earned - spent (ig_spend). After a batch that changed
 * users' points or referral counts commits, the daemon writes each such
 * user's earned total, last 20 ledger rows and referral counts to their
 * points record (`FCALL ig_points_sync`), which keeps Redis's own `spent`.
 * Because the write follows the COMMIT, Redis never lets anyone spend points
 * PostgreSQL has not recorded as earned.
 *
 * A write-back that fails (Redis down, the daemon killed after its COMMIT)
 * is healed by the refresh: every few seconds the users whose balance row
 * changed since a little before the previous successful refresh are written
 * again, and at start every user with a balance row. Writing a user twice is
 * harmless: the function stores what it is given.
 *
 * Erased users (no e-mail any more) have no Redis identity and are skipped.
 *
 * Expiry: PENDING referral relationships older than referral_expire_days
 * become EXPIRED, every SYNC_POINTS_EXPIRE_MS, measured with the daemon's
 * clock (sync_clock_ms: the wall clock shifted by sync_clock_offset_s).
 * With points_expire_days set, every SYNC_POINTS_EXPIRY_MS the users whose
 * ledger holds points earned before the cut-off (that clock minus the days)
 * beyond all its deductions get `FCALL ig_expire`, which deducts in Redis
 * what of those points is still unused and appends a spend of kind EXPIRY
 * to the stream: the ledger's EXPIRY row comes from that event, like a
 * spend's, so no balance goes negative whatever was spent meanwhile.
 *
 * One lane runs all of this, the one that reads IG_KEY_WL_EVENTS, between its
 * batches, on its own connections: a sync_points_t is not shared.
 */
#ifndef SYNC_POINTS_H
#define SYNC_POINTS_H

#include <stdint.h>
#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include "ig_config.h"
#include "product.h"

/** How often the refresh runs (and the margin it looks back over the previous one). */
#define SYNC_POINTS_REFRESH_MS 5000
/** How often PENDING relationships are checked for expiry. */
#define SYNC_POINTS_EXPIRE_MS 10000
/** How often points are checked for expiry (points_expire_days > 0): each check sums the ledger. */
#define SYNC_POINTS_EXPIRY_MS 60000
/** Ledger rows written back per user, newest first. */
#define SYNC_POINTS_RECENT_ROWS 20

/** sync_points_rehydrate's modes. */
enum { SYNC_POINTS_REHYDRATE_CHECK = 1, SYNC_POINTS_REHYDRATE_WRITE = 2 };

typedef struct sync_points_t {
    const ig_config_t *cfg;         /**< borrowed */
    const sync_keys_t *keys;        /**< borrowed */
    long long refreshed_ms;         /**< PostgreSQL clock at the start of the last successful refresh; -1 = never */
    uint64_t next_refresh_ms;       /**< monotonic: when the refresh runs next */
    uint64_t next_expire_ms;        /**< monotonic: when the expiry runs next */
    uint64_t next_points_expiry_ms; /**< monotonic: when the points expiry runs next */
    unsigned failures;              /**< consecutive failed write-backs, for logs */
    char errstr[SYNC_DB_ERR_BYTES]; /**< why the last call failed */
    int rehydrate;                  /**< SYNC_POINTS_REHYDRATE_* while sync_points_rehydrate runs, else 0 */
    struct {
        size_t checked, created, updated;
    } rehydrated; /**< what the last sync_points_rehydrate found (CHECK) or wrote (WRITE) */
} sync_points_t;

/** Starts pt (cfg and keys borrowed): the first refresh writes back every user. */
void sync_points_init(sync_points_t *pt, const ig_config_t *cfg, const sync_keys_t *keys);

/**
 * Writes back the users of ids (count of them) after their batch committed.
 * conn must be idle, outside a transaction. Returns 0, or -1 with
 * pt->errstr set (then the refresh will write them again; when redis->err is
 * set the connection is unusable).
 */
int sync_points_push(sync_points_t *pt, PGconn *conn, redisContext *redis, const sync_user_id_t *ids, size_t count);

/**
 * Runs the refresh and the expiry when they are due. redis may be NULL (the
 * refresh then waits). Returns 0, or -1 with pt->errstr set.
 */
int sync_points_tick(sync_points_t *pt, PGconn *conn, redisContext *redis);

/**
 * Rebuilds every user's points record after Redis lost it (invitegate
 * rehydrate): `FCALL ig_rehydrate_points` with what the write-back sends and
 * PostgreSQL's spent, which writes an absent record and only raises earned
 * and spent in a present one. mode SYNC_POINTS_REHYDRATE_CHECK compares
 * only. Counts in pt->rehydrated. Returns 0, or -1 with pt->errstr set.
 */
int sync_points_rehydrate(sync_points_t *pt, PGconn *conn, redisContext *redis, int mode);

#endif
