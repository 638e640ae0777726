/*
 * A person's stable identifiers, derived from the normalised e-mail with keys
 * from the configured secret_key, so that every process computes the same
 * ones without a lookup and an erased address leaves only a keyed hash:
 *
 *   user id        a UUID (RFC 9562 version 8) from a keyed BLAKE2b: the
 *                  user_id of PostgreSQL's referral and points tables
 *   referral code  IG_REFERRAL_CODE_LEN characters of the code alphabet from
 *                  another keyed BLAKE2b: the /r/CODE link and the
 *                  referral_code of a join
 */
#ifndef IG_USER_H
#define IG_USER_H

#include <stddef.h>
#include "ig_config.h"

#define IG_USER_ID_BYTES 37   /* 36 characters and the NUL */
#define IG_USER_UUID_BYTES 16 /* the user id as the 16 bytes of a uuid */
#define IG_REFERRAL_CODE_LEN 8

/** Keys derived from the configured secret_key (both processes derive the same). */
typedef struct ig_user_keys_t {
    unsigned char user_id[32];
    unsigned char referral[32];
} ig_user_keys_t;

void ig_user_keys_derive(ig_user_keys_t *k, const unsigned char secret_key[IG_SECRET_KEY_BYTES]);

/** Writes the user id of a normalised e-mail as the 16 bytes of its UUID. */
void ig_user_id_bytes(unsigned char out[IG_USER_UUID_BYTES], const char *email, size_t len, const ig_user_keys_t *k);

/** Writes the user id of a normalised e-mail as a lower-case UUID string (ig_user_id_bytes, formatted). */
void ig_user_id(char out[IG_USER_ID_BYTES], const char *email, size_t len, const ig_user_keys_t *k);

/** Writes the referral code of a normalised e-mail (NUL-terminated, upper case). */
void ig_referral_code(char out[IG_REFERRAL_CODE_LEN + 1], const char *email, size_t len, const ig_user_keys_t *k);

/**
 * Normalises a referral code given by a client (case, surrounding spaces)
 * into out. Returns 0, or -1 when it cannot be one.
 */
int ig_referral_code_normalise(char out[IG_REFERRAL_CODE_LEN + 1], const char *in, size_t len);

#endif
