#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "ig_priority.h"
#include "ig_user.h"
#include "parse.h"

int gw_error_set(gw_error_t *err, int status, const char *reason, const char *fmt, ...)
{
    va_list args;
    err->status = status;
    err->reason = reason;
    va_start(args, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, args);
    va_end(args);
    return -1;
}

/* Loads a JSON object; anything else is invalid_json. The caller owns the result. */
static json_t *load_object(gw_error_t *err, const char *body, size_t len)
{
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        gw_error_set(err, 400, "invalid_json", "the body is not valid JSON (%s)", jerr.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        gw_error_set(err, 400, "invalid_json", "the body must be a JSON object");
        return NULL;
    }
    return root;
}

/* A required string field; its bytes stay owned by obj. */
static int get_string(const char **out, size_t *out_len, gw_error_t *err, json_t *obj, const char *name, size_t max_len)
{
    json_t *v = json_object_get(obj, name);
    if (v == NULL)
        return gw_error_set(err, 400, "invalid_field", "%s is required", name);
    if (!json_is_string(v))
        return gw_error_set(err, 400, "invalid_field", "%s must be a string", name);
    if (json_string_length(v) > max_len)
        return gw_error_set(err, 400, "invalid_field", "%s is longer than %zu bytes", name, max_len);
    *out = json_string_value(v);
    *out_len = json_string_length(v);
    return 0;
}

/* An optional integer field in [min, max]; absent leaves *out untouched. */
static int get_uint(unsigned *out, gw_error_t *err, json_t *obj, const char *name, unsigned min, unsigned max, int required)
{
    json_t *v = json_object_get(obj, name);
    if (v == NULL)
        return required ? gw_error_set(err, 400, "invalid_field", "%s is required", name) : 0;
    if (!json_is_integer(v) || json_integer_value(v) < (json_int_t)min || json_integer_value(v) > (json_int_t)max)
        return gw_error_set(err, 400, "invalid_field", "%s must be an integer from %u to %u", name, min, max);
    *out = (unsigned)json_integer_value(v);
    return 0;
}

static int email_field(char *out, size_t *out_len, gw_error_t *err, const char *s, size_t len, const char *name)
{
    int n = ig_email_normalise(out, s, len);
    if (n < 0)
        return gw_error_set(err, 422, "invalid_email", "%s is not a valid e-mail address", name);
    *out_len = (size_t)n;
    return 0;
}

int gw_parse_code(char out[IG_CODE_BODY_LEN + 1], gw_error_t *err, const char *in, size_t len, const char *prefix,
                  const unsigned char code_key[IG_CODE_KEY_BYTES])
{
    /* An imported code has no check characters: only Redis can tell whether it exists. */
    if (ig_code_read(out, in, len, prefix, code_key) == IG_CODE_INVALID)
        return gw_error_set(err, 422, "invalid_code", "code is not a valid invite code");
    return 0;
}

int gw_parse_redeem(gw_redeem_req_t *out, gw_error_t *err, const char *body, size_t len, const char *prefix,
                    const unsigned char code_key[IG_CODE_KEY_BYTES])
{
    const char *code = NULL, *email = NULL;
    size_t code_len = 0, email_len = 0;
    int ret = -1;
    json_t *root = load_object(err, body, len);

    if (root == NULL)
        return -1;
    if (get_string(&code, &code_len, err, root, "code", IG_CODE_INPUT_MAX_BYTES) != 0 ||
        get_string(&email, &email_len, err, root, "email", 320) != 0)
        goto Exit;
    if (gw_parse_code(out->code, err, code, code_len, prefix, code_key) != 0)
        goto Exit;
    if (email_field(out->email, &out->email_len, err, email, email_len, "email") != 0)
        goto Exit;
    ret = 0;
Exit:
    json_decref(root);
    return ret;
}

int gw_parse_label_ok(const char *s, size_t len)
{
    for (size_t i = 0; i != len; ++i) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
              c == ':'))
            return 0;
    }
    return 1;
}

int gw_parse_generate(gw_generate_req_t *out, gw_error_t *err, const char *body, size_t len, unsigned default_days)
{
    const char *s = NULL;
    size_t slen = 0;
    json_t *v, *root = load_object(err, body, len);
    int ret = -1;

    memset(out, 0, sizeof(*out));
    if (root == NULL)
        return -1;
    out->max_uses = 1;
    out->expires_days = default_days;
    if (get_uint(&out->batch_size, err, root, "batch_size", 1, GW_BATCH_MAX, 1) != 0)
        goto Exit;
    if (get_string(&s, &slen, err, root, "batch_id", GW_BATCH_ID_MAX_BYTES) != 0)
        goto Exit;
    if (slen == 0 || !gw_parse_label_ok(s, slen)) {
        gw_error_set(err, 400, "invalid_field", "batch_id must be 1 to %d letters, digits or -_.:", GW_BATCH_ID_MAX_BYTES);
        goto Exit;
    }
    memcpy(out->batch_id, s, slen + 1);
    if (get_uint(&out->max_uses, err, root, "max_uses", 1, GW_MAX_USES_MAX, 0) != 0)
        goto Exit;
    if ((v = json_object_get(root, "expires_in_days")) != NULL) {
        double d = json_number_value(v);
        if (!json_is_number(v) || !isfinite(d) || d <= 0 || d > GW_EXPIRES_DAYS_MAX) {
            gw_error_set(err, 400, "invalid_field", "expires_in_days must be a number above 0 and at most %d", GW_EXPIRES_DAYS_MAX);
            goto Exit;
        }
        out->expires_days = d;
    }
    if ((v = json_object_get(root, "cohort")) != NULL && !json_is_null(v)) {
        if (get_string(&s, &slen, err, root, "cohort", GW_COHORT_MAX_BYTES) != 0)
            goto Exit;
        if (!gw_parse_label_ok(s, slen)) {
            gw_error_set(err, 400, "invalid_field", "cohort must be letters, digits or -_.:");
            goto Exit;
        }
        memcpy(out->cohort, s, slen + 1);
    }
    if ((v = json_object_get(root, "issued_to")) != NULL && !json_is_null(v)) {
        if (!json_is_array(v) || json_array_size(v) != out->batch_size) {
            gw_error_set(err, 400, "invalid_field", "issued_to must be an array of batch_size e-mail addresses");
            goto Exit;
        }
        if ((out->issued_to = calloc(out->batch_size, sizeof(*out->issued_to))) == NULL) {
            gw_error_set(err, 500, "internal", "out of memory");
            goto Exit;
        }
        for (size_t i = 0; i != out->batch_size; ++i) {
            json_t *e = json_array_get(v, i);
            if (!json_is_string(e)) {
                gw_error_set(err, 400, "invalid_field", "issued_to[%zu] must be a string", i);
                goto Exit;
            }
            if (email_field(out->issued_to[i].addr, &out->issued_to[i].len, err, json_string_value(e), json_string_length(e),
                            "issued_to entry") != 0)
                goto Exit;
        }
    }
    ret = 0;
Exit:
    if (ret != 0)
        gw_generate_req_dispose(out);
    json_decref(root);
    return ret;
}

void gw_generate_req_dispose(gw_generate_req_t *req)
{
    free(req->issued_to);
    req->issued_to = NULL;
}

/* ---- waitlist, referrals, users ---------------------------------------- */

/* The entry of names equal to s (len bytes), or NULL. */
static const char *pick(const char *const *names, size_t n, const char *s, size_t len)
{
    for (size_t i = 0; i != n; ++i)
        if (strlen(names[i]) == len && memcmp(names[i], s, len) == 0)
            return names[i];
    return NULL;
}

#define PICK(names, s, len) pick(names, sizeof(names) / sizeof(names[0]), s, len)

int gw_parse_join(gw_join_req_t *out, gw_error_t *err, const char *body, size_t len)
{
    static const char *const personas[] = {"solo_founder", "small_team", "agency", "content_creator", "other"};
    const char *s = NULL;
    size_t slen = 0;
    json_t *v, *root = load_object(err, body, len);
    int ret = -1;

    memset(out, 0, sizeof(*out));
    if (root == NULL)
        return -1;
    if (get_string(&s, &slen, err, root, "email", IG_EMAIL_MAX_BYTES * 2) != 0 ||
        email_field(out->email.addr, &out->email.len, err, s, slen, "email") != 0)
        goto Exit;
    if (get_string(&s, &slen, err, root, "use_case", GW_USE_CASE_MAX_BYTES) != 0)
        goto Exit;
    if (memchr(s, '\0', slen) != NULL) {
        gw_error_set(err, 400, "invalid_field", "use_case must not contain NUL characters");
        goto Exit;
    }
    memcpy(out->use_case, s, slen + 1);
    out->use_case_len = slen;
    if (get_string(&s, &slen, err, root, "persona", 256) != 0)
        goto Exit;
    strcpy(out->persona, PICK(personas, s, slen) ? PICK(personas, s, slen) : "other");
    out->priority = ig_priority_score(out->persona, strlen(out->persona), out->use_case, out->use_case_len);
    if ((v = json_object_get(root, "referral_code")) != NULL && !json_is_null(v)) {
        if (!json_is_string(v) ||
            (json_string_length(v) != 0 &&
             ig_referral_code_normalise(out->referral_code, json_string_value(v), json_string_length(v)) != 0)) {
            gw_error_set(err, 422, "invalid_code", "referral_code is not a valid referral code");
            goto Exit;
        }
    }
    ret = 0;
Exit:
    json_decref(root);
    return ret;
}

int gw_parse_admit(unsigned *count, double *expires_days, gw_error_t *err, const char *body, size_t len, unsigned default_days)
{
    json_t *v, *root = load_object(err, body, len);
    int ret = -1;
    if (root == NULL)
        return -1;
    *expires_days = default_days;
    if (get_uint(count, err, root, "count", 1, GW_ADMIT_MAX, 1) != 0)
        goto Exit;
    if ((v = json_object_get(root, "expires_in_days")) != NULL) {
        double d = json_number_value(v);
        if (!json_is_number(v) || !isfinite(d) || d <= 0 || d > GW_EXPIRES_DAYS_MAX) {
            gw_error_set(err, 400, "invalid_field", "expires_in_days must be a number above 0 and at most %d", GW_EXPIRES_DAYS_MAX);
            goto Exit;
        }
        *expires_days = d;
    }
    ret = 0;
Exit:
    json_decref(root);
    return ret;
}

int gw_parse_emails(gw_email_t *out, const char *const *names, size_t n, gw_error_t *err, const char *body, size_t len)
{
    const char *s = NULL;
    size_t slen = 0;
    json_t *root = load_object(err, body, len);
    int ret = -1;
    if (root == NULL)
        return -1;
    for (size_t i = 0; i != n; ++i)
        if (get_string(&s, &slen, err, root, names[i], IG_EMAIL_MAX_BYTES * 2) != 0 ||
            email_field(out[i].addr, &out[i].len, err, s, slen, names[i]) != 0)
            goto Exit;
    ret = 0;
Exit:
    json_decref(root);
    return ret;
}

static long long days_from_civil(long long y, unsigned m, unsigned d)
{
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long long)doe - 719468;
}

/* The value of the n decimal digits at s, or -1 when one of them is not a digit (no sign, no space). */
static int decimal(const char *s, size_t n)
{
    int v = 0;
    for (size_t i = 0; i != n; ++i) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static unsigned days_in_month(int y, int m)
{
    static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return mdays[m - 1] + (m == 2 && leap);
}

/* The fraction of "2025-12-20T00:00:00.123456789Z": at most nanoseconds. */
#define ISO_FRACTION_MAX_DIGITS 9

int gw_parse_iso_time(long long *ms, const char *s, size_t len)
{
    /* Offsets in "YYYY-MM-DDTHH:MM:SS": every field is fixed-width, so no field can borrow another's characters. */
    if (len < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[len - 1] != 'Z')
        return -1;
    int y = decimal(s, 4), mo = decimal(s + 5, 2), d = decimal(s + 8, 2);
    int h = decimal(s + 11, 2), mi = decimal(s + 14, 2), sec = decimal(s + 17, 2);
    if (y < 0 || mo < 1 || mo > 12 || d < 1 || (unsigned)d > days_in_month(y, mo) || h < 0 || h > 23 || mi < 0 || mi > 59 ||
        sec < 0 || sec > 59)
        return -1;
    long long frac = 0;
    if (len != 20) {
        size_t digits = len - 21; /* between '.' and 'Z' */
        if (s[19] != '.' || digits == 0 || digits > ISO_FRACTION_MAX_DIGITS || decimal(s + 20, digits) < 0)
            return -1;
        for (size_t i = 0; i != 3; ++i)
            frac = frac * 10 + (i < digits ? s[20 + i] - '0' : 0);
    }
    /* Years 0000 to 9999: far from overflowing. */
    long long t = (days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + sec) * 1000 + frac;
    if (t < GW_TIME_MIN_MS || t > GW_TIME_MAX_MS)
        return -1;
    *ms = t;
    return 0;
}

int gw_parse_lifecycle(gw_lifecycle_req_t *out, gw_error_t *err, const char *body, size_t len)
{
    static const char *const kinds[] = {"activated", "paid", "churned", "fraud_flagged"};
    const char *s = NULL;
    size_t slen = 0;
    json_t *v, *root = load_object(err, body, len);
    int ret = -1;
    if (root == NULL)
        return -1;
    out->kind = NULL;
    out->amount = out->at_ms = -1;
    if (get_string(&s, &slen, err, root, "type", 32) != 0)
        goto Exit;
    if ((out->kind = PICK(kinds, s, slen)) == NULL) {
        gw_error_set(err, 400, "invalid_field", "type must be activated, paid, churned or fraud_flagged");
        goto Exit;
    }
    if ((v = json_object_get(root, "amount_cents")) != NULL && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > GW_AMOUNT_CENTS_MAX) {
            gw_error_set(err, 400, "invalid_field", "amount_cents must be an integer from 0 to %lld", GW_AMOUNT_CENTS_MAX);
            goto Exit;
        }
        out->amount = json_integer_value(v);
    }
    if ((v = json_object_get(root, "at")) != NULL && !json_is_null(v)) {
        /* Unix seconds: whole seconds of the same range as the ISO form. */
        if (json_is_integer(v) && json_integer_value(v) >= (GW_TIME_MIN_MS + 999) / 1000 &&
            json_integer_value(v) <= GW_TIME_MAX_MS / 1000) {
            out->at_ms = json_integer_value(v) * 1000;
        } else if (!json_is_string(v) || gw_parse_iso_time(&out->at_ms, json_string_value(v), json_string_length(v)) != 0) {
            gw_error_set(err, 400, "invalid_field",
                         "at must be a UTC time as 2025-12-20T00:00:00Z (or .250Z) or Unix seconds, after "
                         "1970-01-01T00:00:00Z and at most 9999-12-31T23:59:59Z");
            goto Exit;
        }
    }
    ret = 0;
Exit:
    json_decref(root);
    return ret;
}

/* A free-text field of at most GW_NOTE_MAX_BYTES without NUL, copied into out (GW_NOTE_MAX_BYTES + 1 bytes). */
static int get_text(char *out, gw_error_t *err, json_t *obj, const char *name)
{
    const char *s = NULL;
    size_t slen = 0;
    if (get_string(&s, &slen, err, obj, name, GW_NOTE_MAX_BYTES) != 0)
        return -1;
    if (memchr(s, '\0', slen) != NULL)
        return gw_error_set(err, 400, "invalid_field", "%s must not contain NUL characters", name);
    memcpy(out, s, slen + 1);
    return 0;
}

int gw_parse_spend(gw_spend_req_t *out, gw_error_t *err, const char *body, size_t len)
{
    static const char *const types[] = {"REDEMPTION_QUOTA", "REDEMPTION_UNLOCK"};
    const char *s = NULL;
    size_t slen = 0;
    json_t *v, *root = load_object(err, body, len);
    int ret = -1;
    if (root == NULL)
        return -1;
    memset(out, 0, sizeof(*out));
    if (get_uint(&out->amount, err, root, "amount", 1, GW_SPEND_MAX, 1) != 0 || get_string(&s, &slen, err, root, "type", 32) != 0)
        goto Exit;
    if ((out->type = PICK(types, s, slen)) == NULL) {
        gw_error_set(err, 400, "invalid_field", "type must be REDEMPTION_QUOTA or REDEMPTION_UNLOCK");
        goto Exit;
    }
    if ((v = json_object_get(root, "note")) != NULL && !json_is_null(v) && get_text(out->note, err, root, "note") != 0)
        goto Exit;
    ret = 0;
Exit:
    json_decref(root);
    return ret;
}

int gw_parse_grant(gw_grant_req_t *out, gw_error_t *err, const char *body, size_t len)
{
    json_t *v, *root = load_object(err, body, len);
    int ret = -1;
    if (root == NULL)
        return -1;
    memset(out, 0, sizeof(*out));
    v = json_object_get(root, "points");
    if (v == NULL || !json_is_integer(v) || json_integer_value(v) == 0 || json_integer_value(v) < -(json_int_t)GW_SPEND_MAX ||
        json_integer_value(v) > (json_int_t)GW_SPEND_MAX) {
        gw_error_set(err, 400, "invalid_field", "points must be a nonzero integer from -%u to %u", GW_SPEND_MAX, GW_SPEND_MAX);
        goto Exit;
    }
    out->points = (int)json_integer_value(v);
    if (get_text(out->reason, err, root, "reason") != 0)
        goto Exit;
    if (out->reason[0] == '\0') {
        gw_error_set(err, 400, "invalid_field", "reason must not be empty");
        goto Exit;
    }
    ret = 0;
Exit:
    json_decref(root);
    return ret;
}

int gw_parse_force(const char **force, gw_error_t *err, const char *body, size_t len)
{
    static const char *const modes[] = {"open", "closed", "auto"};
    const char *s = NULL;
    size_t slen = 0;
    json_t *v, *root;
    int ret = -1;
    *force = NULL;
    if (len == 0)
        return 0;
    if ((root = load_object(err, body, len)) == NULL)
        return -1;
    if ((v = json_object_get(root, "force")) == NULL || json_is_null(v)) {
        ret = 0;
        goto Exit;
    }
    if (get_string(&s, &slen, err, root, "force", 16) != 0)
        goto Exit;
    if ((*force = PICK(modes, s, slen)) == NULL) {
        gw_error_set(err, 400, "invalid_field", "force must be open, closed or auto");
        goto Exit;
    }
    ret = 0;
Exit:
    json_decref(root);
    return ret;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int gw_parse_path_email(gw_email_t *out, gw_error_t *err, const char *in, size_t len)
{
    char decoded[IG_EMAIL_MAX_BYTES * 2];
    size_t n = 0;
    for (size_t i = 0; i != len; ++i) {
        char c = in[i];
        if (c == '%') {
            int hi = i + 2 < len ? hex_value(in[i + 1]) : -1, lo = hi >= 0 ? hex_value(in[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return gw_error_set(err, 422, "invalid_email", "the e-mail in the path is not validly percent-encoded");
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (n == sizeof(decoded))
            return gw_error_set(err, 422, "invalid_email", "the e-mail in the path is too long");
        decoded[n++] = c;
    }
    return email_field(out->addr, &out->len, err, decoded, n, "the e-mail in the path");
}
