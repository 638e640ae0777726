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
#include <stdint.h>
#include <hiredis/hiredis.h>
#include "ig_calls.h"
#include "ig_keys.h"
#include "ig_user.h"
#include "pool.h"
#include "redis_route.h"
#include "waitlist.h"

/** Codes per ig_issue call (the gateway sends up to a batch's whole bucket in one call). */
#define BENCH_SEED_CODES_PER_CALL 256
/** ig_issue calls in flight on each connection. */
#define BENCH_SEED_WINDOW 32
/** ig_join calls in flight on the connection (one entry each). */
#define BENCH_SEED_JOIN_WINDOW 256
/** A whole FCALL ig_join (common/ig_calls.h). */
#define BENCH_JOIN_CALL_ARGS IG_CALL_ARGC(JOIN, 0)

/**
 * Issues every code of pool (created_by "bench", cohort "bench", one batch
 * id per kind, expiring at expires_at Unix seconds); bound codes are bound to
 * bench_pool_bound_email(), hashed with email_key as the gateway hashes.
 * Sets *created to the codes Redis created (codes that already existed are
 * left alone, as ig_issue does). Each bucket's calls go on its connection
 * of r. Returns 0, or -1 (printed).
 */
int bench_seed_codes(const sync_route_t *r, const bench_pool_t *pool, const unsigned char email_key[IG_EMAIL_KEY_BYTES],
                     long long expires_at, size_t *created);

/** One join (an item of ig_join_many, or ig_join without the boost), as the gateway builds it. */
typedef struct bench_join_item_t {
    bench_person_t p;                         /**< the person */
    unsigned char hash[IG_EMAIL_HASH_BYTES];  /**< the e-mail hash keyed with the gateway's key */
    char score[16];                           /**< priority score of the persona and use case */
    char own_ref[IG_REFERRAL_CODE_LEN + 1];   /**< the joiner's referral code */
    char given_ref[IG_REFERRAL_CODE_LEN + 1]; /**< the referral code the join carries ("" = none) */
    char user_key[IG_KEY_MAX_BYTES];          /**< ig_key_user */
    char shared_key[IG_KEY_MAX_BYTES];        /**< ig_key_shared */
    char own_ref_key[IG_KEY_MAX_BYTES];       /**< ig_key_referral of own_ref */
    char given_ref_key[IG_KEY_MAX_BYTES];     /**< ig_key_referral of given_ref (own_ref's without one) */
    const char *addr;                         /**< the client address (static) */
} bench_join_item_t;

/** Pushes the KEYS of one join item onto c (ig_join_many's "KEYS per item"). */
void bench_join_push_keys(ig_fcall_t *c, const bench_join_item_t *it);

/** Pushes the ARGV of one join item onto c (ig_join_many's "ARGV per item"). */
void bench_join_push_args(ig_fcall_t *c, const bench_join_item_t *it);

/**
 * Fills it with the join of person n (waitlist.h), carrying the referral
 * code of person referrer unless referrer is UINT64_MAX, from the client
 * address addr (static). Returns 0, or -1 (printed) when the person's address
 * fails normalisation (never for these).
 */
int bench_join_item(bench_join_item_t *it, uint64_t n, uint64_t referrer, const char *addr,
                    const unsigned char email_key[IG_EMAIL_KEY_BYTES], const ig_user_keys_t *user_keys);

/**
 * Builds the FCALL ig_join of it into c, with the arrays argv and argvlen
 * (borrowing from it and boost): one item of gateway/routes_waitlist.c's
 * ig_join_many.
 */
void bench_join_call(ig_fcall_t *c, const char *argv[BENCH_JOIN_CALL_ARGS], size_t argvlen[BENCH_JOIN_CALL_ARGS],
                     const bench_join_item_t *it, const char *boost);

/**
 * Joins every entry of wl (persons 0..wl->num-1 of waitlist.h) with
 * FCALL ig_join as the gateway calls it: the e-mail hash keyed with
 * email_key, the joiner's referral code from user_keys, the priority score
 * of the persona and use case, no referral, the rate limit off. Sets
 * *created to the entries Redis added and *existing to those already on the
 * waitlist. Returns 0, or -1 (printed) on any other answer.
 */
int bench_seed_waitlist(const sync_route_t *r, const bench_waitlist_t *wl, const unsigned char email_key[IG_EMAIL_KEY_BYTES],
                        const ig_user_keys_t *user_keys, size_t *created, size_t *existing);

#endif
