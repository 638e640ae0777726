/* The shared state of invitegate's commands: connections, messages, output helpers. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sodium.h>
#include "layout.h"
#include "db.h"
#include "ig_email.h"
#include "ig_log.h"
#include "cli.h"

#define CLI_REDIS_MIN_TIMEOUT_MS 1000
#define CLI_PROGRESS_WIDTH 30

void cli_error(const cli_ctx_t *ctx, const char *fmt, ...)
{
    va_list ap;

    if (ctx->command != NULL)
        fprintf(stderr, "invitegate %s %s: ", ctx->command->group, ctx->command->sub);
    else
        fputs("invitegate: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cli_usage(const cli_ctx_t *ctx)
{
    const cli_command_t *c = ctx->command;

    fprintf(stderr, "usage: invitegate %s %s %s\n       invitegate %s %s --help\n", c->group, c->sub, c->synopsis, c->group,
            c->sub);
    return CLI_EXIT_USAGE;
}

redisContext *cli_redis(cli_ctx_t *ctx)
{
    sync_route_t *route = cli_route(ctx);
    return route == NULL ? NULL : sync_route_bucket(route, IG_WL_BUCKET);
}

sync_route_t *cli_route(cli_ctx_t *ctx)
{
    unsigned ms = ctx->cfg.redis_timeout_ms < CLI_REDIS_MIN_TIMEOUT_MS ? CLI_REDIS_MIN_TIMEOUT_MS : ctx->cfg.redis_timeout_ms;

    if (sync_route_is_open(&ctx->route))
        return &ctx->route;
    if (sync_route_open(&ctx->route, &ctx->cfg, ms, ms) != 0) {
        cli_error(ctx, "cannot connect to Redis at %s: %s", ctx->cfg.redis_url, ctx->route.errstr);
        return NULL;
    }
    return &ctx->route;
}

PGconn *cli_pg(cli_ctx_t *ctx)
{
    char err[SYNC_DB_ERR_BYTES];

    if (ctx->pg != NULL)
        return ctx->pg;
    if ((ctx->pg = sync_layout_connect_pg(&ctx->cfg, err, sizeof(err))) == NULL)
        cli_error(ctx, "cannot connect to PostgreSQL: %s", err);
    else
        PQclear(PQexec(ctx->pg, "SET client_min_messages = warning"));
    return ctx->pg;
}

PGresult *cli_pg_exec(const cli_ctx_t *ctx, PGconn *pg, const char *sql, ExecStatusType want)
{
    PGresult *res = PQexec(pg, sql);
    if (PQresultStatus(res) == want)
        return res;
    cli_error(ctx, "%s: %s", sql, PQresultErrorMessage(res));
    PQclear(res);
    return NULL;
}

int cli_pg_each(cli_ctx_t *ctx, PGconn *pg, const char *declare_sql, const char *cursor, cli_rows_fn fn, void *arg)
{
    char fetch[128];
    PGresult *res;

    if ((res = cli_pg_exec(ctx, pg, declare_sql, PGRES_COMMAND_OK)) == NULL)
        return -1;
    PQclear(res);
    snprintf(fetch, sizeof(fetch), "FETCH %d FROM %s", CLI_PG_FETCH_ROWS, cursor);
    for (;;) {
        int ret;
        if ((res = cli_pg_exec(ctx, pg, fetch, PGRES_TUPLES_OK)) == NULL)
            return -1;
        if (PQntuples(res) == 0) {
            PQclear(res);
            return 0;
        }
        ret = fn(ctx, res, arg);
        PQclear(res);
        if (ret != 0)
            return -1;
    }
}

void cli_ctx_close(cli_ctx_t *ctx)
{
    sync_route_close(&ctx->route);
    if (ctx->pg != NULL)
        PQfinish(ctx->pg);
    ctx->pg = NULL;
    ig_config_wipe(&ctx->cfg);
    sodium_memzero(ctx->log_key, sizeof(ctx->log_key));
}

void cli_redact(const cli_ctx_t *ctx, char *out, size_t out_len, const char *email)
{
    char h[IG_LOG_REDACT_BYTES];

    if (ctx->show_emails) {
        snprintf(out, out_len, "%s", email);
        return;
    }
    ig_log_redact(h, email, strlen(email));
    snprintf(out, out_len, "h:%s", h);
}

int cli_json_print(json_t *doc)
{
    int ret = json_dumpf(doc, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER) == 0 && fputc('\n', stdout) != EOF ? 0 : -1;

    json_decref(doc);
    return ret;
}

int cli_parse_uint(unsigned *out, const char *s, unsigned min, unsigned max)
{
    char *end;
    unsigned long v;

    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -1;
    *out = (unsigned)v;
    return 0;
}

void cli_progress(const cli_ctx_t *ctx, const char *label, size_t done, size_t total)
{
    char bar[CLI_PROGRESS_WIDTH + 1];
    size_t fill = total != 0 ? done * CLI_PROGRESS_WIDTH / total : CLI_PROGRESS_WIDTH;

    if (!ctx->err_tty)
        return;
    memset(bar, '#', fill);
    memset(bar + fill, ' ', CLI_PROGRESS_WIDTH - fill);
    bar[CLI_PROGRESS_WIDTH] = '\0';
    fprintf(stderr, "\r%s [%s] %zu/%zu", label, bar, done, total);
    if (done >= total)
        fputc('\n', stderr);
    fflush(stderr);
}
