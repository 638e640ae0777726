/*
 * Seeding in bulk through the product's own Lua functions: codes with
 * FCALL ig_issue, exactly the calls the gateway makes for
 * POST /api/invites/generate, pipelined from hiredis (no HTTP, no batch
 * claim). Each created code also appends its `issued` event, so the sync
 * daemon copies the pool into PostgreSQL like any other batch.
 */
#ifndef BENCH_SEED_H
#define BENCH_SEED_H

#include <stddef.h>
#include <hiredis/hiredis.h>
#include "pool.h"

/** Codes per ig_issue call (the gateway sends up to a batch's whole bucket in one call). */
#define BENCH_SEED_CODES_PER_CALL 256
/** ig_issue calls in flight on the connection. */
#define BENCH_SEED_WINDOW 32

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
 * HOOK for the waitlist issue: seeds a waitlist of `entries` people in bulk
 * (the future ig_join function, pipelined like bench_seed_codes). The
 * waitlist endpoints and functions do not exist yet, so this returns 0 for
 * entries == 0 and -1 (printed) otherwise.
 */
int bench_seed_waitlist(redisContext *c, const bench_pool_t *pool, size_t entries);

#endif
