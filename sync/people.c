#include <string.h>
#include <sodium.h>
#include "ig_keys.h"
#include "people.h"

void sync_keys_derive(sync_keys_t *k, const unsigned char secret_key[IG_SECRET_KEY_BYTES])
{
    ig_user_keys_derive(&k->user, secret_key);
    ig_email_key_derive(k->email, secret_key);
}

void sync_keys_wipe(sync_keys_t *k)
{
    sodium_memzero(k, sizeof(*k));
}

void sync_user_id_of(sync_user_id_t *out, const char *email, const sync_keys_t *keys)
{
    ig_user_id(out->s, email, strlen(email), &keys->user);
}
