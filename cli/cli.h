/*
 * invitegate, the operator's command-line tool: what every command shares.
 *
 * A command is a handler `int cli_<group>_<sub>(cli_ctx_t *ctx, int argc,
 * char **argv)` listed in commands.h. argv[0] is the subcommand's name and
 * the rest its own arguments, the global options (--config, --json,
 * --show-emails) already taken out; handlers parse theirs with getopt_long
 * (optind is reset before each). A handler returns an exit status (CLI_EXIT_*).
 *
 * Output: a human table or text on stdout when it is a terminal or --json is
 * not given; one JSON document on stdout with --json. Diagnostics go to
 * stderr. E-mail addresses are shown only with --show-emails; otherwise an
 * address is replaced by its line number or a keyed hash (cli_redact).
 */
#ifndef CLI_H
#define CLI_H

#include <stdio.h>
#include <hiredis/hiredis.h>
#include "redis_route.h"
#include <jansson.h>
#include <libpq-fe.h>
#include "ig_config.h"
#include "commands.h"

/** Exit statuses of every command (documented in `invitegate --help`). */
enum {
    CLI_EXIT_OK = 0,     /**< done, nothing to report */
    CLI_EXIT_FAIL = 1,   /**< failed, or a blocking problem found */
    CLI_EXIT_WARN = 2,   /**< done, with warnings the operator may override */
    CLI_EXIT_USAGE = 64, /**< bad usage (sysexits EX_USAGE) */
};

#define CLI_ERR_BYTES 512

/**
 * Hex digits of the per-recipient suffix that `invites issue` adds to its
 * --batch ID (batch id ID-<suffix>, message <suffix>.eml); `report cohorts`
 * counts such batches as their ID.
 */
#define CLI_RECIPIENT_ID_HEX 12

typedef struct cli_command_t cli_command_t;

/** What a command runs with; one per process. */
typedef struct cli_ctx_t {
    ig_config_t cfg;              /**< the daemons' configuration: --config FILE, then IG_* overrides */
    const char *config_path;      /**< --config, or NULL (defaults and IG_* only) */
    int json;                     /**< --json: one JSON document on stdout */
    int show_emails;              /**< --show-emails: print addresses in clear */
    int is_tty;                   /**< stdout is a terminal (tables, progress bars) */
    int err_tty;                  /**< stderr is a terminal */
    const cli_command_t *command; /**< the command running */
    sync_route_t route;           /**< opened by cli_route, closed by cli_ctx_close */
    PGconn *pg;                   /**< opened by cli_pg, closed by cli_ctx_close */
    unsigned char log_key[32];    /**< keys cli_redact (derived from secret_key, else random) */
} cli_ctx_t;

/** One row of commands.h. */
struct cli_command_t {
    const char *group;
    const char *sub;
    int dflt;
    const char *synopsis;
    const char *help;
    const char *details; /**< cli_<group>_<sub>_help */
    int (*handler)(cli_ctx_t *ctx, int argc, char **argv);
};

#define CLI_DECLARE(group, sub, dflt, synopsis, help)                                                                              \
    int cli_##group##_##sub(cli_ctx_t *ctx, int argc, char **argv);                                                                \
    extern const char cli_##group##_##sub##_help[];
CLI_COMMAND_LIST(CLI_DECLARE)
#undef CLI_DECLARE

/**
 * The connection of bucket 0 (IG_WL_BUCKET: the waitlist, referrals, points
 * and the trust gate's state): the one Redis, or on a Redis Cluster the
 * master that serves bucket 0; cli_route's, opened on first use with a
 * timeout of redis_timeout_ms (at least one second). Returns NULL after
 * printing the reason on stderr. Owned by ctx.
 */
redisContext *cli_redis(cli_ctx_t *ctx);

/**
 * The connections by bucket (one Redis, or each master of a Redis Cluster),
 * opened on first use like cli_redis; NULL after printing the reason. Owned
 * by ctx.
 */
sync_route_t *cli_route(cli_ctx_t *ctx);

/** The PostgreSQL connection (database_url), opened on first use; NULL after printing the reason. Owned by ctx. */
PGconn *cli_pg(cli_ctx_t *ctx);

/** Runs sql on pg; returns its result when its status is want, else prints the error and returns NULL. */
PGresult *cli_pg_exec(const cli_ctx_t *ctx, PGconn *pg, const char *sql, ExecStatusType want);

/** Rows per fetch of cli_pg_each. */
#define CLI_PG_FETCH_ROWS 2000

/** Called by cli_pg_each with each fetch of at most CLI_PG_FETCH_ROWS rows; returns 0, or -1 to stop (after printing why). */
typedef int (*cli_rows_fn)(cli_ctx_t *ctx, PGresult *rows, void *arg);

/**
 * Runs declare_sql (DECLARE cursor ... FOR ..., inside the caller's
 * transaction) and passes the rows to fn a fetch at a time. Returns 0, or -1
 * after printing why.
 */
int cli_pg_each(cli_ctx_t *ctx, PGconn *pg, const char *declare_sql, const char *cursor, cli_rows_fn fn, void *arg);

/** Closes the connections and wipes the secrets of ctx. */
void cli_ctx_close(cli_ctx_t *ctx);

/** Prints "invitegate GROUP SUB: " and the message on stderr. */
void cli_error(const cli_ctx_t *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Prints the usage line of the running command on stderr and returns CLI_EXIT_USAGE. */
int cli_usage(const cli_ctx_t *ctx);

/**
 * Writes to out (at least IG_EMAIL_MAX_BYTES + 1 bytes) what may be printed
 * for the address email: itself with --show-emails, else a keyed hash
 * ("h:xxxxxxxxxxxx", the same for the same address within one run).
 */
void cli_redact(const cli_ctx_t *ctx, char *out, size_t out_len, const char *email);

/** Prints doc on stdout (compact, one line) and releases it. Returns 0, or -1 when it could not be written. */
int cli_json_print(json_t *doc);

/** Parses a decimal unsigned value in [min, max]; returns 0 or -1. */
int cli_parse_uint(unsigned *out, const char *s, unsigned min, unsigned max);

/**
 * Draws a progress bar "label [#####     ] done/total" on stderr when stderr
 * is a terminal (nothing otherwise); done == total ends the line.
 */
void cli_progress(const cli_ctx_t *ctx, const char *label, size_t done, size_t total);

#endif
