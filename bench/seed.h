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
/** Arguments of one join: ig_join's ARGV[1..8]. */
#define BENCH_JOIN_ARGS 8
/** A whole FCALL ig_join: FCALL ig_join 2 KEYS[1..2] ARGV[1..8] boost. */
#define BENCH_JOIN_CALL_ARGS (6 + BENCH_JOIN_ARGS)

#define BENCH_STR_(x) #x
#define BENCH_STR(x) BENCH_STR_(x)
/** The waitlist's keys of bucket IG_WL_BUCKET (common/ig_keys.h). */
#define BENCH_WL_KEY "ig:{" BENCH_STR(IG_WL_BUCKET) "}:wl"
#define BENCH_WL_STREAM "ig:{" BENCH_STR(IG_WL_BUCKET) "}:events"

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

/** The 8 arguments of one join (ig_join's ARGV[1..8], one item of ig_join_many), as the gateway builds them. */
typedef struct bench_join_item_t {
    bench_person_t p;                         /**< the person */
    unsigned char hash[IG_EMAIL_HASH_BYTES];  /**< the e-mail hash keyed with the gateway's key */
    char score[16];                           /**< priority score of the persona and use case */
    char own_ref[IG_REFERRAL_CODE_LEN + 1];   /**< the joiner's referral code */
    char given_ref[IG_REFERRAL_CODE_LEN + 1]; /**< the referral code the join carries ("" = none) */
    const char *argv[BENCH_JOIN_ARGS];        /**< borrowed from the fields above and addr */
    size_t argvlen[BENCH_JOIN_ARGS];
} bench_join_item_t;

/**
 * Fills it with the join of person n (waitlist.h), carrying the referral
 * code of person referrer unless referrer is UINT64_MAX, from the client
 * address addr (static). Returns 0, or -1 (printed) when the person's address
 * fails normalisation (never for these).
 */
int bench_join_item(bench_join_item_t *it, uint64_t n, uint64_t referrer, const char *addr,
                    const unsigned char email_key[IG_EMAIL_KEY_BYTES], const ig_user_keys_t *user_keys);

/** Fills argv (borrowing from it and boost) with the FCALL ig_join of it, as gateway/routes_waitlist.c calls it. */
void bench_join_call(const char *argv[BENCH_JOIN_CALL_ARGS], size_t argvlen[BENCH_JOIN_CALL_ARGS], const bench_join_item_t *it,
                     const char *boost);

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
