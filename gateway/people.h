/*
 * Helpers shared by the waitlist, referral and user routes: a person's
 * derived identities and the keys of bucket 0 (IG_WL_BUCKET), where the
 * waitlist, referrals and points live (docs/ARCHITECTURE.md).
 */
#ifndef GW_PEOPLE_H
#define GW_PEOPLE_H

#include "ig_email.h"
#include "ig_user.h"
#include "library.h"
#include "parse.h"

#define GW_WL_KEY "ig:{0}:wl"
#define GW_WL_STREAM "ig:{0}:events"
#define GW_WL_GATE "ig:{0}:gate"
#define GW_WL_TRUST "ig:{0}:trust"
#define GW_WL_GATE_MODE "ig:{0}:gate:mode"
#define GW_WL_GATE_AUTO "ig:{0}:gate:auto"

/** A person as the routes need them. */
typedef struct gw_person_t {
    gw_email_t email;                             /**< normalised */
    unsigned char hash8[IG_EMAIL_HASH_BYTES];     /**< keyed hash: the Redis identity */
    char referral_code[IG_REFERRAL_CODE_LEN + 1]; /**< their own referral code */
} gw_person_t;

/** Fills the derived fields of p from p->email. */
void gw_person_derive(gw_person_t *p);

/**
 * Parses the e-mail of a path segment into new zeroed route state of
 * state_size bytes (which starts with a gw_person_t), owned by rq, derives
 * the person's identities and, on a route limited per e-mail, takes a unit
 * of the e-mail's limit. Returns it, or NULL after answering 422 (or 429).
 */
gw_person_t *gw_path_person(gw_req_t *rq, h2o_iovec_t param, size_t state_size);

/**
 * Calls a library function that issues codes in bucket 0 (ig_admit,
 * ig_earn): FCALL fn with the keys waitlist, stream, gate and the hash key of
 * each of count fresh codes, then the arguments args (hash8 as in gw_call),
 * then the fresh code bodies.
 */
void gw_call_issuing(gw_req_t *rq, gw_req_reply_cb on_reply, const char *fn, size_t count, const char *const *args, size_t nargs,
                     const unsigned char *hash8);

#endif
