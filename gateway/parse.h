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
    char code[IG_CODE_BODY_LEN + 1];    /**< normalised; an issued code check verified */
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
 * Whether s[0..len) is made of the conservative alphabet of batch ids and
 * cohorts (letters, digits, -_.:), which become keys and report labels.
 */
int gw_parse_label_ok(const char *s, size_t len);

/**
 * Parses a generate request. expires_in_days defaults to default_days.
 * Returns 0, or -1 with err filled; on success the caller owns out and must
 * call gw_generate_req_dispose.
 */
int gw_parse_generate(gw_generate_req_t *out, gw_error_t *err, const char *body, size_t len, unsigned default_days);

void gw_generate_req_dispose(gw_generate_req_t *req);

/* ---- waitlist, referrals, users (API.md) ---- */

#define GW_USE_CASE_MAX_BYTES 2000
#define GW_PERSONA_MAX_BYTES 32
#define GW_NOTE_MAX_BYTES 200
#define GW_ADMIT_MAX 1000
#define GW_SPEND_MAX 100000000
#define GW_AMOUNT_CENTS_MAX 100000000000LL

typedef struct gw_join_req_t {
    gw_email_t email;
    char persona[GW_PERSONA_MAX_BYTES + 1]; /**< one of the seed's personas; unknown ones become "other" */
    char use_case[GW_USE_CASE_MAX_BYTES + 1];
    size_t use_case_len;
    int priority;          /**< seed 004's score of persona and use case */
    char referral_code[9]; /**< normalised; "" when absent */
} gw_join_req_t;

/** Parses {"email","use_case","persona","referral_code"?}. Returns 0, or -1 with err (400/422). */
int gw_parse_join(gw_join_req_t *out, gw_error_t *err, const char *body, size_t len);

/** Parses {"count","expires_in_days"?} of an admission. */
int gw_parse_admit(unsigned *count, double *expires_days, gw_error_t *err, const char *body, size_t len, unsigned default_days);

/** Parses a body of e-mail fields (names[i] -> out[i]), for share ({"inviter_email","recipient_email"}) and earn. */
int gw_parse_emails(gw_email_t *out, const char *const *names, size_t n, gw_error_t *err, const char *body, size_t len);

typedef struct gw_lifecycle_req_t {
    const char *kind; /**< "activated", "paid", "churned" or "fraud_flagged" (static) */
    long long amount; /**< cents, -1 when absent */
    long long at_ms;  /**< Unix milliseconds, -1 when absent (server time) */
} gw_lifecycle_req_t;

/** Parses {"type","amount_cents"?,"at"?}; at is ISO 8601 UTC (2025-12-20T00:00:00Z) or Unix seconds. */
int gw_parse_lifecycle(gw_lifecycle_req_t *out, gw_error_t *err, const char *body, size_t len);

typedef struct gw_spend_req_t {
    unsigned amount;
    const char *type; /**< "REDEMPTION_QUOTA" or "REDEMPTION_UNLOCK" (static) */
    char note[GW_NOTE_MAX_BYTES + 1];
} gw_spend_req_t;

/** Parses {"amount","type","note"?}. */
int gw_parse_spend(gw_spend_req_t *out, gw_error_t *err, const char *body, size_t len);

typedef struct gw_grant_req_t {
    int points;                         /**< nonzero, within +-GW_SPEND_MAX: > 0 given, < 0 taken back */
    char reason[GW_NOTE_MAX_BYTES + 1]; /**< required, not empty */
} gw_grant_req_t;

/** Parses {"points","reason"} (POST /api/points/{email}/grant, ledger type ADMIN_GRANT). */
int gw_parse_grant(gw_grant_req_t *out, gw_error_t *err, const char *body, size_t len);

/** Parses {"force"?}: "open", "closed", "auto" into a static string, or NULL when absent. An empty body is {}. */
int gw_parse_force(const char **force, gw_error_t *err, const char *body, size_t len);

/** Decodes and normalises an e-mail given in a URL path segment (percent-encoded). Returns 0, or -1 with err (422). */
int gw_parse_path_email(gw_email_t *out, gw_error_t *err, const char *in, size_t len);

/*
 * The instants an event may carry, in Unix milliseconds: exactly those the
 * sync daemon takes (sync/event.c refuses 0 and anything after
 * 9999-12-31T23:59:59Z), so that an event the gateway accepted is never
 * skipped there as malformed.
 */
#define GW_TIME_MIN_MS 1LL
#define GW_TIME_MAX_MS 253402300799000LL

/**
 * Parses an ISO 8601 UTC time of exactly the form "2025-12-20T00:00:00Z",
 * optionally with 1 to 9 digits of fraction before the Z (".250Z"; kept to
 * the millisecond), digits only, a date of the calendar and seconds 0 to 59.
 * Returns 0 and Unix milliseconds from GW_TIME_MIN_MS to GW_TIME_MAX_MS in
 * *ms, or -1 (and *ms untouched) for anything else.
 */
int gw_parse_iso_time(long long *ms, const char *s, size_t len);

#endif
