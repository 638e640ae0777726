#include <string.h>
#include <sodium.h>
#include "ig_email.h"
#include "ig_keys.h"

/* Characters RFC 5322 allows unquoted in a local part ("atext" and dots). */
static int is_local_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("!#$%&'*+/=?^_`{|}~.-", c) != NULL;
}

static int is_domain_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

/* Domain: dot-separated labels of 1..63 letters, digits and inner hyphens; a TLD of 2+ letters. */
static int valid_domain(const char *d, size_t len)
{
    size_t label = 0, labels = 0;
    if (len == 0 || len > 253)
        return 0;
    for (size_t i = 0; i <= len; ++i) {
        if (i == len || d[i] == '.') {
            if (label == 0 || label > 63 || d[i - 1] == '-' || d[i - label] == '-')
                return 0;
            ++labels;
            label = 0;
            continue;
        }
        if (!is_domain_char((unsigned char)d[i]))
            return 0;
        ++label;
    }
    const char *tld = memrchr(d, '.', len);
    if (labels < 2 || (size_t)(d + len - tld - 1) < 2)
        return 0;
    for (const char *p = tld + 1; p != d + len; ++p)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
            return 0;
    return 1;
}

/* Providers whose mailboxes ignore dots in the local part. */
static int ignores_dots(const char *domain)
{
    return strcmp(domain, "gmail.com") == 0;
}

/* Providers that deliver user+tag to user. */
static int has_plus_tags(const char *domain)
{
    static const char *const providers[] = {"gmail.com",    "outlook.com",    "hotmail.com", "live.com",  "icloud.com", "me.com",
                                            "fastmail.com", "protonmail.com", "proton.me",   "yahoo.com", NULL};
    for (const char *const *p = providers; *p != NULL; ++p)
        if (strcmp(domain, *p) == 0)
            return 1;
    return 0;
}

int ig_email_normalise(char *out, const char *in, size_t in_len)
{
    const char *at;
    size_t local_len, domain_len, n = 0;
    char domain[IG_EMAIL_MAX_BYTES + 1];

    if (in_len == 0 || in_len > IG_EMAIL_MAX_BYTES || memchr(in, '\0', in_len) != NULL)
        return -1;
    if ((at = memrchr(in, '@', in_len)) == NULL)
        return -1;
    local_len = (size_t)(at - in);
    domain_len = in_len - local_len - 1;
    if (local_len == 0 || local_len > IG_EMAIL_LOCAL_MAX_BYTES || !valid_domain(at + 1, domain_len))
        return -1;
    if (in[0] == '.' || in[local_len - 1] == '.')
        return -1;
    for (size_t i = 0; i != local_len; ++i) {
        if (!is_local_char((unsigned char)in[i]) || (in[i] == '.' && in[i + 1] == '.'))
            return -1;
    }

    for (size_t i = 0; i != domain_len; ++i) {
        char c = at[1 + i];
        domain[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    domain[domain_len] = '\0';
    if (strcmp(domain, "googlemail.com") == 0) {
        strcpy(domain, "gmail.com");
        domain_len = strlen(domain);
    }

    int drop_dots = ignores_dots(domain), drop_tag = has_plus_tags(domain);
    for (size_t i = 0; i != local_len; ++i) {
        char c = in[i];
        if (drop_tag && c == '+' && n != 0)
            break;
        if (drop_dots && c == '.')
            continue;
        out[n++] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    /*
     * The normal form must itself be acceptable: the sync daemon takes only
     * e-mails that normalise to themselves. Cutting the tag of
     * "a.+x@outlook.com" leaves the local part "a.", which no mailbox can
     * have, so such an address is refused (with dots dropped, as for Gmail,
     * none is left at the end).
     */
    if (n == 0 || out[n - 1] == '.')
        return -1;
    out[n++] = '@';
    memcpy(out + n, domain, domain_len);
    n += domain_len;
    out[n] = '\0';
    return (int)n;
}

void ig_email_hash(unsigned char out[IG_EMAIL_HASH_BYTES], const char *email, size_t len,
                   const unsigned char key[IG_EMAIL_KEY_BYTES])
{
    crypto_generichash(out, IG_EMAIL_HASH_BYTES, (const unsigned char *)email, len, key, IG_EMAIL_KEY_BYTES);
}

void ig_email_key_derive(unsigned char out[IG_EMAIL_KEY_BYTES], const unsigned char secret_key[32])
{
    crypto_kdf_derive_from_key(out, IG_EMAIL_KEY_BYTES, IG_KDF_EMAIL_HASH, IG_KDF_CONTEXT, secret_key);
}
