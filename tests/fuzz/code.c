/*
 * Fuzz target: ig_code_normalise, the normalisation of an invite code as a
 * client types it (case, dashes, spaces, the configured prefix).
 *
 * Input: "PREFIX\nCODE" gives the prefix (code_prefix, at most 15 bytes as
 * the configuration holds it) and the code; without a newline the whole
 * input is the code and the prefix is the default "VOBEE-".
 *
 * Checks: an accepted code is 16 characters of the alphabet (issued) or 12
 * upper-case hex digits (imported), as ig_code_form says; normalising it
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
    ig_code_form_t f = ig_code_normalise(out, in, len, prefix);
    if (f == IG_CODE_INVALID)
        return 0;
    size_t body_len = f == IG_CODE_ISSUED ? IG_CODE_BODY_LEN : IG_CODE_IMPORTED_LEN;
    FUZZ_CHECK(strlen(out) == body_len && ig_code_form(out, body_len) == f);
    for (size_t i = 0; i != body_len; ++i)
        FUZZ_CHECK(ig_code_digit(f, out[i]) >= 0);
    FUZZ_CHECK(ig_code_normalise(again, out, body_len, prefix) == f && strcmp(again, out) == 0);
    /* As the gateway shows it: prefix, then the body in groups; a client may retype it in lower case. */
    int n = snprintf(shown, sizeof(shown), "%s%.4s-%.4s-%.4s-%.4s", prefix, out, out + 4, out + 8, out + 12);
    size_t letters = 0;
    for (int i = 0; i != n; ++i) {
        shown[i] = (char)tolower((unsigned char)shown[i]);
        letters += shown[i] != '-' && shown[i] != ' ' && shown[i] != '\t';
    }
    /* A prefix of 4 letters makes prefix + imported body 16 characters: read as an issued body when it is one. */
    if (f == IG_CODE_ISSUED || letters != IG_CODE_BODY_LEN)
        FUZZ_CHECK(ig_code_normalise(again, shown, (size_t)n, prefix) == f && strcmp(again, out) == 0);
    return 0;
}
