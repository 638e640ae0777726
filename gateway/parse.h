/*
 * Parsing and validation of request bodies, before any key or query is
 * built. Independent of h2o so that it can be unit-tested alone.
 */
#ifndef GW_PARSE_H
#define GW_PARSE_H

#include <stddef.h>
#include "ig_code.h"
#include "ig_email.h"

#define GW_BATCH_MAX 10000
#define GW_BATCH_ID_MAX_BYTES 64
#define GW_COHORT_MAX_BYTES 64
#define GW_MAX_USES_MAX 1000000
#define GW_EXPIRES_DAYS_MAX 3650

/** A client error: HTTP status, machine reason (API.md) and a sentence. */
typedef struct gw_error_t {
    int status;
    const char *reason; /**< static string */
    char message[160];
} gw_error_t;

/** Fills err and returns -1, for `return gw_error_set(...)`. */
int gw_error_set(gw_error_t *err, int status, const char *reason, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

typedef struct gw_redeem_req_t {
    char code[IG_CODE_BODY_LEN + 1];    /**< normalised, check verified */
    char email[IG_EMAIL_MAX_BYTES + 1]; /**< normalised */
    size_t email_len;
} gw_redeem_req_t;

/** A normalised e-mail of a batch. */
typedef struct gw_email_t {
    char addr[IG_EMAIL_MAX_BYTES + 1];
    size_t len;
} gw_email_t;

typedef struct gw_generate_req_t {
    unsigned batch_size;
    char batch_id[GW_BATCH_ID_MAX_BYTES + 1];
    unsigned max_uses;
    double expires_days;
    char cohort[GW_COHORT_MAX_BYTES + 1];
    gw_email_t *issued_to; /**< batch_size entries or NULL; owned, freed by gw_generate_req_dispose */
} gw_generate_req_t;

/**
 * Parses {"code","email"}. Codes are normalised with prefix and verified with
 * code_key. Returns 0, or -1 with err filled (400/422).
 */
int gw_parse_redeem(gw_redeem_req_t *out, gw_error_t *err, const char *body, size_t len, const char *prefix,
                    const unsigned char code_key[IG_CODE_KEY_BYTES]);

/** Parses a code given in a URL path segment. Returns 0, or -1 with err (422 invalid_code). */
int gw_parse_code(char out[IG_CODE_BODY_LEN + 1], gw_error_t *err, const char *in, size_t len, const char *prefix,
                  const unsigned char code_key[IG_CODE_KEY_BYTES]);

/**
 * Parses a generate request. expires_in_days defaults to default_days.
 * Returns 0, or -1 with err filled; on success the caller owns out and must
 * call gw_generate_req_dispose.
 */
int gw_parse_generate(gw_generate_req_t *out, gw_error_t *err, const char *body, size_t len, unsigned default_days);

void gw_generate_req_dispose(gw_generate_req_t *req);

#endif
