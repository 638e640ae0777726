/*
 * E-mail addresses: validation, normalisation and keyed hashing.
 *
 * Normalisation makes one person one identity: the whole address is
 * lower-cased; for providers that ignore them, dots in the local part
 * (gmail.com, googlemail.com) and "+tag" suffixes are removed and
 * googlemail.com becomes gmail.com. Other providers keep their local part as
 * written (lower-cased).
 */
#ifndef IG_EMAIL_H
#define IG_EMAIL_H

#include <stddef.h>

#define IG_EMAIL_MAX_BYTES 254
#define IG_EMAIL_LOCAL_MAX_BYTES 64
#define IG_EMAIL_HASH_BYTES 8
#define IG_EMAIL_KEY_BYTES 32

/**
 * Validates in (in_len bytes, not NUL-terminated) and writes its normal form
 * to out (at least IG_EMAIL_MAX_BYTES + 1 bytes). Returns the length of the
 * normal form, or -1 when the address is not acceptable. The normal form is
 * itself acceptable, and its own normal form.
 */
int ig_email_normalise(char *out, const char *in, size_t in_len);

/** Keyed hash of a normalised address, used for bindings and idempotency in Redis. */
void ig_email_hash(unsigned char out[IG_EMAIL_HASH_BYTES], const char *email, size_t len,
                   const unsigned char key[IG_EMAIL_KEY_BYTES]);

/**
 * The key of ig_email_hash, derived from the configured secret_key
 * (IG_KDF_EMAIL_HASH): the gateway, the sync daemon and the operator's tool
 * hash the same address alike.
 */
void ig_email_key_derive(unsigned char out[IG_EMAIL_KEY_BYTES], const unsigned char secret_key[32]);

#endif
