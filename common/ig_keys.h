/*
 * Redis key layout and the derived secrets both daemons agree on.
 *
 * Every key carries a hash tag {B} with B in 0..IG_BUCKETS-1, so each Lua call
 * touches one cluster slot. A code lives in the bucket given by its first
 * character and in a small hash (listpack-encoded) chosen by the next two, so
 * a million codes cost a few hundred bytes of overhead per small hash, not a
 * key each:
 *
 *   ig:{B}:c:S        hash   field = code body[3..16] -> packed code record
 *   ig:{B}:r:CODE     set    e-mail hashes that redeemed a multi-use code
 *   ig:{B}:gate       string "closed" while the trust gate is closed
 *   ig:{B}:events     stream change events for the sync daemon
 *   ig:{B}:rl:ADDR    string GCRA theoretical arrival time for a client
 *   ig:{B}:batch:ID   hash   an issued batch (fingerprint, codes)
 */
#ifndef IG_KEYS_H
#define IG_KEYS_H

#include <stddef.h>
#include "ig_code.h"

#define IG_BUCKETS 16
#define IG_SUBHASHES 1024
#define IG_STREAM_GROUP "ig-sync"
#define IG_KEY_MAX_BYTES 128

/** Bucket of a code body (from its first character). */
static inline unsigned ig_code_bucket(const char *body)
{
    return (unsigned)ig_code_char_value(body[0]) % IG_BUCKETS;
}

/** Small-hash index of a code body inside its bucket. */
static inline unsigned ig_code_subhash(const char *body)
{
    return (unsigned)(ig_code_char_value(body[1]) * 32 + ig_code_char_value(body[2])) % IG_SUBHASHES;
}

/** Bucket of an arbitrary identifier (batch ids): FNV-1a. */
static inline unsigned ig_bucket_of(const char *s, size_t len)
{
    unsigned h = 2166136261u;
    for (size_t i = 0; i != len; ++i)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h % IG_BUCKETS;
}

/** Subkey ids for crypto_kdf_derive_from_key over the configured secret_key. */
#define IG_KDF_CONTEXT "invgate_"
#define IG_KDF_CODE_CHECK 1
#define IG_KDF_EMAIL_HASH 2
#define IG_KDF_LOG_HASH 3

#endif
