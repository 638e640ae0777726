/*
 * Cohort files: the CSV an operator gives `cohort validate` and `invites
 * issue` (header `email,cohort`, one recipient a line), and the checks both
 * commands make on it (seed 001's validate-cohort: header, malformed
 * addresses, duplicates after normalisation, distribution, collisions with
 * invites, members and the waitlist in PostgreSQL).
 */
#ifndef CLI_COHORT_H
#define CLI_COHORT_H

#include <stddef.h>
#include <jansson.h>
#include <libpq-fe.h>
#include "ig_email.h"
#include "cli.h"

/** One recipient line. */
typedef struct cli_cohort_row_t {
    unsigned line;                      /**< 1-based line number in the file */
    char *raw;                          /**< the address as written (owned) */
    char email[IG_EMAIL_MAX_BYTES + 1]; /**< normal form; empty when the address is malformed */
    char *cohort;                       /**< the label as written (owned) */
    int ok;                             /**< no blocking problem on this line (issue skips the others) */
} cli_cohort_row_t;

#define CLI_PROBLEM_MSG_BYTES 384

/** One problem found; line 0 is about the whole file. */
typedef struct cli_problem_t {
    unsigned line;
    int blocking;     /**< an error (1) or a warning (0) */
    const char *kind; /**< static: header, malformed_email, ... */
    char message[CLI_PROBLEM_MSG_BYTES];
} cli_problem_t;

typedef struct cli_cohort_t {
    cli_cohort_row_t *rows;
    size_t num_rows;
    cli_problem_t *problems;
    size_t num_problems;
    size_t errors;   /**< blocking problems */
    size_t warnings; /**< problems the operator may override */
} cli_cohort_t;

/** The thresholds of the distribution check (seed 001's defaults). */
typedef struct cli_cohort_limits_t {
    unsigned min_rows;          /**< at least this many recipients (50) */
    unsigned min_creators;      /**< at least this many whose label starts with creator_prefix (5) */
    unsigned min_labels;        /**< at least this many distinct labels (3) */
    const char *creator_prefix; /**< "creator" */
} cli_cohort_limits_t;

#define CLI_COHORT_LIMITS_DEFAULT                                                                                                  \
    {                                                                                                                              \
        50, 5, 3, "creator"                                                                                                        \
    }

/**
 * Reads path and checks each line on its own (header, address, label,
 * duplicates). Returns 0 with c filled (problems included), or -1 when the
 * file cannot be read (reason printed). c is to be released with
 * cli_cohort_dispose in both cases.
 */
int cli_cohort_load(cli_cohort_t *c, cli_ctx_t *ctx, const char *path);

/** Adds the distribution problems (warnings) against limits. */
void cli_cohort_check_distribution(cli_cohort_t *c, const cli_cohort_limits_t *limits);

/**
 * Adds a warning for each address that already has an invite bound to it (in
 * a batch other than those starting with own_batch, when given), redeemed a
 * code, or waits on the waitlist. Returns 0, or -1 when PostgreSQL failed
 * (reason printed).
 */
int cli_cohort_check_collisions(cli_cohort_t *c, cli_ctx_t *ctx, PGconn *pg, const char *own_batch);

/**
 * Prints the problems in line order with a summary (rows, labels), as text or
 * with --json as one document {"status", "rows", "labels": {label: n},
 * "errors", "warnings", "problems": [{"line", "severity", "kind", "message"}]}.
 */
void cli_cohort_print(cli_cohort_t *c, const cli_ctx_t *ctx);

/** The exit status the problems call for: CLI_EXIT_FAIL, CLI_EXIT_WARN or CLI_EXIT_OK. */
int cli_cohort_status(const cli_cohort_t *c);

void cli_cohort_dispose(cli_cohort_t *c);

#endif
