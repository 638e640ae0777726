/*
 * Seeding in bulk through the product's own Lua functions, pipelined from
 * hiredis (no HTTP): codes with FCALL ig_issue, exactly the calls the
 * gateway makes for POST /api/invites/generate (no batch claim), and
 * waitlist entries with FCALL ig_join, the call of POST /api/waitlist/join.
 * Each created code or entry also appends its event, so the sync daemon
 * copies them into PostgreSQL like any other.
 */
#ifndef BENCH_SEED_H
#define BENCH_SEED_H

#include <stddef.h>
#include <hiredis/hiredis.h>
#include "ig_user.h"
#include "pool.h"
#include "waitlist.h"

/** Codes per ig_issue call (the gateway sends up to a batch's whole bucket in one call). */
#define BENCH_SEED_CODES_PER_CALL 256
/** ig_issue calls in flight on the connection. */
#define BENCH_SEED_WINDOW 32
/** ig_join calls in flight on the connection (one entry each). */
#define BENCH_SEED_JOIN_WINDOW 256

/**
 * Issues every code of pool (created_by "bench", cohort "bench", one batch
 * id per kind, expiring at expires_at Unix seconds); bound codes are bound to
 * bench_pool_bound_email(), hashed with email_key as the gateway hashes.
 * Sets *created to the codes Redis created (codes that already existed are
 * left alone, as ig_issue does). Returns 0, or -1 (printed).
 */
int bench_seed_codes(redisContext *c, const bench_pool_t *pool, const unsigned char email_key[IG_EMAIL_KEY_BYTES],
                     long long expires_at, size_t *created);

/**
 * Joins every entry of wl (persons 0..wl->num-1 of waitlist.h) with
 * FCALL ig_join as the gateway calls it: the e-mail hash keyed with
 * email_key, the joiner's referral code from user_keys, the priority score
 * of the persona and use case, no referral, the rate limit off. Sets
 * *created to the entries Redis added and *existing to those already on the
 * waitlist. Returns 0, or -1 (printed) on any other answer.
 */
int bench_seed_waitlist(redisContext *c, const bench_waitlist_t *wl, const unsigned char email_key[IG_EMAIL_KEY_BYTES],
                        const ig_user_keys_t *user_keys, size_t *created, size_t *existing);

#endif
