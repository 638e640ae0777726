/*
 * Fuzz target: ig_email_normalise, the one identity of a person (every
 * e-mail the gateway takes goes through it, and the sync daemon accepts
 * only e-mails it gives back unchanged).
 *
 * Checks: an accepted address has a normal form of at most
 * IG_EMAIL_MAX_BYTES, in lower case, with one '@', that is itself accepted
 * and normalises to itself (or the gateway would store an e-mail that the
 * sync daemon skips as malformed); the same address in upper case has the
 * same normal form.
 */
#include <ctype.h>
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    char out[IG_EMAIL_MAX_BYTES + 1], upper_out[IG_EMAIL_MAX_BYTES + 1];
    int n = ig_email_normalise(out, in, size);

    if (size <= IG_EMAIL_MAX_BYTES) {
        char upper[IG_EMAIL_MAX_BYTES];
        for (size_t i = 0; i != size; ++i)
            upper[i] = (char)toupper((unsigned char)in[i]);
        int m = ig_email_normalise(upper_out, upper, size);
        FUZZ_CHECK(m == n && (n < 0 || memcmp(out, upper_out, (size_t)n + 1) == 0));
    }
    if (n < 0)
        return 0;
    fuzz_check_normal_email(out, (size_t)n);
    const char *at = strchr(out, '@');
    FUZZ_CHECK(at != NULL && at != out && strchr(at + 1, '@') == NULL);
    for (int i = 0; i != n; ++i)
        FUZZ_CHECK(!(out[i] >= 'A' && out[i] <= 'Z'));
    return 0;
}
