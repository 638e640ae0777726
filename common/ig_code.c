#include <string.h>
#include <sodium.h>
#include "ig_code.h"
#include "ig_keys.h"

int ig_code_char_value(char c)
{
    static const char alphabet[] = IG_CODE_ALPHABET;
    const char *p;
    if (c == '\0' || (p = memchr(alphabet, c, sizeof(alphabet) - 1)) == NULL)
        return -1;
    return (int)(p - alphabet);
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int ig_code_digit(ig_code_form_t f, char c)
{
    return f == IG_CODE_IMPORTED ? hex_value(c) : ig_code_char_value(c);
}

ig_code_form_t ig_code_form(const char *s, size_t len)
{
    ig_code_form_t f = len == IG_CODE_BODY_LEN ? IG_CODE_ISSUED : len == IG_CODE_IMPORTED_LEN ? IG_CODE_IMPORTED : IG_CODE_INVALID;
    if (f == IG_CODE_INVALID)
        return f;
    for (size_t i = 0; i != len; ++i)
        if (ig_code_digit(f, s[i]) < 0)
            return IG_CODE_INVALID;
    return f;
}

/* The check characters: a keyed BLAKE2b over the random part, 5 bits each. */
static void compute_check(char out[IG_CODE_CHECK_LEN], const char random[IG_CODE_RANDOM_LEN],
                          const unsigned char key[IG_CODE_KEY_BYTES])
{
    unsigned char mac[crypto_generichash_BYTES_MIN];
    crypto_generichash(mac, sizeof(mac), (const unsigned char *)random, IG_CODE_RANDOM_LEN, key, IG_CODE_KEY_BYTES);
    for (size_t i = 0; i != IG_CODE_CHECK_LEN; ++i)
        out[i] = IG_CODE_ALPHABET[mac[i] & 31];
}

void ig_code_generate(char out[IG_CODE_BODY_LEN + 1], const unsigned char key[IG_CODE_KEY_BYTES])
{
    for (size_t i = 0; i != IG_CODE_RANDOM_LEN; ++i)
        out[i] = IG_CODE_ALPHABET[randombytes_uniform(32)];
    compute_check(out + IG_CODE_RANDOM_LEN, out, key);
    out[IG_CODE_BODY_LEN] = '\0';
}

void ig_code_generate_head(char out[IG_CODE_BODY_LEN + 1], const unsigned char key[IG_CODE_KEY_BYTES], unsigned rem, unsigned mod)
{
    uint32_t head = rem + mod * randombytes_uniform(IG_CODE_HEADS / mod);
    ig_code_generate(out, key);
    out[0] = IG_CODE_ALPHABET[head % 32];
    out[1] = IG_CODE_ALPHABET[head / 32];
    compute_check(out + IG_CODE_RANDOM_LEN, out, key);
}

int ig_code_verify(const char body[IG_CODE_BODY_LEN], const unsigned char key[IG_CODE_KEY_BYTES])
{
    char check[IG_CODE_CHECK_LEN];
    compute_check(check, body, key);
    return sodium_memcmp(check, body + IG_CODE_RANDOM_LEN, IG_CODE_CHECK_LEN) == 0 ? 0 : -1;
}

/* Upper-cases and drops separators; returns the new length or -1 when too long. */
static int squeeze(char *out, size_t cap, const char *in, size_t in_len)
{
    size_t n = 0;
    for (size_t i = 0; i != in_len; ++i) {
        char c = in[i];
        if (c == '-' || c == ' ' || c == '\t')
            continue;
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        if (n == cap)
            return -1;
        out[n++] = c;
    }
    return (int)n;
}

int ig_code_normalise(char out[IG_CODE_BODY_LEN + 1], const char *in, size_t in_len, const char *prefix)
{
    char buf[IG_CODE_INPUT_MAX_BYTES], pfx[IG_CODE_INPUT_MAX_BYTES];
    int n, pn;

    if (in_len > IG_CODE_INPUT_MAX_BYTES || (n = squeeze(buf, sizeof(buf), in, in_len)) < 0)
        return IG_CODE_INVALID;
    if ((pn = squeeze(pfx, sizeof(pfx), prefix, strlen(prefix))) < 0)
        return IG_CODE_INVALID;
    /* The input as it is, else without the prefix: an issued body that starts with the prefix stays itself. */
    const char *body = buf;
    size_t len = (size_t)n;
    ig_code_form_t f = ig_code_form(body, len);
    if (f == IG_CODE_INVALID && pn > 0 && n > pn && memcmp(buf, pfx, (size_t)pn) == 0)
        body += pn, len -= (size_t)pn, f = ig_code_form(body, len);
    if (f == IG_CODE_INVALID)
        return f;
    memcpy(out, body, len);
    out[len] = '\0';
    return f;
}

int ig_code_read(char out[IG_CODE_BODY_LEN + 1], const char *in, size_t in_len, const char *prefix,
                 const unsigned char key[IG_CODE_KEY_BYTES])
{
    char pfx[IG_CODE_INPUT_MAX_BYTES];
    ig_code_form_t f = ig_code_normalise(out, in, in_len, prefix);
    int pn;

    if (f != IG_CODE_ISSUED || ig_code_verify(out, key) == 0)
        return f;
    pn = squeeze(pfx, sizeof(pfx), prefix, strlen(prefix));
    if (pn != IG_CODE_BODY_LEN - IG_CODE_IMPORTED_LEN || memcmp(out, pfx, (size_t)pn) != 0 ||
        ig_code_form(out + pn, IG_CODE_IMPORTED_LEN) != IG_CODE_IMPORTED)
        return IG_CODE_INVALID;
    memmove(out, out + pn, IG_CODE_IMPORTED_LEN);
    out[IG_CODE_IMPORTED_LEN] = '\0';
    return IG_CODE_IMPORTED;
}

void ig_code_key_derive(unsigned char out[IG_CODE_KEY_BYTES], const unsigned char secret_key[32])
{
    crypto_kdf_derive_from_key(out, IG_CODE_KEY_BYTES, IG_KDF_CODE_CHECK, IG_KDF_CONTEXT, secret_key);
}
