/*
 * Fuzz target: ig_code_normalise, the normalisation of an invite code as a
 * client types it (case, dashes, spaces, the configured prefix).
 *
 * Input: "PREFIX\nCODE" gives the prefix (code_prefix, at most 15 bytes as
 * the configuration holds it) and the code; without a newline the whole
 * input is the code and the prefix is the default "VOBEE-".
 *
 * Checks: an accepted code is 16 characters of the alphabet; normalising it
 * again, alone or behind the prefix, in lower case with dashes, gives it
 * back (what the gateway shows a client is what it takes back).
 */
#include <ctype.h>
#include "fuzz.h"
#include "ig_code.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    char prefix[16] = "VOBEE-", out[IG_CODE_BODY_LEN + 1], again[IG_CODE_BODY_LEN + 1], shown[64];
    const char *in = (const char *)data;
    size_t len = size;

    if (nl != NULL) {
        size_t plen = (size_t)(nl - data);
        if (plen >= sizeof(prefix) || memchr(data, '\0', plen) != NULL)
            return 0;
        memcpy(prefix, data, plen);
        prefix[plen] = '\0';
        in = (const char *)nl + 1;
        len = size - plen - 1;
    }
    if (ig_code_normalise(out, in, len, prefix) != 0)
        return 0;
    FUZZ_CHECK(strlen(out) == IG_CODE_BODY_LEN);
    for (size_t i = 0; i != IG_CODE_BODY_LEN; ++i)
        FUZZ_CHECK(ig_code_char_value(out[i]) >= 0);
    FUZZ_CHECK(ig_code_normalise(again, out, IG_CODE_BODY_LEN, prefix) == 0 && memcmp(again, out, sizeof(out)) == 0);
    /* As the gateway shows it: prefix, then the body in groups; a client may retype it in lower case. */
    int n = snprintf(shown, sizeof(shown), "%s%.4s-%.4s-%.4s-%.4s", prefix, out, out + 4, out + 8, out + 12);
    for (int i = 0; i != n; ++i)
        shown[i] = (char)tolower((unsigned char)shown[i]);
    FUZZ_CHECK(ig_code_normalise(again, shown, (size_t)n, prefix) == 0 && memcmp(again, out, sizeof(out)) == 0);
    return 0;
}
