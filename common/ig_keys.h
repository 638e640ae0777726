/*
 * Redis key layout and the derived secrets both daemons agree on.
 *
 * Every key carries a hash tag {B} with B in 0..IG_BUCKETS-1, so each Lua call
 * touches one cluster slot. A code lives in the bucket given by its first
 * character and in a small hash (listpack-encoded) chosen by the next two, so
 * a million codes cost a few hundred bytes of overhead per small hash, not a
 * key each:
 *
 *   ig:{B}:c:S        hash   field = code body[3..] -> packed code record
 *   ig:{B}:r:CODE     set    e-mail hashes that redeemed a multi-use code
 *   ig:{B}:gate       string "closed" while the trust gate is closed
 *   ig:{B}:events     stream change events for the sync daemon
 *   ig:{B}:batch:ID   hash   an issued batch (fingerprint, codes)
 */
#ifndef IG_KEYS_H
#define IG_KEYS_H

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include "ig_code.h"

#define IG_BUCKETS 16
#define IG_SUBHASHES 1024
#define IG_KEY_MAX_BYTES 128

/*
 * A code's bucket and small hash come from its first three characters as
 * digits of its form (ig_code_digit): alphabet values for an issued body, hex
 * values for an imported one (which then fill 256 of the small hashes of each
 * bucket). The field is the rest of the body: 13 characters for an issued
 * body, 9 for an imported one, so the two forms never share a field.
 */

/** Bucket of a code body (from its first character). */
static inline unsigned ig_code_bucket(const char *body)
{
    return (unsigned)ig_code_digit(ig_code_form(body, strnlen(body, IG_CODE_BODY_LEN + 1)), body[0]) % IG_BUCKETS;
}

/** Small-hash index of a code body inside its bucket. */
static inline unsigned ig_code_subhash(const char *body)
{
    ig_code_form_t f = ig_code_form(body, strnlen(body, IG_CODE_BODY_LEN + 1));
    return (unsigned)(ig_code_digit(f, body[1]) * 32 + ig_code_digit(f, body[2])) % IG_SUBHASHES;
}

/** Where a code's record lives: its bucket, small hash and field. */
typedef struct ig_code_keys_t {
    unsigned bucket;                      /**< hash-tag bucket */
    char hash[IG_KEY_MAX_BYTES];          /**< ig:{B}:c:S */
    char field[IG_CODE_BODY_LEN - 3 + 1]; /**< body[3..] */
} ig_code_keys_t;

/** Fills k for a normalised code body of either form (the gateway's calls and the bench's use the same keys). */
static inline void ig_code_keys(ig_code_keys_t *k, const char *body)
{
    size_t len = strnlen(body, IG_CODE_BODY_LEN);
    k->bucket = ig_code_bucket(body);
    snprintf(k->hash, sizeof(k->hash), "ig:{%u}:c:%u", k->bucket, ig_code_subhash(body));
    memcpy(k->field, body + 3, len - 3);
    k->field[len - 3] = '\0';
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
#define IG_KDF_USER_ID 4
#define IG_KDF_REFERRAL 5

/*
 * The waitlist, referrals and points live in one bucket, IG_WL_BUCKET: a
 * waitlist position is a rank over the whole list, so it cannot be split, and
 * keeping the rest beside it makes join, admit and earn single-slot calls.
 * Codes issued by admit and earn are generated in that bucket too. The
 * waitlist is one bitmap per priority class over join sequence numbers
 * (lua/waitlist.lua explains the order and the cost):
 *
 *   ig:{0}:wl           string MessagePack map: priority -> people waiting with it
 *   ig:{0}:wl:b:P       string bitmap of priority P: bit = join sequence, set while waiting
 *   ig:{0}:wl:k:P       string MessagePack map: block (sequence >> 16) + 1 -> people of priority P waiting in it
 *   ig:{0}:wl:s:K       hash   sequence & 127 -> hash8 || e-mail (K = sequence >> 7)
 *   ig:{0}:wl:seq       string join sequence counter
 *   ig:{0}:wl:n         hash   counters: joined, admitted; j:DAY, a:DAY per UTC day number
 *   ig:{0}:u:S          hash   field = hash8 -> packed user record (state, sequence, priority, ...)
 *   ig:{0}:rc:S         hash   field = referral code -> its owner's sequence number
 *   ig:{0}:sh:S         hash   field = recipient hash8 -> referral code of who shared with them
 *   ig:{0}:p:S          hash   field = hash8 -> packed points record (earned, spent, ...)
 *   ig:{0}:trust        string last trust-gate evaluation (JSON) written by the sync daemon
 *   ig:{0}:gate:mode    string "open" | "closed" | "auto" (absent = auto)
 *   ig:{0}:gate:auto    string "closed" while the last evaluation's automatic state is closed
 *   ig:{0}:idem:K:S:H   string an Idempotency-Key's record, 24 h: MessagePack
 *                       (fingerprint, reply); K:S the scope (t:<token name> or
 *                       a:<client address>), H the key's hash (ig_idem_key)
 *
 * S is IG_USER_SUBHASHES-way: from the e-mail hash for u/sh/p, from the code
 * for rc; with Redis's default of 128 entries per small hash that keeps them
 * in the compact encoding up to about 4 million people.
 */
#define IG_WL_BUCKET 0
#define IG_USER_SUBHASHES 32768

/** How long an Idempotency-Key's record is kept (the Lua library's IDEM_TTL_MS). */
#define IG_IDEM_TTL_MS 86400000

/**
 * The Redis key of an Idempotency-Key's record: ig:{0}:idem:K:S:H, K:S the
 * scope (kind 't' and a token name, or 'a' and a client address), H the
 * key's hash in hex. Every record is in bucket 0 whatever the route, so a
 * key reused on another route or resource is recognised. Returns 0, or -1
 * when the name would not fit in IG_KEY_MAX_BYTES.
 */
static inline int ig_idem_key(char out[IG_KEY_MAX_BYTES], char kind, const char *scope, const char *hash_hex)
{
    int n = snprintf(out, IG_KEY_MAX_BYTES, "ig:{%d}:idem:%c:%s:%s", IG_WL_BUCKET, kind, scope, hash_hex);
    return n > 0 && n < IG_KEY_MAX_BYTES ? 0 : -1;
}

/** Small-hash index of an 8-byte e-mail hash. */
static inline unsigned ig_user_subhash(const unsigned char *hash8)
{
    return ((unsigned)hash8[0] << 8 | hash8[1]) % IG_USER_SUBHASHES;
}

/** Small-hash index of a referral code (any characters of the code alphabet). */
static inline unsigned ig_referral_subhash(const char *code)
{
    return (unsigned)(ig_code_char_value(code[0]) * 1024 + ig_code_char_value(code[1]) * 32 + ig_code_char_value(code[2])) %
           IG_USER_SUBHASHES;
}

/* The keys of the waitlist, referral and points bucket (layout above); out holds IG_KEY_MAX_BYTES. */

/** ig:{0}:wl, the waitlist's class sizes. */
static inline void ig_key_waitlist(char out[IG_KEY_MAX_BYTES])
{
    snprintf(out, IG_KEY_MAX_BYTES, "ig:{%d}:wl", IG_WL_BUCKET);
}

/** ig:{0}:wl:seq or ig:{0}:wl:n (what: "seq", "n"). */
static inline void ig_key_waitlist_counter(char out[IG_KEY_MAX_BYTES], const char *what)
{
    snprintf(out, IG_KEY_MAX_BYTES, "ig:{%d}:wl:%s", IG_WL_BUCKET, what);
}

/** ig:{0}:KIND:S of an e-mail hash: KIND "u" (user record), "sh" (first share), "p" (points record). */
static inline void ig_key_person(char out[IG_KEY_MAX_BYTES], const char *kind, const unsigned char *hash8)
{
    snprintf(out, IG_KEY_MAX_BYTES, "ig:{%d}:%s:%u", IG_WL_BUCKET, kind, ig_user_subhash(hash8));
}

/** ig:{0}:rc:S, the small hash of a referral code. */
static inline void ig_key_referral(char out[IG_KEY_MAX_BYTES], const char *code)
{
    snprintf(out, IG_KEY_MAX_BYTES, "ig:{%d}:rc:%u", IG_WL_BUCKET, ig_referral_subhash(code));
}

/** ig:{0}:wl:s:K, the small hash holding join sequence seq's member. */
static inline void ig_key_sequence(char out[IG_KEY_MAX_BYTES], unsigned long long seq)
{
    snprintf(out, IG_KEY_MAX_BYTES, "ig:{%d}:wl:s:%llu", IG_WL_BUCKET, seq >> 7);
}

/** ig:{0}:wl:KIND:P of priority class prio: KIND "b" (bitmap), "k" (block counters). */
static inline void ig_key_class(char out[IG_KEY_MAX_BYTES], const char *kind, long long prio)
{
    snprintf(out, IG_KEY_MAX_BYTES, "ig:{%d}:wl:%s:%lld", IG_WL_BUCKET, kind, prio);
}

#endif
