/*
 * The calls into the Redis function library (lua/): for each function its
 * KEYS, its ARGV and its reply, the one description both sides are checked
 * against. Callers build a call's argv through ig_fcall_* below, which takes
 * the counts from here; each function in lua/ carries the same description
 * in a comment block, which tests/integration/test_library.py compares with
 * this list (printed by tests/unit/print_layout.c), and it runs every
 * function on a one-node Redis Cluster.
 *
 * X(ID, name, ro, keys, nkeys, args, nargs, item_keys, nitem_keys, item_args, nitem_args, idem, inside, reply)
 *
 *   ro          1: registered no-writes, called with FCALL_RO
 *   keys, args  the fixed KEYS and ARGV by role, space-separated; the key
 *               roles are the builders of common/ig_keys.h (code_hash =
 *               ig_key_code_hash, wl = IG_KEY_WL, user = ig_key_user, ...)
 *   item_*      then that many KEYS and ARGV per item of a call for many
 *               (the KEYS of all items follow the fixed KEYS, the ARGV of
 *               all items the fixed ARGV); a call names its item count
 *   idem        1: registered idempotent: one more KEY after all others,
 *               the Idempotency-Key's record (ig_key_idem, IG_KEY_IDEM_NONE
 *               without a key), and one more ARGV after all others, the
 *               request's fingerprint ("" without a key)
 *   inside      keys the function finds from data it reads and so cannot be
 *               given (a class chosen by a stored priority, the members of a
 *               stored sequence number, the user record of a referrer or of
 *               someone admitted): always built inside the call with the hash
 *               tag of KEYS[1], so in its slot
 *   reply       the reply's shape
 *
 * KEYS[1] of every function is in the hash tag of the bucket it works on
 * (bucket 0 for the waitlist, referrals, points and Idempotency-Key
 * records), so a call is routed by its first key.
 */
#ifndef IG_CALLS_H
#define IG_CALLS_H

#include <stddef.h>

/* clang-format off */
#define IG_CALLS(X)                                                                                                                \
    X(READY, "ig_ready", 1, "", 0, "", 0, "", 0, "", 0, 0, "",                                                                     \
      "VERSION")                                                                                                                   \
    X(REDEEM, "ig_redeem", 0, "code_hash redeemers gate events", 4, "field code email hash8 addr", 5, "", 0, "", 0, 0, "",         \
      "{verdict, use_count, max_uses} for ok | again; {verdict} for not_found | revoked | expired | wrong_account | exhausted | "  \
      "invites_paused")                                                                                                            \
    X(REDEEM_MANY, "ig_redeem_many", 0, "gate events", 2, "", 0, "code_hash redeemers", 2, "field code email hash8 addr", 5, 0,    \
      "", "flat: per item verdict, use_count, max_uses (0, 0 unless ok | again)")                                                  \
    X(STATUS, "ig_status", 1, "code_hash", 1, "field", 1, "", 0, "", 0, 0, "",                                                     \
      "{ok, max_uses, use_count, expires_at, revoked_at, bound, now} | {not_found}")                                               \
    X(REVOKE, "ig_revoke", 0, "code_hash events", 2, "field code", 2, "", 0, "", 0, 0, "", "{ok, revoked_at} | {not_found}")       \
    X(BATCH_CLAIM, "ig_batch_claim", 0, "batch gate", 2, "fp codes exp", 3, "", 0, "", 0, 0, "",                                   \
      "{new} | {same, codes, expires_at} | {conflict} | {invites_paused}")                                                         \
    X(ISSUE, "ig_issue", 0, "events", 1, "batch cohort max exp by", 5, "code_hash", 1, "field code email hash8", 4, 0, "",         \
      "codes created")                                                                                                             \
    X(IDEM_GET, "ig_idem_get", 1, "idem", 1, "fp", 1, "", 0, "", 0, 0, "",                                                         \
      "{none} | {replay, {answer, status, body}} | {idempotency_key_reused}")                                                      \
    X(IDEM_PUT, "ig_idem_put", 0, "idem", 1, "fp status body", 3, "", 0, "", 0, 0, "", "1")                                        \
    X(REHYDRATE_CODE, "ig_rehydrate_code", 0, "code_hash redeemers", 2, "field write max uses exp revoked bound first", 8, "", 0,  \
      "redeemer", 1, 0, "", "{created | updated | same, redeemers missing}")                                                       \
    X(JOIN, "ig_join", 0, "wl events wl_seq wl_counters user shared referral referral_given", 8,                                   \
      "hash8 email persona use_case priority referral_code referral_given addr boost", 9, "", 0, "", 0, 0,                         \
      "wl_class wl_blocks wl_members user_of_referrer referral_of_sharer",                                                         \
      "{new | already, position, total, rate_milli} | {admitted, admitted_at_ms} | {unknown_referral}")                            \
    X(JOIN_MANY, "ig_join_many", 0, "wl events wl_seq wl_counters", 4, "boost", 1, "user shared referral referral_given", 4,       \
      "hash8 email persona use_case priority referral_code referral_given addr", 8, 0,                                             \
      "wl_class wl_blocks wl_members user_of_referrer referral_of_sharer",                                                         \
      "flat: per item the 4 values of ig_join, padded with 0")                                                                     \
    X(POSITION, "ig_position", 1, "wl wl_counters user", 3, "hash8", 1, "", 0, "", 0, 0, "wl_class wl_blocks",                     \
      "{ok, position, total, rate_milli} | {admitted, admitted_at_ms} | {not_found}")                                              \
    X(STATS, "ig_stats", 1, "wl wl_counters", 2, "", 0, "", 0, "", 0, 0, "",                                                       \
      "{ok, waiting, processed_today, joined_today, admitted_total, joined_total, rate_milli}")                                    \
    X(ADMIT, "ig_admit", 0, "wl events gate wl_counters", 4, "exp by", 2, "code_hash", 1, "code", 1, 1,                            \
      "wl_class wl_blocks wl_members user_of_admitted", "{ok, email, code, ...} | {invites_paused}")                               \
    X(SHARE, "ig_share", 0, "wl_seq events user referral shared", 5,                                                               \
      "hash8 email referral_code recipient_hash8 recipient_email id", 6, "", 0, "", 0, 1, "wl_members",                            \
      "{ok, referral_code, id}")                                                                                                   \
    X(CLICK, "ig_click", 0, "referral events", 2, "referral_code count", 2, "", 0, "", 0, 0, "", "{ok} | {not_found}")             \
    X(REGISTER, "ig_register", 0, "wl_seq user referral", 3, "hash8 email referral_code", 3, "", 0, "", 0, 0, "wl_members",        \
      "the owner's sequence number")                                                                                               \
    X(EARN, "ig_earn", 0, "user events gate", 3, "hash8 email per exp", 4, "code_hash", 1, "code", 1, 1, "",                       \
      "{ok, referrals, tranche, code, ...} | {not_yet, referrals, still_needed} | {invites_paused}")                               \
    X(QUALITY, "ig_quality", 1, "user points", 2, "hash8", 1, "", 0, "", 0, 0, "",                                                 \
      "{ok, referrals, tranches_earned, referrals_active, referrals_fraud} | {not_found}")                                         \
    X(POINTS_SYNC, "ig_points_sync", 0, "points", 1, "hash8 earned tx active fraud", 5, "", 0, "", 0, 0, "", "the balance")        \
    X(REHYDRATE_POINTS, "ig_rehydrate_points", 0, "points", 1, "hash8 earned tx active fraud spent write", 7, "", 0, "", 0, 0, "", \
      "created | updated | same")                                                                                                  \
    X(POINTS, "ig_points", 1, "points", 1, "hash8", 1, "", 0, "", 0, 0, "", "{ok, earned, spent, transactions_json}")              \
    X(SPEND, "ig_spend", 0, "points events", 2, "hash8 email amount type note", 5, "", 0, "", 0, 1, "",                            \
      "{ok, balance_after, earned, spent} | {insufficient_points, balance}")                                                       \
    X(GRANT, "ig_grant", 0, "points events", 2, "hash8 email points reason", 4, "", 0, "", 0, 1, "",                               \
      "{ok, balance_after, earned, spent} | {insufficient_points, balance}")                                                       \
    X(EXPIRE, "ig_expire", 0, "points events", 2, "hash8 email earned_old deducted note", 5, "", 0, "", 0, 0, "",                  \
      "points expired")                                                                                                            \
    X(LIFECYCLE, "ig_lifecycle", 0, "events", 1, "email kind amount at", 4, "", 0, "", 0, 1, "", "{ok, at_ms}")                    \
    X(ERASE, "ig_erase", 0, "wl events user referral shared", 5, "hash8 email referral_code uid", 4, "", 0, "", 0, 0,              \
      "wl_class wl_blocks wl_members", "{ok, removed_from_waitlist}")                                                              \
    X(REHYDRATE_PERSON, "ig_rehydrate_person", 0, "wl user wl_members wl_class wl_blocks referral", 6,                             \
      "write hash8 email state seq prio referral_given refs tranches admitted_at code referral_code", 12, "", 0, "", 0, 0,         \
      "", "{created | updated | same | kept | seq_taken}")                                                                         \
    X(REHYDRATE_WAITLIST, "ig_rehydrate_waitlist", 0, "wl_seq wl_counters", 2, "write floor reserve", 3, "", 0, "field value",     \
      2, 0, "", "{counters changed, the first reserved sequence number}")                                                          \
    X(GATE, "ig_gate", 0, "trust gate gate_mode gate_auto", 4, "force", 1, "", 0, "", 0, 1, "",                                    \
      "{ok, evaluation, flag, mode}")
/* clang-format on */

/** A library function. */
typedef enum {
#define IG_CALL_ENUM(ID, ...) IG_CALL_##ID,
    IG_CALLS(IG_CALL_ENUM)
#undef IG_CALL_ENUM
        IG_CALL_COUNT
} ig_call_id_t;

/* Per function: its KEYS and ARGV outside the items (idempotency's included) and per item, as constants. */
enum {
#define IG_CALL_COUNTS(ID, name, ro, keys, nkeys, args, nargs, ikeys, nikeys, iargs, niargs, idem, inside, reply)                  \
    IG_CALL_##ID##_KEYS = (nkeys) + (idem), IG_CALL_##ID##_ARGS = (nargs) + (idem), IG_CALL_##ID##_ITEM_KEYS = (nikeys),           \
    IG_CALL_##ID##_ITEM_ARGS = (niargs),
    IG_CALLS(IG_CALL_COUNTS)
#undef IG_CALL_COUNTS
};

/** The argv length of a call of function ID with items items: FCALL, name, numkeys, KEYS, ARGV. */
#define IG_CALL_ARGC(ID, items)                                                                                                    \
    (3 + IG_CALL_##ID##_KEYS + IG_CALL_##ID##_ARGS + (size_t)(items) * (IG_CALL_##ID##_ITEM_KEYS + IG_CALL_##ID##_ITEM_ARGS))

/** One function's description (the columns of IG_CALLS). */
typedef struct ig_call_spec_t {
    const char *name;                  /**< function name */
    int ro;                            /**< registered no-writes */
    const char *keys, *args;           /**< fixed KEYS and ARGV roles, space-separated */
    unsigned nkeys, nargs;             /**< their numbers (without idempotency's) */
    const char *item_keys, *item_args; /**< KEYS and ARGV roles per item */
    unsigned nitem_keys, nitem_args;   /**< their numbers */
    int idem;                          /**< idempotent: one more KEY and ARGV last */
    const char *inside;                /**< keys found inside the call, same slot as KEYS[1] */
    const char *reply;                 /**< the reply's shape */
} ig_call_spec_t;

/** The descriptions, indexed by ig_call_id_t. */
extern const ig_call_spec_t ig_call_specs[IG_CALL_COUNT];

/**
 * An FCALL's argv under construction: argv and lens are the caller's arrays
 * of cap entries (sized with IG_CALL_ARGC); the strings are borrowed, so
 * they must outlive the send. Push the KEYS, then the ARGV, in the order of
 * the description: fixed, then item after item, then idempotency's.
 */
typedef struct ig_fcall_t {
    const ig_call_spec_t *spec; /**< the function */
    const char **argv;          /**< the arguments so far */
    size_t *lens;               /**< their lengths */
    size_t cap;                 /**< room in argv and lens */
    size_t argc;                /**< arguments so far */
    size_t expected;            /**< arguments of the complete call */
    char numkeys[24];           /**< argv[2] */
} ig_fcall_t;

/**
 * Declares the arrays of a call of function ID with items items (a
 * constant) in the enclosing block and starts it as c (an ig_fcall_t).
 */
#define IG_FCALL_LOCAL(c, ID, items)                                                                                               \
    const char *c##_argv[IG_CALL_ARGC(ID, items)];                                                                                 \
    size_t c##_lens[IG_CALL_ARGC(ID, items)];                                                                                      \
    ig_fcall_t c;                                                                                                                  \
    ig_fcall_begin(&c, IG_CALL_##ID, (items), c##_argv, c##_lens, IG_CALL_ARGC(ID, items))

/** Starts a call of id for items items (0 for a function without items) in argv and lens. */
void ig_fcall_begin(ig_fcall_t *c, ig_call_id_t id, size_t items, const char **argv, size_t *lens, size_t cap);

/** Pushes a NUL-terminated argument (borrowed). */
void ig_fcall_str(ig_fcall_t *c, const char *s);

/** Pushes an argument of len bytes (borrowed; e-mail hashes). */
void ig_fcall_bin(ig_fcall_t *c, const void *p, size_t len);

/** Pushes n NUL-terminated arguments (borrowed). */
void ig_fcall_strs(ig_fcall_t *c, const char *const *s, size_t n);

/** Ends the call: returns argc; aborts when the call has not the arguments its description asks for (a bug of the caller). */
size_t ig_fcall_end(const ig_fcall_t *c);

#endif
