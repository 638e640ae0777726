/*
 * Helpers shared by the waitlist, referral and user routes: a person's
 * derived identities and the keys of bucket 0 (IG_WL_BUCKET), where the
 * waitlist, referrals and points live (docs/ARCHITECTURE.md).
 */
#ifndef GW_PEOPLE_H
#define GW_PEOPLE_H

#include "ig_calls.h"
#include "ig_email.h"
#include "ig_keys.h"
#include "ig_user.h"
#include "library.h"
#include "parse.h"

/** A person as the routes need them. */
typedef struct gw_person_t {
    gw_email_t email;                             /**< normalised */
    unsigned char hash8[IG_EMAIL_HASH_BYTES];     /**< keyed hash: the Redis identity */
    char referral_code[IG_REFERRAL_CODE_LEN + 1]; /**< their own referral code */
    char user_key[IG_KEY_MAX_BYTES];              /**< ig_key_user: their user record's small hash */
    char shared_key[IG_KEY_MAX_BYTES];            /**< ig_key_shared */
    char points_key[IG_KEY_MAX_BYTES];            /**< ig_key_points */
    char referral_key[IG_KEY_MAX_BYTES];          /**< ig_key_referral of their referral code */
} gw_person_t;

/** Fills the derived fields of p from p->email (its identities and the keys of its records). */
void gw_person_derive(gw_person_t *p);

/**
 * Parses the e-mail of a path segment into new zeroed route state of
 * state_size bytes (which starts with a gw_person_t), owned by rq, derives
 * the person's identities and, on a route limited per e-mail, takes a unit
 * of the e-mail's limit. Returns it, or NULL after answering 422 (or 429).
 */
gw_person_t *gw_path_person(gw_req_t *rq, h2o_iovec_t param, size_t state_size);

/**
 * Calls a library function that issues codes in bucket 0 and is idempotent
 * (ig_admit, ig_earn; common/ig_calls.h): its fixed keys, the small hash of
 * each of count fresh codes and the Idempotency-Key's record, then its fixed
 * arguments (args[i] of lens[i] bytes), the fresh code bodies and the
 * request's fingerprint.
 */
void gw_call_issuing(gw_req_t *rq, gw_req_reply_cb on_reply, ig_call_id_t id, size_t count, const char *const *keys, size_t nkeys,
                     const char *const *args, const size_t *lens, size_t nargs);

#endif
