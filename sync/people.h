/*
 * The identities the sync daemon derives from a normalised e-mail, with the
 * same subkeys of secret_key as the gateway (common/ig_user.h,
 * common/ig_keys.h), so both agree without a lookup: the user id of
 * PostgreSQL's tables and the 8-byte hash of Redis's records.
 */
#ifndef SYNC_PEOPLE_H
#define SYNC_PEOPLE_H

#include "ig_config.h"
#include "ig_email.h"
#include "ig_user.h"

/** The subkeys of secret_key the daemon needs (derived like the gateway's, common/ig_keys.h). */
typedef struct sync_keys_t {
    ig_user_keys_t user;                     /**< user ids and referral codes */
    unsigned char email[IG_EMAIL_KEY_BYTES]; /**< hash8 of an e-mail, the Redis identity */
} sync_keys_t;

/** Derives k from the master key. */
void sync_keys_derive(sync_keys_t *k, const unsigned char secret_key[IG_SECRET_KEY_BYTES]);

/** Wipes k. */
void sync_keys_wipe(sync_keys_t *k);

/** A user id as a NUL-terminated string. */
typedef struct sync_user_id_t {
    char s[IG_USER_ID_BYTES];
} sync_user_id_t;

/** The user id of a normalised e-mail. */
void sync_user_id_of(sync_user_id_t *out, const char *email, const sync_keys_t *keys);

#endif
