#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
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
    if (ig_code_normalise(out, in, len, prefix) != 0 || ig_code_verify(out, code_key) != 0)
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

/* Batch ids and cohorts become keys and report labels: a conservative alphabet. */
static int label_ok(const char *s, size_t len)
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
    if (slen == 0 || !label_ok(s, slen)) {
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
        if (!label_ok(s, slen)) {
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
