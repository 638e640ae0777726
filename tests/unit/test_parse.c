/* Request bodies: JSON validation and the errors of API.md. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>
#include "parse.h"

static unsigned char key[IG_CODE_KEY_BYTES];
static char code[IG_CODE_BODY_LEN + 1];

static int setup(void **state)
{
    if (sodium_init() < 0)
        return -1;
    randombytes_buf(key, sizeof(key));
    ig_code_generate(code, key);
    return 0;
}

static int redeem(gw_redeem_req_t *out, gw_error_t *err, const char *body)
{
    memset(err, 0, sizeof(*err));
    return gw_parse_redeem(out, err, body, strlen(body), "VOBEE-", key);
}

static void expect_redeem_error(const char *body, int status, const char *reason, const char *in_message)
{
    gw_redeem_req_t out;
    gw_error_t err;
    if (redeem(&out, &err, body) != -1)
        fail_msg("accepted %s", body);
    assert_int_equal(err.status, status);
    assert_string_equal(err.reason, reason);
    if (in_message != NULL && strstr(err.message, in_message) == NULL)
        fail_msg("message \"%s\" does not mention \"%s\"", err.message, in_message);
}

static void redeem_accepts_and_normalises(void **state)
{
    char body[256];
    gw_redeem_req_t out;
    gw_error_t err;
    snprintf(body, sizeof(body), "{\"code\": \"vobee-%.4s-%s\", \"email\": \"Jane.Doe@Gmail.com\", \"extra\": 1}", code, code + 4);
    assert_int_equal(redeem(&out, &err, body), 0);
    assert_string_equal(out.code, code);
    assert_string_equal(out.email, "janedoe@gmail.com");
    assert_int_equal(out.email_len, strlen("janedoe@gmail.com"));
}

static void redeem_errors(void **state)
{
    char body[256], bad[IG_CODE_BODY_LEN + 1];
    expect_redeem_error("", 400, "invalid_json", NULL);
    expect_redeem_error("{\"code\":", 400, "invalid_json", NULL);
    expect_redeem_error("[1,2]", 400, "invalid_json", "object");
    expect_redeem_error("\"code\"", 400, "invalid_json", NULL);
    expect_redeem_error("{\"email\":\"a@b.com\"}", 400, "invalid_field", "code");
    expect_redeem_error("{\"code\":5,\"email\":\"a@b.com\"}", 400, "invalid_field", "code");
    snprintf(body, sizeof(body), "{\"code\":\"%s\"}", code);
    expect_redeem_error(body, 400, "invalid_field", "email");
    snprintf(body, sizeof(body), "{\"code\":\"%s\",\"email\":null}", code);
    expect_redeem_error(body, 400, "invalid_field", "email");
    snprintf(body, sizeof(body), "{\"code\":\"%s\",\"email\":\"not-an-email\"}", code);
    expect_redeem_error(body, 422, "invalid_email", "email");
    expect_redeem_error("{\"code\":\"VOBEE-0000\",\"email\":\"a@b.com\"}", 422, "invalid_code", NULL);
    /* A well-formed code with a wrong check character. */
    strcpy(bad, code);
    bad[15] = bad[15] == 'A' ? 'B' : 'A';
    snprintf(body, sizeof(body), "{\"code\":\"%s\",\"email\":\"a@b.com\"}", bad);
    expect_redeem_error(body, 422, "invalid_code", NULL);
    /* Duplicate keys, invalid UTF-8 and NUL escapes are not JSON we accept. */
    snprintf(body, sizeof(body), "{\"code\":\"%s\",\"code\":\"%s\",\"email\":\"a@b.com\"}", code, code);
    expect_redeem_error(body, 400, "invalid_json", NULL);
    expect_redeem_error("{\"code\":\"\xff\xfe\",\"email\":\"a@b.com\"}", 400, "invalid_json", NULL);
    snprintf(body, sizeof(body), "{\"code\":\"%s\",\"email\":\"a\\u0000@b.com\"}", code);
    expect_redeem_error(body, 400, "invalid_json", NULL);
}

static int generate(gw_generate_req_t *out, gw_error_t *err, const char *body)
{
    memset(err, 0, sizeof(*err));
    return gw_parse_generate(out, err, body, strlen(body), 30);
}

static void expect_generate_error(const char *body, int status, const char *reason, const char *in_message)
{
    gw_generate_req_t out;
    gw_error_t err;
    if (generate(&out, &err, body) != -1)
        fail_msg("accepted %s", body);
    assert_int_equal(err.status, status);
    assert_string_equal(err.reason, reason);
    assert_null(out.issued_to);
    if (in_message != NULL && strstr(err.message, in_message) == NULL)
        fail_msg("message \"%s\" does not mention \"%s\"", err.message, in_message);
}

static void generate_defaults_and_fields(void **state)
{
    gw_generate_req_t out;
    gw_error_t err;
    assert_int_equal(generate(&out, &err, "{\"batch_size\": 50, \"batch_id\": \"BATCH-20251220\"}"), 0);
    assert_int_equal(out.batch_size, 50);
    assert_string_equal(out.batch_id, "BATCH-20251220");
    assert_int_equal(out.max_uses, 1);
    assert_true(out.expires_days == 30);
    assert_string_equal(out.cohort, "");
    assert_null(out.issued_to);
    gw_generate_req_dispose(&out);

    assert_int_equal(generate(&out, &err,
                              "{\"batch_size\": 2, \"batch_id\": \"b\", \"max_uses\": 5, \"expires_in_days\": 0.5,"
                              " \"cohort\": \"press-2026\", \"issued_to\": [\"A@Example.com\", \"b.c+x@gmail.com\"]}"),
                     0);
    assert_int_equal(out.max_uses, 5);
    assert_true(out.expires_days == 0.5);
    assert_string_equal(out.cohort, "press-2026");
    assert_non_null(out.issued_to);
    assert_string_equal(out.issued_to[0].addr, "a@example.com");
    assert_string_equal(out.issued_to[1].addr, "bc@gmail.com");
    gw_generate_req_dispose(&out);
}

static void generate_errors(void **state)
{
    expect_generate_error("{\"batch_id\": \"b\"}", 400, "invalid_field", "batch_size");
    expect_generate_error("{\"batch_size\": 0, \"batch_id\": \"b\"}", 400, "invalid_field", "batch_size");
    expect_generate_error("{\"batch_size\": 10001, \"batch_id\": \"b\"}", 400, "invalid_field", "batch_size");
    expect_generate_error("{\"batch_size\": \"5\", \"batch_id\": \"b\"}", 400, "invalid_field", "batch_size");
    expect_generate_error("{\"batch_size\": 1e300, \"batch_id\": \"b\"}", 400, "invalid_field", "batch_size");
    expect_generate_error("{\"batch_size\": 99999999999999999999999, \"batch_id\": \"b\"}", 400, "invalid_json", NULL);
    expect_generate_error("{\"batch_size\": 5}", 400, "invalid_field", "batch_id");
    expect_generate_error("{\"batch_size\": 5, \"batch_id\": \"\"}", 400, "invalid_field", "batch_id");
    expect_generate_error("{\"batch_size\": 5, \"batch_id\": \"a b\"}", 400, "invalid_field", "batch_id");
    expect_generate_error("{\"batch_size\": 5, \"batch_id\": {\"x\": 1}}", 400, "invalid_field", "batch_id");
    expect_generate_error("{\"batch_size\": 5, \"batch_id\": \"b\", \"max_uses\": 0}", 400, "invalid_field", "max_uses");
    expect_generate_error("{\"batch_size\": 5, \"batch_id\": \"b\", \"expires_in_days\": 0}", 400, "invalid_field",
                          "expires_in_days");
    expect_generate_error("{\"batch_size\": 5, \"batch_id\": \"b\", \"expires_in_days\": \"7\"}", 400, "invalid_field",
                          "expires_in_days");
    expect_generate_error("{\"batch_size\": 5, \"batch_id\": \"b\", \"cohort\": 7}", 400, "invalid_field", "cohort");
    expect_generate_error("{\"batch_size\": 2, \"batch_id\": \"b\", \"issued_to\": [\"a@b.com\"]}", 400, "invalid_field",
                          "issued_to");
    expect_generate_error("{\"batch_size\": 2, \"batch_id\": \"b\", \"issued_to\": [\"a@b.com\", 3]}", 400, "invalid_field",
                          "issued_to");
    expect_generate_error("{\"batch_size\": 2, \"batch_id\": \"b\", \"issued_to\": [\"a@b.com\", \"nope\"]}", 422, "invalid_email",
                          NULL);
}

static void join_normalises_and_scores(void **state)
{
    gw_join_req_t in;
    gw_error_t err;
    const char *body = "{\"email\": \"First.Last+x@GMail.com\", \"use_case\": \"Marketing automation\", \"persona\": \"agency\","
                       " \"referral_code\": \" k7qx9m2a \"}";
    assert_int_equal(gw_parse_join(&in, &err, body, strlen(body)), 0);
    assert_string_equal(in.email.addr, "firstlast@gmail.com");
    assert_string_equal(in.persona, "agency");
    assert_int_equal(in.priority, 25);
    assert_string_equal(in.referral_code, "K7QX9M2A");
    body = "{\"email\": \"a@b.co\", \"use_case\": \"\", \"persona\": \"wizard\"}";
    assert_int_equal(gw_parse_join(&in, &err, body, strlen(body)), 0);
    assert_string_equal(in.persona, "other");
    assert_int_equal(in.priority, 5);
    assert_string_equal(in.referral_code, "");
    body = "{\"email\": \"a@b.co\", \"use_case\": \"x\", \"persona\": \"agency\", \"referral_code\": \"K7QX\"}";
    assert_int_equal(gw_parse_join(&in, &err, body, strlen(body)), -1);
    assert_int_equal(err.status, 422);
    assert_string_equal(err.reason, "invalid_code");
    body = "{\"email\": \"a@b.co\", \"persona\": \"agency\"}";
    assert_int_equal(gw_parse_join(&in, &err, body, strlen(body)), -1);
    assert_int_equal(err.status, 400);
    assert_non_null(strstr(err.message, "use_case"));
}

/*
 * Event times: exactly "YYYY-MM-DDTHH:MM:SS[.f]Z" with digits only, real
 * calendar dates, and instants the sync daemon stores (sync/event.c: Unix
 * milliseconds from 1 to 9999-12-31T23:59:59Z); anything else is refused
 * rather than read half-way.
 */
#define S(lit) lit, sizeof(lit) - 1

static const struct {
    const char *in;
    size_t len;
    long long ms; /* -1: refused */
} iso_times[] = {
    {S("2025-12-20T00:00:00Z"), 1766188800000LL},
    {S("2024-02-29T12:30:15.250Z"), 1709209815250LL},
    {S("2000-02-29T00:00:00Z"), 951782400000LL},
    {S("2025-12-20T00:00:00.5Z"), 1766188800500LL},
    {S("2025-12-20T00:00:00.123456789Z"), 1766188800123LL},
    {S("2025-12-31T23:59:59Z"), 1767225599000LL},
    {S("1970-01-01T00:00:00.001Z"), 1},
    {S("9999-12-31T23:59:59Z"), GW_TIME_MAX_MS},
    /* Signs, spaces and other things scanf would have taken for digits. */
    {S("-001-01-01T00:00:00Z"), -1},
    {S("+2025-12-20T00:00:00Z"), -1},
    {S("+202-12-20T00:00:00Z"), -1},
    {S(" 2025-12-20T00:00:00Z"), -1},
    {S("2025-+1-20T00:00:00Z"), -1},
    {S("2025-12-20T 0:00:00Z"), -1},
    {S("2025-12-20T00:00:-1Z"), -1},
    {S("2025-12-20T00:00:00.-5Z"), -1},
    {S("2025-12-20T00:00:00Z\0"), -1},
    {S("2025\0"
       "12-20T00:00:00Z"),
     -1},
    /* Dates that do not exist. */
    {S("2025-02-30T00:00:00Z"), -1},
    {S("2023-02-29T00:00:00Z"), -1},
    {S("2100-02-29T00:00:00Z"), -1},
    {S("2025-04-31T00:00:00Z"), -1},
    {S("2025-13-01T00:00:00Z"), -1},
    {S("2025-00-10T00:00:00Z"), -1},
    {S("2025-12-00T00:00:00Z"), -1},
    {S("2025-12-20T24:00:00Z"), -1},
    {S("2025-12-20T23:60:00Z"), -1},
    {S("2025-12-20T23:59:60Z"), -1},
    /* Other shapes. */
    {S("2025-12-20T00:00:00"), -1},
    {S("2025-12-20T00:00:00z"), -1},
    {S("2025-12-20t00:00:00Z"), -1},
    {S("2025-12-20 00:00:00Z"), -1},
    {S("2025-12-20T00:00:00+01:00"), -1},
    {S("2025-12-20T00:00:00ZZ"), -1},
    {S("2025-12-20T00:00:00Z "), -1},
    {S("2025-12-20T00:00:00.Z"), -1},
    {S("2025-12-20T00:00:00.1234567890Z"), -1},
    {S("2025-12-20T00:00Z"), -1},
    {S("2025-12-2T00:00:00Z"), -1},
    {S("12025-12-20T00:00:00Z"), -1},
    {S("99999-12-31T23:59:59Z"), -1},
    {S(""), -1},
    {S("Z"), -1},
    /* Instants the sync daemon would skip as malformed. */
    {S("1970-01-01T00:00:00Z"), -1},
    {S("1969-12-31T23:59:59Z"), -1},
    {S("0000-01-01T00:00:00Z"), -1},
    {S("9999-12-31T23:59:59.001Z"), -1},
};

static void iso_times_are_strict(void **state)
{
    for (size_t i = 0; i != sizeof(iso_times) / sizeof(iso_times[0]); ++i) {
        long long ms = -2;
        int r = gw_parse_iso_time(&ms, iso_times[i].in, iso_times[i].len);
        if (iso_times[i].ms < 0 && r != -1)
            fail_msg("accepted \"%s\" as %lld", iso_times[i].in, ms);
        if (iso_times[i].ms >= 0 && (r != 0 || ms != iso_times[i].ms))
            fail_msg("\"%s\": %d, %lld instead of %lld", iso_times[i].in, r, ms, iso_times[i].ms);
    }
}

/* The "at" of a lifecycle event: an accepted one, in Unix milliseconds, or -1 for 400 invalid_field naming at. */
static const struct {
    const char *at;
    long long ms;
} lifecycle_ats[] = {
    {"1766188800", 1766188800000LL},
    {"1", 1000},
    {"253402300799", GW_TIME_MAX_MS},
    {"\"2025-12-20T00:00:00Z\"", 1766188800000LL},
    {"\"9999-12-31T23:59:59Z\"", GW_TIME_MAX_MS},
    {"null", -2}, /* absent: server time */
    {"\"-001-01-01T00:00:00Z\"", -1},
    {"\"+2025-12-20T00:00:00Z\"", -1},
    {"\"2023-02-29T00:00:00Z\"", -1},
    {"\"1766188800\"", -1},
    {"0", -1},
    {"-1", -1},
    {"-62135596800", -1},
    {"253402300800", -1},
    {"9223372036854775807", -1},
    {"-9223372036854775808", -1},
    {"1766188800.5", -1},
    {"1e10", -1},
    {"true", -1},
    {"[]", -1},
    {"{}", -1},
};

static void lifecycle_times(void **state)
{
    gw_lifecycle_req_t in;
    gw_error_t err;
    char body[128];
    for (size_t i = 0; i != sizeof(lifecycle_ats) / sizeof(lifecycle_ats[0]); ++i) {
        snprintf(body, sizeof(body), "{\"type\": \"paid\", \"amount_cents\": 1999, \"at\": %s}", lifecycle_ats[i].at);
        memset(&err, 0, sizeof(err));
        int r = gw_parse_lifecycle(&in, &err, body, strlen(body));
        if (lifecycle_ats[i].ms == -1) {
            if (r != -1)
                fail_msg("accepted at %s as %lld", lifecycle_ats[i].at, in.at_ms);
            assert_int_equal(err.status, 400);
            assert_string_equal(err.reason, "invalid_field");
            if (strncmp(err.message, "at ", 3) != 0)
                fail_msg("message \"%s\" does not name at", err.message);
            continue;
        }
        if (r != 0)
            fail_msg("refused at %s: %s", lifecycle_ats[i].at, err.message);
        assert_string_equal(in.kind, "paid");
        assert_true(in.amount == 1999);
        assert_true(in.at_ms == (lifecycle_ats[i].ms == -2 ? -1 : lifecycle_ats[i].ms));
    }
    assert_int_equal(gw_parse_lifecycle(&in, &err, S("{\"type\": \"activated\"}")), 0);
    assert_true(in.amount == -1 && in.at_ms == -1);
    assert_int_equal(gw_parse_lifecycle(&in, &err, S("{\"type\": \"paid\", \"amount_cents\": -5}")), -1);
    assert_int_equal(err.status, 400);
}

static void path_emails_are_decoded(void **state)
{
    gw_email_t e;
    gw_error_t err;
    assert_int_equal(gw_parse_path_email(&e, &err, "Ann%2Bnews%40Example.com", 24), 0);
    assert_string_equal(e.addr, "ann+news@example.com");
    assert_int_equal(gw_parse_path_email(&e, &err, "ann@example.com", 15), 0);
    assert_int_equal(gw_parse_path_email(&e, &err, "ann%4", 5), -1);
    assert_int_equal(err.status, 422);
    assert_int_equal(gw_parse_path_email(&e, &err, "ann%zz@x.com", 12), -1);
    assert_int_equal(gw_parse_path_email(&e, &err, "nobody", 6), -1);
}

static void spend_and_force(void **state)
{
    gw_spend_req_t in;
    gw_error_t err;
    const char *force;
    const char *body = "{\"amount\": 30, \"type\": \"REDEMPTION_UNLOCK\", \"note\": \"agent\"}";
    assert_int_equal(gw_parse_spend(&in, &err, body, strlen(body)), 0);
    assert_true(in.amount == 30);
    assert_string_equal(in.type, "REDEMPTION_UNLOCK");
    assert_string_equal(in.note, "agent");
    body = "{\"amount\": 0, \"type\": \"REDEMPTION_QUOTA\"}";
    assert_int_equal(gw_parse_spend(&in, &err, body, strlen(body)), -1);
    assert_int_equal(gw_parse_force(&force, &err, "", 0), 0);
    assert_null(force);
    assert_int_equal(gw_parse_force(&force, &err, "{\"force\":\"closed\"}", 18), 0);
    assert_string_equal(force, "closed");
    assert_int_equal(gw_parse_force(&force, &err, "{\"force\":\"ajar\"}", 16), -1);
    assert_int_equal(err.status, 400);
}

static void grant(void **state)
{
    gw_grant_req_t in;
    gw_error_t err;
    const char *body = "{\"points\": -40, \"reason\": \"refund of a duplicate reward\"}";
    (void)state;
    assert_int_equal(gw_parse_grant(&in, &err, body, strlen(body)), 0);
    assert_int_equal(in.points, -40);
    assert_string_equal(in.reason, "refund of a duplicate reward");
    const char *bad[] = {"{\"points\": 0, \"reason\": \"x\"}",
                         "{\"points\": 1.5, \"reason\": \"x\"}",
                         "{\"points\": 100000001, \"reason\": \"x\"}",
                         "{\"points\": 5}",
                         "{\"points\": 5, \"reason\": \"\"}",
                         "{\"points\": \"5\", \"reason\": \"x\"}",
                         "{\"points\": 5, \"reason\": 7}"};
    for (size_t i = 0; i != sizeof(bad) / sizeof(bad[0]); ++i) {
        assert_int_equal(gw_parse_grant(&in, &err, bad[i], strlen(bad[i])), -1);
        assert_int_equal(err.status, 400);
        assert_string_equal(err.reason, "invalid_field");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(redeem_accepts_and_normalises),
        cmocka_unit_test(redeem_errors),
        cmocka_unit_test(generate_defaults_and_fields),
        cmocka_unit_test(generate_errors),
        cmocka_unit_test(join_normalises_and_scores),
        cmocka_unit_test(iso_times_are_strict),
        cmocka_unit_test(lifecycle_times),
        cmocka_unit_test(path_emails_are_decoded),
        cmocka_unit_test(spend_and_force),
        cmocka_unit_test(grant),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
