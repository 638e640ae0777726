#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <sodium.h>
#include "ig_code.h"
#include "ig_keys.h"
#include "ig_user.h"

void ig_user_keys_derive(ig_user_keys_t *k, const unsigned char secret_key[IG_SECRET_KEY_BYTES])
{
    crypto_kdf_derive_from_key(k->user_id, sizeof(k->user_id), IG_KDF_USER_ID, IG_KDF_CONTEXT, secret_key);
    crypto_kdf_derive_from_key(k->referral, sizeof(k->referral), IG_KDF_REFERRAL, IG_KDF_CONTEXT, secret_key);
}

void ig_user_id_bytes(unsigned char out[IG_USER_UUID_BYTES], const char *email, size_t len, const ig_user_keys_t *k)
{
    crypto_generichash(out, IG_USER_UUID_BYTES, (const unsigned char *)email, len, k->user_id, sizeof(k->user_id));
    out[6] = (unsigned char)((out[6] & 0x0f) | 0x80); /* version 8: custom */
    out[8] = (unsigned char)((out[8] & 0x3f) | 0x80); /* RFC variant */
}

void ig_user_id(char out[IG_USER_ID_BYTES], const char *email, size_t len, const ig_user_keys_t *k)
{
    unsigned char b[IG_USER_UUID_BYTES];
    ig_user_id_bytes(b, email, len, k);
    snprintf(out, IG_USER_ID_BYTES, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3],
             b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

void ig_referral_code(char out[IG_REFERRAL_CODE_LEN + 1], const char *email, size_t len, const ig_user_keys_t *k)
{
    unsigned char b[IG_REFERRAL_CODE_LEN];
    crypto_generichash(b, sizeof(b), (const unsigned char *)email, len, k->referral, sizeof(k->referral));
    for (size_t i = 0; i != IG_REFERRAL_CODE_LEN; ++i)
        out[i] = IG_CODE_ALPHABET[b[i] & 31];
    out[IG_REFERRAL_CODE_LEN] = '\0';
}

int ig_referral_code_normalise(char out[IG_REFERRAL_CODE_LEN + 1], const char *in, size_t len)
{
    while (len != 0 && isspace((unsigned char)*in))
        ++in, --len;
    while (len != 0 && isspace((unsigned char)in[len - 1]))
        --len;
    if (len != IG_REFERRAL_CODE_LEN)
        return -1;
    for (size_t i = 0; i != len; ++i) {
        char c = (char)toupper((unsigned char)in[i]);
        if (ig_code_char_value(c) < 0)
            return -1;
        out[i] = c;
    }
    out[len] = '\0';
    return 0;
}
