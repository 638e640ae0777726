/*
 * Fuzz target: the parameters the gateway takes from a URL path segment.
 * Each input is a segment, given to each of their parsers: the e-mail of
 * /api/waitlist/{email}/position, /api/users/{email}/... and
 * /api/points/{email} (percent-decoded, gw_parse_path_email), the code of
 * /api/invites/{code}/status and /revoke (gw_parse_code) and the referral
 * code of /r/{code} (ig_referral_code_normalise).
 *
 * Checks: an accepted e-mail is in normal form; an accepted code is 16
 * characters of the alphabet with a valid check; an accepted referral code
 * is 8 characters of the alphabet; a refusal is a 422 with a sentence.
 */
#include "fuzz.h"
#include "ig_code.h"
#include "ig_user.h"
#include "parse.h"

static unsigned char code_key[IG_CODE_KEY_BYTES];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_code_key(code_key);
    return 0;
}

static void check_refusal(const gw_error_t *err, const char *reason)
{
    FUZZ_CHECK(err->status == 422 && strcmp(err->reason, reason) == 0);
    FUZZ_CHECK(memchr(err->message, '\0', sizeof(err->message)) != NULL && err->message[0] != '\0');
}

/* Whether s is len characters of the code alphabet. */
static int alphabet_only(const char *s, size_t len)
{
    for (size_t i = 0; i != len; ++i)
        if (ig_code_char_value(s[i]) < 0)
            return 0;
    return strlen(s) == len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* h2o hands the parameter over as an iovec into the path: bytes with a length. */
    const char *in = (const char *)data;
    gw_email_t email;
    gw_error_t err;
    char code[IG_CODE_BODY_LEN + 1], ref[IG_REFERRAL_CODE_LEN + 1];

    if (gw_parse_path_email(&email, &err, in, size) == 0)
        fuzz_check_normal_email(email.addr, email.len);
    else
        check_refusal(&err, "invalid_email");

    if (gw_parse_code(code, &err, in, size, "VOBEE-", code_key) == 0) {
        ig_code_form_t f = ig_code_form(code, strlen(code));
        FUZZ_CHECK(f != IG_CODE_INVALID);
        FUZZ_CHECK(f == IG_CODE_IMPORTED || (alphabet_only(code, IG_CODE_BODY_LEN) && ig_code_verify(code, code_key) == 0));
    } else {
        check_refusal(&err, "invalid_code");
    }

    if (ig_referral_code_normalise(ref, in, size) == 0)
        FUZZ_CHECK(alphabet_only(ref, IG_REFERRAL_CODE_LEN));
    return 0;
}
