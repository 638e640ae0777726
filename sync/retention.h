/*
 * Retention of invites (seed 000's rule): the address of an invite that can
 * no longer be redeemed (expired or revoked), was never redeemed and was
 * issued more than retention_days ago is anonymised, and the Redis records
 * of such codes that have expired are swept.
 *
 * It lives with the sync daemon's code so that `invitegate retention run` and
 * a schedule in the daemon can share it:
 *
 * 1. in one PostgreSQL transaction, the eligible invites are selected and
 *    locked (FOR UPDATE): used_at NULL, use_count 0, expired or revoked at
 *    now, created before now - days;
 * 2. each code's Redis record (its own key, ig_code_keys) is checked by a
 *    small script: a record that counts a use means a redemption not yet
 *    applied to PostgreSQL, and the code is left alone; an unused record
 *    past its expiry is deleted (unless dry_run);
 * 3. issued_to becomes 'erased:<user id>', the placeholder erasure writes
 *    (product.c), with the user id derived from the address as every
 *    process does (ig_user.c), so whatever is keyed by user id still
 *    matches; then the transaction commits.
 *
 * A still-valid code keeps its address: it is bound to it. Counts are
 * untouched (rows are never deleted). Running it again changes nothing.
 * Redis is swept before the commit, so a failed commit leaves only deleted
 * records of expired codes, which the next run finds gone.
 */
#ifndef SYNC_RETENTION_H
#define SYNC_RETENTION_H

#include <stddef.h>
#include <hiredis/hiredis.h>
#include "redis_route.h"
#include <libpq-fe.h>
#include "ig_user.h"

#define SYNC_RETENTION_ERR_BYTES 512

/** What one run found and did (or would do, in a dry run). */
typedef struct sync_retention_result_t {
    unsigned long long eligible;   /**< invites expired or revoked, never redeemed, older than the period */
    unsigned long long anonymised; /**< of those, addresses replaced (or to replace) by 'erased:<user id>' */
    unsigned long long swept;      /**< expired unused code records deleted (or to delete) from Redis */
    unsigned long long in_flight;  /**< skipped: Redis counts a use PostgreSQL has not applied yet */
} sync_retention_result_t;

/**
 * Runs the retention rule once with days (> 0) and now_ms (Unix ms: the
 * daemon's clock). pg and redis are borrowed connections (pg outside any
 * transaction). With dry_run nothing is written; out says what would be.
 * Returns 0, or -1 with the reason in err (the transaction rolled back).
 */
int sync_retention_run(sync_retention_result_t *out, PGconn *pg, sync_route_t *route, const ig_user_keys_t *keys, unsigned days,
                       long long now_ms, int dry_run, char *err, size_t err_len) __attribute__((warn_unused_result));

#endif
