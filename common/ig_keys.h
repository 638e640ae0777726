/*
 * The Redis key layout: the one owner of every key name invitegate uses, and
 * the derived secrets both daemons agree on.
 *
 * Every key name is built here (ig_key_*, or the constants of bucket 0);
 * the gateway, the sync daemon, the operator's tool and the bench format no
 * key of their own. The Lua library (lua/) receives every key it is given a
 * name for in KEYS (common/ig_calls.h says which); the few it finds from data
 * it reads are listed there too. tests/integration/keys.py is the tests'
 * copy of these builders, checked against this file by
 * tests/integration/test_keys.py (through tests/unit/print_layout.c).
 *
 * Every key carries a hash tag {B} with B in 0..buckets-1, so each Lua call
 * touches one cluster slot. The number of buckets is chosen at install (the
 * configuration's buckets: a power of two from 16 to IG_BUCKETS_MAX, 16 by
 * default) and caps a Redis Cluster at that many masters; it is recorded in
 * Redis (IG_KEY_BUCKETS) and PostgreSQL (table layout), and a process whose
 * configuration says otherwise refuses to run. A code lives in the bucket
 * given by its first two characters (ig_code_bucket) and in a small hash
 * (listpack-encoded) chosen by the second and third, so a million codes cost
 * a few hundred bytes of overhead per small hash, not a key each. Per bucket
 * B:
 *
 *   ig:{B}:c:S        hash   field = code body[3..] -> packed code record      ig_key_code_hash
 *   ig:{B}:r:CODE     set    e-mail hashes that redeemed a multi-use code      ig_key_redeemers
 *   ig:{B}:gate       string "closed" while the trust gate is closed           ig_key_gate
 *   ig:{B}:events     stream change events for the sync daemon               ig_key_events
 *   ig:{B}:batch:ID   hash   an issued batch (fp, codes, exp, created)         ig_key_batch
 *
 * The waitlist, referrals and points live in one bucket, IG_WL_BUCKET (0): a
 * waitlist position is a rank over the whole list, so it cannot be split, and
 * keeping the rest beside it makes join, admit and earn single-slot calls.
 * Codes issued by admit and earn are generated in that bucket too. The
 * waitlist is one bitmap per priority class over join sequence numbers
 * (lua/waitlist.lua explains the order and the cost):
 *
 *   ig:{0}:wl           string MessagePack map: priority -> people waiting    IG_KEY_WL
 *   ig:{0}:wl:b:P       string bitmap of priority P: bit = join sequence      ig_key_wl_class
 *   ig:{0}:wl:k:P       string MessagePack map: block (sequence >> 16) + 1 ->  ig_key_wl_blocks
 *                              people of priority P waiting in it
 *   ig:{0}:wl:s:K       hash   sequence & 127 -> hash8 || e-mail              ig_key_wl_members
 *                              (K = sequence >> 7)
 *   ig:{0}:wl:seq       string join sequence counter                          IG_KEY_WL_SEQ
 *   ig:{0}:wl:n         hash   counters: joined, admitted, j:DAY, a:DAY per    IG_KEY_WL_COUNTERS
 *                              UTC day number, first_admit_day (the day
 *                              number of the first admission)
 *   ig:{0}:u:S          hash   field = hash8 -> packed user record            ig_key_user
 *   ig:{0}:rc:S         hash   field = referral code -> owner's sequence      ig_key_referral
 *   ig:{0}:sh:S         hash   field = recipient hash8 -> referral code of    ig_key_shared
 *                              who shared with them
 *   ig:{0}:p:S          hash   field = hash8 -> packed points record          ig_key_points
 *   ig:{0}:trust        string last trust-gate evaluation (JSON), sync daemon IG_KEY_TRUST
 *   ig:{0}:gate:mode    string "open" | "closed" | "auto" (absent = auto)     IG_KEY_GATE_MODE
 *   ig:{0}:gate:auto    string "closed" while the last evaluation's           IG_KEY_GATE_AUTO
 *                              automatic state is closed
 *   ig:{0}:buckets      string the install's number of buckets (decimal)   IG_KEY_BUCKETS
 *   ig:{0}:idem:K:S:H   string an Idempotency-Key's record, 24 h: MessagePack ig_key_idem
 *                              (fingerprint, reply); K:S the scope (t:<token
 *                              name> or a:<client address>), H the key's hash
 *
 * S is IG_USER_SUBHASHES-way: from the e-mail hash for u/sh/p
 * (ig_user_subhash), from the code for rc (ig_referral_subhash); with Redis's
 * default of 128 entries per small hash that keeps them in the compact
 * encoding up to about 4 million people. No other key exists: the
 * rate-limit keys ig:{B}:rl:* of library versions up to 3 are gone.
 */
#ifndef IG_KEYS_H
#define IG_KEYS_H

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include "ig_code.h"
#include "ig_email.h"

/** The number of buckets of an install made without choosing (and of every install before it was recorded). */
#define IG_BUCKETS_DEFAULT 16
/** The fewest buckets: an imported code's first hex digit must be whole in its bucket (ig_buckets_valid). */
#define IG_BUCKETS_MIN 16
/** The most buckets: two code characters address 256 (hex digits of an imported code: 16 x 16). */
#define IG_BUCKETS_MAX 256
_Static_assert(IG_BUCKETS_MAX <= IG_CODE_HEADS, "a bucket is chosen by a code's first two characters");
#define IG_SUBHASHES 1024
#define IG_KEY_MAX_BYTES 128

#define IG_WL_BUCKET 0
#define IG_USER_SUBHASHES 32768

/* The hash tag of bucket 0 and its fixed keys (IG_WL_BUCKET is 0: test_keys.py checks both). */
#define IG_WL_PREFIX "ig:{0}:"
#define IG_KEY_WL IG_WL_PREFIX "wl"
#define IG_KEY_WL_SEQ IG_WL_PREFIX "wl:seq"
#define IG_KEY_WL_COUNTERS IG_WL_PREFIX "wl:n"
#define IG_KEY_WL_EVENTS IG_WL_PREFIX "events"
#define IG_KEY_WL_GATE IG_WL_PREFIX "gate"
#define IG_KEY_TRUST IG_WL_PREFIX "trust"
#define IG_KEY_GATE_MODE IG_WL_PREFIX "gate:mode"
#define IG_KEY_GATE_AUTO IG_WL_PREFIX "gate:auto"
#define IG_KEY_BUCKETS IG_WL_PREFIX "buckets"
/**
 * What an idempotent library function (common/ig_calls.h) gets for its
 * record key when the request carries no Idempotency-Key (its fingerprint is
 * then ""): a name in bucket 0 that is never read or written.
 */
#define IG_KEY_IDEM_NONE IG_WL_PREFIX "idem:"

/** Any bucket, for the patterns of ig_key_pattern. */
#define IG_KEY_ANY_BUCKET (-1)

/* Formats a key name into out (IG_KEY_MAX_BYTES); returns its length, or -1 when it would not fit. */
#define IG_KEY_FORMAT(out, ...)                                                                                                    \
    do {                                                                                                                           \
        int n_ = snprintf((out), IG_KEY_MAX_BYTES, __VA_ARGS__);                                                                   \
        return n_ > 0 && n_ < IG_KEY_MAX_BYTES ? n_ : -1;                                                                          \
    } while (0)

/** ig:{B}:c:S, the small hash of code records S (0..IG_SUBHASHES-1) in bucket B. */
static inline int ig_key_code_hash(char out[IG_KEY_MAX_BYTES], unsigned bucket, unsigned sub)
{
    IG_KEY_FORMAT(out, "ig:{%u}:c:%u", bucket, sub);
}

/** ig:{B}:r:CODE, the redeemers of a multi-use code body (at most IG_CODE_BODY_LEN characters are used). */
static inline int ig_key_redeemers(char out[IG_KEY_MAX_BYTES], unsigned bucket, const char *body)
{
    IG_KEY_FORMAT(out, "ig:{%u}:r:%.*s", bucket, IG_CODE_BODY_LEN, body);
}

/** ig:{B}:gate, the trust gate's flag of bucket B. */
static inline int ig_key_gate(char out[IG_KEY_MAX_BYTES], unsigned bucket)
{
    IG_KEY_FORMAT(out, "ig:{%u}:gate", bucket);
}

/** ig:{B}:events, the event stream of bucket B. */
static inline int ig_key_events(char out[IG_KEY_MAX_BYTES], unsigned bucket)
{
    IG_KEY_FORMAT(out, "ig:{%u}:events", bucket);
}

/** ig:{B}:batch:ID, an issued batch (B = ig_bucket_of(id)). */
static inline int ig_key_batch(char out[IG_KEY_MAX_BYTES], unsigned bucket, const char *id)
{
    IG_KEY_FORMAT(out, "ig:{%u}:batch:%s", bucket, id);
}

/** ig:{0}:wl:b:P, the bitmap of priority class P. */
static inline int ig_key_wl_class(char out[IG_KEY_MAX_BYTES], long prio)
{
    IG_KEY_FORMAT(out, IG_WL_PREFIX "wl:b:%ld", prio);
}

/** ig:{0}:wl:k:P, the block counters of priority class P. */
static inline int ig_key_wl_blocks(char out[IG_KEY_MAX_BYTES], long prio)
{
    IG_KEY_FORMAT(out, IG_WL_PREFIX "wl:k:%ld", prio);
}

/** ig:{0}:wl:s:K, the members of join sequences K * 128 .. K * 128 + 127 (K = seq >> 7). */
static inline int ig_key_wl_members(char out[IG_KEY_MAX_BYTES], unsigned long long seq)
{
    IG_KEY_FORMAT(out, IG_WL_PREFIX "wl:s:%llu", seq >> 7);
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

/** ig:{0}:u:S, the small hash holding the user record of hash8. */
static inline int ig_key_user(char out[IG_KEY_MAX_BYTES], const unsigned char *hash8)
{
    IG_KEY_FORMAT(out, IG_WL_PREFIX "u:%u", ig_user_subhash(hash8));
}

/** ig:{0}:sh:S, the small hash holding who shared with hash8 first. */
static inline int ig_key_shared(char out[IG_KEY_MAX_BYTES], const unsigned char *hash8)
{
    IG_KEY_FORMAT(out, IG_WL_PREFIX "sh:%u", ig_user_subhash(hash8));
}

/** ig:{0}:p:S, the small hash holding the points record of hash8. */
static inline int ig_key_points(char out[IG_KEY_MAX_BYTES], const unsigned char *hash8)
{
    IG_KEY_FORMAT(out, IG_WL_PREFIX "p:%u", ig_user_subhash(hash8));
}

/** ig:{0}:rc:S, the small hash holding a referral code (at least 3 characters). */
static inline int ig_key_referral(char out[IG_KEY_MAX_BYTES], const char *code)
{
    IG_KEY_FORMAT(out, IG_WL_PREFIX "rc:%u", ig_referral_subhash(code));
}

/**
 * The Redis key of an Idempotency-Key's record: ig:{0}:idem:K:S:H, K:S the
 * scope (kind 't' and a token name, or 'a' and a client address), H the
 * key's hash in hex. Every record is in bucket 0 whatever the route, so a
 * key reused on another route or resource is recognised. Returns its
 * length, or -1 when the name would not fit in IG_KEY_MAX_BYTES.
 */
static inline int ig_key_idem(char out[IG_KEY_MAX_BYTES], char kind, const char *scope, const char *hash_hex)
{
    IG_KEY_FORMAT(out, IG_WL_PREFIX "idem:%c:%s:%s", kind, scope, hash_hex);
}

/**
 * A SCAN pattern of one kind of key: ig:{B}:KIND:* for bucket B, or every
 * bucket with IG_KEY_ANY_BUCKET; kind is the name's part after the tag
 * ("c", "u", "p", "wl:b", ...).
 */
static inline int ig_key_pattern(char out[IG_KEY_MAX_BYTES], int bucket, const char *kind)
{
    if (bucket == IG_KEY_ANY_BUCKET)
        IG_KEY_FORMAT(out, "ig:{*}:%s:*", kind);
    IG_KEY_FORMAT(out, "ig:{%d}:%s:*", bucket, kind);
}

/** Parses a code hash's name (ig:{B}:c:S) into its bucket and small hash. Returns 0, or -1 when key is not one. */
static inline int ig_key_parse_code_hash(const char *key, unsigned *bucket, unsigned *sub)
{
    char tail;
    return sscanf(key, "ig:{%u}:c:%u%c", bucket, sub, &tail) == 2 ? 0 : -1;
}

#undef IG_KEY_FORMAT

/*
 * A code's bucket and small hash come from its first three characters as
 * digits of its form (ig_code_digit): alphabet values for an issued body, hex
 * values for an imported one (which then fill 256 of the small hashes of each
 * bucket). The field is the rest of the body: 13 characters for an issued
 * body, 9 for an imported one, so the two forms never share a field.
 */

/*
 * A process whose configured bucket count differs from a store's record
 * logs IG_BUCKETS_REFUSED with the reason IG_BUCKETS_DIFFER (the store, the
 * count it records, the configured one) and exits with IG_BUCKETS_EXIT
 * (sysexits' EX_CONFIG; the systemd units do not restart on it).
 */
#define IG_BUCKETS_REFUSED "refusing to run: the bucket count differs"
#define IG_BUCKETS_DIFFER                                                                                                          \
    "%s records %s buckets and this configuration says buckets = %u: every process of an install must use the count it was "       \
    "installed with"
#define IG_BUCKETS_EXIT 78
/**
 * How a process records the count in Redis and reads the one recorded
 * (hiredis format, the count as a decimal string): the reply is nil when
 * this call recorded it, else the count recorded before.
 */
#define IG_BUCKETS_RECORD_CMD "SET " IG_KEY_BUCKETS " %s NX GET"

/**
 * A valid number of buckets: a power of two from IG_BUCKETS_MIN to
 * IG_BUCKETS_MAX. Fewer than 16 would lose part of an imported code's first
 * digit: its bucket, small hash and field would no longer tell
 * 1ABCDEF01234 from 9ABCDEF01234 (an issued code's check characters would
 * still tell them apart).
 */
static inline int ig_buckets_valid(unsigned buckets)
{
    return buckets >= IG_BUCKETS_MIN && buckets <= IG_BUCKETS_MAX && (buckets & (buckets - 1)) == 0;
}

/**
 * Bucket of a code body among buckets (a power of two, at most
 * IG_BUCKETS_MAX): its first two characters read as a number, first digit
 * lowest (d0 + 32 d1 issued, d0 + 16 d1 imported), modulo buckets. Up to 32
 * (16 for imported codes) that is the first character's value alone, the
 * mapping of every install before the count could be chosen; past it the
 * second character's low bits join in, and those of the small hash
 * (ig_code_subhash) are then fixed within a bucket: each bucket uses fewer
 * small hashes, the install as many in all.
 */
static inline unsigned ig_code_bucket(const char *body, unsigned buckets)
{
    ig_code_form_t f = ig_code_form(body, strnlen(body, IG_CODE_BODY_LEN + 1));
    unsigned radix = f == IG_CODE_IMPORTED ? 16 : 32;
    return ((unsigned)ig_code_digit(f, body[0]) + radix * (unsigned)ig_code_digit(f, body[1])) % buckets;
}

/** Writes a new issued code body (checked with key) that lives in bucket among buckets. */
static inline void ig_code_generate_in(char out[IG_CODE_BODY_LEN + 1], const unsigned char key[IG_CODE_KEY_BYTES], unsigned bucket,
                                       unsigned buckets)
{
    ig_code_generate_head(out, key, bucket, buckets);
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

/** Fills k for a normalised code body of either form among buckets (the gateway's calls and the bench's use the same keys). */
static inline void ig_code_keys(ig_code_keys_t *k, const char *body, unsigned buckets)
{
    size_t len = strnlen(body, IG_CODE_BODY_LEN);
    k->bucket = ig_code_bucket(body, buckets);
    ig_key_code_hash(k->hash, k->bucket, ig_code_subhash(body));
    memcpy(k->field, body + 3, len - 3);
    k->field[len - 3] = '\0';
}

/** Bucket of an arbitrary identifier (batch ids) among buckets: FNV-1a. */
static inline unsigned ig_bucket_of(const char *s, size_t len, unsigned buckets)
{
    unsigned h = 2166136261u;
    for (size_t i = 0; i != len; ++i)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h % buckets;
}

/** Subkey ids for crypto_kdf_derive_from_key over the configured secret_key. */
#define IG_KDF_CONTEXT "invgate_"
#define IG_KDF_CODE_CHECK 1
#define IG_KDF_EMAIL_HASH 2
#define IG_KDF_LOG_HASH 3
#define IG_KDF_USER_ID 4
#define IG_KDF_REFERRAL 5

/** How long an Idempotency-Key's record is kept (the Lua library's IDEM_TTL_MS). */
#define IG_IDEM_TTL_MS 86400000

#endif
