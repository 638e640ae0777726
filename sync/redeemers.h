/*
 * Referral codes for the people who arrive by an invite code.
 *
 * Everyone has a referral code (seed 002: one per user), derived from their
 * e-mail (ig_referral_code). For it to work (a join with it, a /r/ link) the
 * code must resolve to its owner in Redis (ig_key_referral), which joining the
 * waitlist or sharing does. A redemption runs in its code's bucket and
 * cannot touch bucket 0 in the same atomic call, so the sync daemon
 * registers the redeemers of each batch (`FCALL ig_register`, idempotent)
 * before applying it: a batch applied is a batch whose redeemers' codes
 * resolve, and a batch read again registers them again, harmlessly.
 */
#ifndef SYNC_REDEEMERS_H
#define SYNC_REDEEMERS_H

#include <stddef.h>
#include <hiredis/hiredis.h>
#include "batch.h"
#include "people.h"

/**
 * Registers the referral code of every person that a redeemed event of b
 * names, on redis (pipelined). Returns 0, or -1 with errstr (errstr_len
 * bytes) set; when redis->err is set the connection is unusable.
 */
__attribute__((warn_unused_result)) int sync_redeemers_register(redisContext *redis, const sync_keys_t *keys, const sync_batch_t *b,
                                                                char *errstr, size_t errstr_len);

#endif
