/*
 * Fuzz target: the JSON request bodies of gateway/parse.c. Each input is a
 * body, given to every body parser in turn (redeem, generate, join, admit,
 * share, earn, user events, spend, evaluate-gate), so that one corpus of
 * bodies serves them all.
 *
 * Checks: a parser that refuses fills the error with a 4xx status (or 500
 * when out of memory), a reason and a sentence; one that accepts leaves what
 * the handlers rely on: every field NUL-terminated within its cap, numbers
 * in their documented ranges, codes verified and e-mails in normal form.
 */
#include <math.h>
#include "fuzz.h"
#include "ig_code.h"
#include "ig_priority.h"
#include "ig_user.h"
#include "parse.h"

#define FUZZ_PREFIX "VOBEE-"

static unsigned char code_key[IG_CODE_KEY_BYTES];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_code_key(code_key);
    return 0;
}

/* Checks err after a refusal. */
static void check_error(const gw_error_t *err)
{
    FUZZ_CHECK(err->status == 500 || (err->status >= 400 && err->status < 500));
    FUZZ_CHECK(err->reason != NULL && err->reason[0] != '\0');
    FUZZ_CHECK(memchr(err->message, '\0', sizeof(err->message)) != NULL && err->message[0] != '\0');
}

/* An accepted code: an issued body whose check verifies, or an imported body (no check). */
static void check_code(const char *code)
{
    ig_code_form_t f = ig_code_form(code, strlen(code));
    FUZZ_CHECK(f != IG_CODE_INVALID);
    FUZZ_CHECK(f == IG_CODE_IMPORTED || ig_code_verify(code, code_key) == 0);
}

/* A label (batch id, cohort): at most max bytes of letters, digits and -_.: */
static void check_label(const char *s, size_t max, int may_be_empty)
{
    size_t len = strnlen(s, max + 1);
    FUZZ_CHECK(len <= max && (may_be_empty || len > 0));
    FUZZ_CHECK(strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:") == len);
}

static void check_days(double d)
{
    FUZZ_CHECK(isfinite(d) && d > 0 && d <= GW_EXPIRES_DAYS_MAX);
}

static void fuzz_redeem(const char *body, size_t len)
{
    gw_redeem_req_t out;
    gw_error_t err;
    if (gw_parse_redeem(&out, &err, body, len, FUZZ_PREFIX, code_key) != 0) {
        check_error(&err);
        return;
    }
    check_code(out.code);
    fuzz_check_normal_email(out.email, out.email_len);
}

static void fuzz_generate(const char *body, size_t len)
{
    gw_generate_req_t out;
    gw_error_t err;
    if (gw_parse_generate(&out, &err, body, len, 30) != 0) {
        check_error(&err);
        FUZZ_CHECK(out.issued_to == NULL);
        return;
    }
    FUZZ_CHECK(out.batch_size >= 1 && out.batch_size <= GW_BATCH_MAX);
    check_label(out.batch_id, GW_BATCH_ID_MAX_BYTES, 0);
    FUZZ_CHECK(out.max_uses >= 1 && out.max_uses <= GW_MAX_USES_MAX);
    check_days(out.expires_days);
    check_label(out.cohort, GW_COHORT_MAX_BYTES, 1);
    for (size_t i = 0; out.issued_to != NULL && i != out.batch_size; ++i)
        fuzz_check_normal_email(out.issued_to[i].addr, out.issued_to[i].len);
    gw_generate_req_dispose(&out);
}

static void fuzz_join(const char *body, size_t len)
{
    static const char *const personas[] = {"solo_founder", "small_team", "agency", "content_creator", "other"};
    gw_join_req_t out;
    gw_error_t err;
    size_t i;
    if (gw_parse_join(&out, &err, body, len) != 0) {
        check_error(&err);
        return;
    }
    fuzz_check_normal_email(out.email.addr, out.email.len);
    for (i = 0; i != sizeof(personas) / sizeof(personas[0]) && strcmp(out.persona, personas[i]) != 0; ++i)
        ;
    FUZZ_CHECK(i != sizeof(personas) / sizeof(personas[0]));
    FUZZ_CHECK(out.use_case_len <= GW_USE_CASE_MAX_BYTES && strlen(out.use_case) == out.use_case_len);
    FUZZ_CHECK(out.priority == ig_priority_score(out.persona, strlen(out.persona), out.use_case, out.use_case_len));
    FUZZ_CHECK(out.priority >= 0 && out.priority <= IG_PRIORITY_MAX);
    FUZZ_CHECK(out.referral_code[0] == '\0' || strlen(out.referral_code) == IG_REFERRAL_CODE_LEN);
    for (i = 0; out.referral_code[i] != '\0'; ++i)
        FUZZ_CHECK(ig_code_char_value(out.referral_code[i]) >= 0);
}

static void fuzz_admit(const char *body, size_t len)
{
    unsigned count = 0;
    double days = 0;
    gw_error_t err;
    if (gw_parse_admit(&count, &days, &err, body, len, 30) != 0) {
        check_error(&err);
        return;
    }
    FUZZ_CHECK(count >= 1 && count <= GW_ADMIT_MAX);
    check_days(days);
}

/* Share ({"inviter_email","recipient_email"}) and earn ({"user_email"}). */
static void fuzz_emails(const char *body, size_t len)
{
    static const char *const share[] = {"inviter_email", "recipient_email"}, *const earn[] = {"user_email"};
    gw_email_t out[2];
    gw_error_t err;
    if (gw_parse_emails(out, share, 2, &err, body, len) != 0) {
        check_error(&err);
    } else {
        fuzz_check_normal_email(out[0].addr, out[0].len);
        fuzz_check_normal_email(out[1].addr, out[1].len);
    }
    if (gw_parse_emails(out, earn, 1, &err, body, len) != 0)
        check_error(&err);
    else
        fuzz_check_normal_email(out[0].addr, out[0].len);
}

static void fuzz_lifecycle(const char *body, size_t len)
{
    gw_lifecycle_req_t out;
    gw_error_t err;
    if (gw_parse_lifecycle(&out, &err, body, len) != 0) {
        check_error(&err);
        return;
    }
    FUZZ_CHECK(out.kind != NULL);
    FUZZ_CHECK(out.amount == -1 || (out.amount >= 0 && out.amount <= GW_AMOUNT_CENTS_MAX));
    FUZZ_CHECK(out.at_ms == -1 || (out.at_ms >= GW_TIME_MIN_MS && out.at_ms <= GW_TIME_MAX_MS));
}

static void fuzz_spend(const char *body, size_t len)
{
    gw_spend_req_t out;
    gw_error_t err;
    if (gw_parse_spend(&out, &err, body, len) != 0) {
        check_error(&err);
        return;
    }
    FUZZ_CHECK(out.amount >= 1 && out.amount <= GW_SPEND_MAX);
    FUZZ_CHECK(out.type != NULL);
    FUZZ_CHECK(strnlen(out.note, sizeof(out.note)) <= GW_NOTE_MAX_BYTES);
}

static void fuzz_grant(const char *body, size_t len)
{
    gw_grant_req_t out;
    gw_error_t err;
    if (gw_parse_grant(&out, &err, body, len) != 0) {
        check_error(&err);
        return;
    }
    FUZZ_CHECK(out.points != 0 && out.points >= -GW_SPEND_MAX && out.points <= GW_SPEND_MAX);
    FUZZ_CHECK(out.reason[0] != '\0' && strnlen(out.reason, sizeof(out.reason)) <= GW_NOTE_MAX_BYTES);
}

static void fuzz_force(const char *body, size_t len)
{
    const char *force = "unset";
    gw_error_t err;
    if (gw_parse_force(&force, &err, body, len) != 0) {
        check_error(&err);
        return;
    }
    FUZZ_CHECK(force == NULL || strcmp(force, "open") == 0 || strcmp(force, "closed") == 0 || strcmp(force, "auto") == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The handlers pass h2o's entity: bytes with a length, not a C string. */
    const char *body = (const char *)data;
    fuzz_redeem(body, size);
    fuzz_generate(body, size);
    fuzz_join(body, size);
    fuzz_admit(body, size);
    fuzz_emails(body, size);
    fuzz_lifecycle(body, size);
    fuzz_spend(body, size);
    fuzz_grant(body, size);
    fuzz_force(body, size);
    return 0;
}
