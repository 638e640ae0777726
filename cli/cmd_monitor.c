/*
 * invitegate monitor: the launch's acceptance gates, each green, red or
 * unknown (could not be checked), and a verdict for cron: exit 0 when every
 * gate is green, 1 when one is red, 2 when none is red but some could not be
 * checked. The gates:
 *
 *   redemptions    redemptions in PostgreSQL against --target-redemptions
 *   signups        waitlist joins in PostgreSQL against --target-signups
 *   error_rate     5xx answers among the gateway's redeem requests
 *                  (its /metrics counters, since the gateway started)
 *   trust_gate     the flag the gateways read (IG_KEY_WL_GATE) and the last
 *                  evaluation (IG_KEY_TRUST, else gate_evaluations)
 *   sync_lag       entries not yet applied to PostgreSQL and the age of the
 *                  oldest (lag.h)
 *   gateway_ready  the gateway's /ready
 *   expiring       invites unused and unrevoked expiring in the next days
 *
 * Every check is independent: one store down makes its gates unknown (or
 * red where the store being down is the failure), never the others.
 */
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"
#include "http.h"
#include "lag.h"

#define MONITOR_HTTP_TIMEOUT_MS 3000
#define MONITOR_DEFAULT_MAX_LAG_S 60
#define MONITOR_DEFAULT_EXPIRING_DAYS 7
#define MONITOR_DEFAULT_MAX_ERROR_RATE 0.01
#define MONITOR_DETAIL_BYTES 256
#define MONITOR_URL_BYTES 128

const char cli_monitor_run_help[] =
    "Checks the launch's acceptance gates, each green (ok), red (failing) or unknown (could not check):\n"
    "  redemptions    redemptions recorded in PostgreSQL, against --target-redemptions\n"
    "  signups        waitlist joins recorded in PostgreSQL, against --target-signups\n"
    "  error_rate     share of the gateway's redeem answers that were 5xx (its /metrics, since it started)\n"
    "  trust_gate     red while the trust gate is closed (the flag gateways read), with its score\n"
    "  sync_lag       events in Redis not yet in PostgreSQL; red when the oldest is older than --max-lag\n"
    "  gateway_ready  the gateway's GET /ready\n"
    "  expiring       unused invites expiring within --expiring-days (red above --max-expiring, if given)\n"
    "\n"
    "options:\n"
    "  --target-redemptions N  redemptions wanted (without it the gate is unknown)\n"
    "  --target-signups N      waitlist joins wanted (without it the gate is unknown)\n"
    "  --gateway URL           the gateway, http://IP:PORT (default: the configuration's listen address;\n"
    "                          \"off\": its gates are unknown)\n"
    "  --max-error-rate F      largest acceptable 5xx share of redeem answers (default 0.01)\n"
    "  --max-lag SECONDS       oldest acceptable event not yet in PostgreSQL (default 60)\n"
    "  --expiring-days N       horizon of the expiring gate (default 7)\n"
    "  --max-expiring N        red when more invites than this expire unused within the horizon\n"
    "  --watch SECONDS         check again every SECONDS until interrupted (with --json, one document a line)\n"
    "\n"
    "exit status: 0 every gate green, 1 some gate red, 2 none red but some unknown.\n";

typedef enum { GATE_GREEN, GATE_RED, GATE_UNKNOWN } gate_state_t;

static const char *const state_names[] = {"green", "red", "unknown"};
static const char *const state_marks[] = {"\xe2\x9c\x85", "\xf0\x9f\x94\xb4", "\xe2\x9a\xaa"}; /* ✅ 🔴 ⚪ */

typedef struct monitor_opts_t {
    long long target_redemptions;    /* -1: none */
    long long target_signups;        /* -1: none */
    long long max_expiring;          /* -1: none */
    char gateway[MONITOR_URL_BYTES]; /* empty: off */
    double max_error_rate;
    unsigned max_lag_s;
    unsigned expiring_days;
    unsigned watch_s; /* 0: once */
} monitor_opts_t;

/* One round of checks: the gates in order, as a JSON array being built. */
typedef struct monitor_round_t {
    json_t *gates;
    unsigned red, unknown;
} monitor_round_t;

/* Appends a gate; takes ownership of data (extra fields, may be NULL). */
static void add_gate(monitor_round_t *m, const char *name, gate_state_t st, json_t *data, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void add_gate(monitor_round_t *m, const char *name, gate_state_t st, json_t *data, const char *fmt, ...)
{
    char detail[MONITOR_DETAIL_BYTES];
    va_list ap;
    json_t *g = json_pack("{s:s, s:s}", "name", name, "status", state_names[st]);

    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    if (data != NULL)
        json_object_update(g, data);
    json_decref(data);
    json_object_set_new(g, "detail", json_string(detail));
    json_array_append_new(m->gates, g);
    m->red += st == GATE_RED;
    m->unknown += st == GATE_UNKNOWN;
}

static void check_target(monitor_round_t *m, const char *name, const char *what, long long value, long long target)
{
    if (value < 0)
        add_gate(m, name, GATE_UNKNOWN, NULL, "PostgreSQL unreachable");
    else if (target < 0)
        add_gate(m, name, GATE_UNKNOWN, json_pack("{s:I}", "value", (json_int_t)value), "%lld %s, no target given", value, what);
    else
        add_gate(m, name, value >= target ? GATE_GREEN : GATE_RED,
                 json_pack("{s:I, s:I}", "value", (json_int_t)value, "target", (json_int_t)target), "%lld %s of %lld wanted", value,
                 what, target);
}

/* PostgreSQL's counts: redemptions, joins, invites expiring unused; -1 each when it cannot answer. */
static void pg_counts(cli_ctx_t *ctx, const monitor_opts_t *o, long long out[3], json_t **last_eval)
{
    static const char sql[] =
        "SELECT (SELECT count(*) FROM redemptions), (SELECT count(*) FROM waitlist), "
        "(SELECT count(*) FROM invites WHERE used_at IS NULL AND revoked_at IS NULL AND expires_at > now() "
        "AND expires_at <= now() + $1::int * interval '1 day'), "
        "(SELECT row_to_json(g)::text FROM (SELECT evaluated_at, trust_score::float8 AS trust_score, invites_paused, mode, "
        "health_status FROM gate_evaluations ORDER BY id DESC LIMIT 1) AS g)";
    char days[16];
    const char *values[] = {days};
    PGconn *pg = cli_pg(ctx);
    PGresult *res;

    out[0] = out[1] = out[2] = -1;
    *last_eval = NULL;
    if (pg == NULL)
        return;
    snprintf(days, sizeof(days), "%u", o->expiring_days);
    res = PQexecParams(pg, sql, 1, NULL, values, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        cli_error(ctx, "PostgreSQL counts: %s", PQresultErrorMessage(res));
    } else {
        for (int i = 0; i != 3; ++i)
            out[i] = strtoll(PQgetvalue(res, 0, i), NULL, 10);
        if (!PQgetisnull(res, 0, 3))
            *last_eval = json_loads(PQgetvalue(res, 0, 3), 0, NULL);
    }
    PQclear(res);
}

/* The redeem route's answers in the gateway's Prometheus text: all, and 5xx. */
static int redeem_counts(const char *metrics, unsigned long long *all, unsigned long long *errors)
{
    static const char prefix[] = "invitegate_http_requests_total{route=\"redeem\",status=\"";
    int found = 0;

    *all = *errors = 0;
    for (const char *line = metrics; line != NULL && *line != '\0';) {
        const char *next = strchr(line, '\n');
        if (strncmp(line, prefix, sizeof(prefix) - 1) == 0) {
            const char *status = line + sizeof(prefix) - 1, *sp = strchr(status, ' ');
            if (sp != NULL && (next == NULL || sp < next)) {
                unsigned long long v = strtoull(sp + 1, NULL, 10);
                *all += v;
                if (status[0] == '5' || strncmp(status, "other", 5) == 0)
                    *errors += v;
                found = 1;
            }
        }
        line = next != NULL ? next + 1 : NULL;
    }
    return found;
}

/* GETs path from the gateway: 0 with *status and *body (malloc'ed), or -1 with the reason in err. */
static int gateway_get(const monitor_opts_t *o, const char *path, int *status, char **body, char *err, size_t err_len)
{
    cli_http_target_t t;

    *body = NULL;
    if (cli_http_target(&t, o->gateway) != 0) {
        snprintf(err, err_len, "not an http://IP:PORT address");
        return -1;
    }
    return cli_http_get(&t, path, MONITOR_HTTP_TIMEOUT_MS, status, body, err, err_len);
}

static void check_gateway(monitor_round_t *m, const monitor_opts_t *o)
{
    char err[MONITOR_DETAIL_BYTES], *body;
    unsigned long long all, errors;
    int status = 0;

    if (o->gateway[0] == '\0') {
        add_gate(m, "error_rate", GATE_UNKNOWN, NULL, "no gateway address (--gateway)");
        add_gate(m, "gateway_ready", GATE_UNKNOWN, NULL, "no gateway address (--gateway)");
        return;
    }
    if (gateway_get(o, "/metrics", &status, &body, err, sizeof(err)) != 0 || status != 200) {
        if (status != 0)
            snprintf(err, sizeof(err), "/metrics answered %d", status);
        add_gate(m, "error_rate", GATE_UNKNOWN, NULL, "%s: %s", o->gateway, err);
    } else if (!redeem_counts(body, &all, &errors)) {
        add_gate(m, "error_rate", GATE_GREEN,
                 json_pack("{s:i, s:i, s:f}", "requests", 0, "errors", 0, "threshold", o->max_error_rate),
                 "no redemption answered yet");
    } else {
        double rate = (double)errors / (double)all;
        add_gate(m, "error_rate", rate <= o->max_error_rate ? GATE_GREEN : GATE_RED,
                 json_pack("{s:I, s:I, s:f, s:f}", "requests", (json_int_t)all, "errors", (json_int_t)errors, "value", rate,
                           "threshold", o->max_error_rate),
                 "%llu of %llu redeem answers were 5xx (%.2f%%, at most %.2f%%)", errors, all, rate * 100, o->max_error_rate * 100);
    }
    free(body);
    if (gateway_get(o, "/ready", &status, &body, err, sizeof(err)) != 0)
        add_gate(m, "gateway_ready", GATE_RED, NULL, "%s: %s", o->gateway, err);
    else
        add_gate(m, "gateway_ready", status == 200 ? GATE_GREEN : GATE_RED, json_pack("{s:i}", "http_status", status),
                 "/ready answered %d", status);
    free(body);
}

/* GET of a string key: a malloc'ed copy, or NULL when absent; *failed set when Redis did not answer. */
static char *redis_get(redisContext *redis, const char *key, int *failed)
{
    redisReply *r = redisCommand(redis, "GET %s", key);
    char *s = NULL;

    if (r == NULL || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_NIL))
        *failed = 1;
    else if (r->type == REDIS_REPLY_STRING && (s = strdup(r->str)) == NULL)
        abort();
    if (r != NULL)
        freeReplyObject(r);
    return s;
}

static void check_trust(cli_ctx_t *ctx, monitor_round_t *m, json_t *last_eval)
{
    redisContext *redis = cli_redis(ctx);
    int failed = redis == NULL;
    char *flag = NULL, *mode = NULL, *trust = NULL;
    json_t *eval = NULL, *data;
    const char *health;
    double score;
    int closed;

    if (redis != NULL) {
        flag = redis_get(redis, IG_KEY_WL_GATE, &failed);
        mode = redis_get(redis, IG_KEY_GATE_MODE, &failed);
        trust = redis_get(redis, IG_KEY_TRUST, &failed);
    }
    if (!failed) {
        /* What the gateways obey: the flag; the score from the daemon's last evaluation. */
        closed = flag != NULL && strcmp(flag, "closed") == 0;
        eval = trust != NULL ? json_loads(trust, 0, NULL) : NULL;
    } else if (last_eval != NULL) {
        eval = json_incref(last_eval);
        closed = json_is_true(json_object_get(eval, "invites_paused"));
    } else {
        add_gate(m, "trust_gate", GATE_UNKNOWN, NULL, "neither Redis nor PostgreSQL answered");
        goto Exit;
    }
    score = json_number_value(json_object_get(eval, "trust_score"));
    health = json_string_value(json_object_get(eval, "health_status"));
    if (health == NULL)
        health = "no_data";
    data = json_pack("{s:b, s:s, s:s, s:s}", "invites_paused", closed, "mode",
                     mode != NULL                                               ? mode
                     : json_string_value(json_object_get(eval, "mode")) != NULL ? json_string_value(json_object_get(eval, "mode"))
                                                                                : "auto",
                     "health_status", health, "source", failed ? "postgresql" : "redis");
    json_object_set_new(data, "trust_score", eval != NULL ? json_real(score) : json_null());
    add_gate(m, "trust_gate", closed ? GATE_RED : GATE_GREEN, data, "%s, trust score %.4f (%s)%s", closed ? "closed" : "open",
             score, health, failed ? ", from PostgreSQL: Redis did not answer" : "");
Exit:
    json_decref(eval);
    free(flag);
    free(mode);
    free(trust);
}

static void check_lag(cli_ctx_t *ctx, monitor_round_t *m, const monitor_opts_t *o)
{
    sync_route_t *route = cli_route(ctx);
    PGconn *pg = cli_pg(ctx);
    char err[CLI_LAG_ERR_BYTES];
    cli_lag_t lag;
    double age;

    if (route == NULL || pg == NULL) {
        add_gate(m, "sync_lag", GATE_UNKNOWN, NULL, "needs Redis and PostgreSQL");
        return;
    }
    if (cli_lag_measure(&lag, route, pg, err) != 0) {
        add_gate(m, "sync_lag", GATE_UNKNOWN, NULL, "%s", err);
        return;
    }
    age = lag.oldest_ms != 0 && lag.now_ms > lag.oldest_ms ? (double)(lag.now_ms - lag.oldest_ms) / 1000.0 : 0.0;
    add_gate(m, "sync_lag", age <= o->max_lag_s ? GATE_GREEN : GATE_RED,
             json_pack("{s:I, s:b, s:i, s:f, s:i}", "pending_events", (json_int_t)lag.backlog, "pending_capped", lag.capped,
                       "buckets_behind", lag.behind, "oldest_age_s", age, "threshold_s", o->max_lag_s),
             "%s%llu stream entries not in PostgreSQL (%u buckets), oldest %.1f s old (at most %u s)",
             lag.capped ? "at least " : "", lag.backlog, lag.behind, age, o->max_lag_s);
}

static void check_expiring(monitor_round_t *m, const monitor_opts_t *o, long long n)
{
    if (n < 0)
        add_gate(m, "expiring", GATE_UNKNOWN, NULL, "PostgreSQL unreachable");
    else if (o->max_expiring < 0)
        add_gate(m, "expiring", GATE_GREEN, json_pack("{s:I, s:i}", "value", (json_int_t)n, "days", o->expiring_days),
                 "%lld unused invites expire within %u days", n, o->expiring_days);
    else
        add_gate(m, "expiring", n <= o->max_expiring ? GATE_GREEN : GATE_RED,
                 json_pack("{s:I, s:i, s:I}", "value", (json_int_t)n, "days", o->expiring_days, "threshold",
                           (json_int_t)o->max_expiring),
                 "%lld unused invites expire within %u days (at most %lld)", n, o->expiring_days, o->max_expiring);
}

/* One round: checks every gate, prints them, returns the exit status of the verdict. */
static int run_round(cli_ctx_t *ctx, const monitor_opts_t *o)
{
    monitor_round_t m = {json_array(), 0, 0};
    long long counts[3];
    json_t *last_eval;
    char at[32];
    time_t now = time(NULL);
    int status;
    const char *verdict;

    strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    pg_counts(ctx, o, counts, &last_eval);
    check_target(&m, "redemptions", "redemptions", counts[0], o->target_redemptions);
    check_target(&m, "signups", "waitlist joins", counts[1], o->target_signups);
    check_gateway(&m, o);
    check_trust(ctx, &m, last_eval);
    check_lag(ctx, &m, o);
    check_expiring(&m, o, counts[2]);
    json_decref(last_eval);

    status = m.red != 0 ? CLI_EXIT_FAIL : m.unknown != 0 ? CLI_EXIT_WARN : CLI_EXIT_OK;
    verdict = m.red != 0 ? "red" : m.unknown != 0 ? "unknown" : "green";
    if (ctx->json) {
        cli_json_print(json_pack("{s:s, s:s, s:i, s:o}", "checked_at", at, "verdict", verdict, "exit", status, "gates", m.gates));
    } else {
        size_t i;
        json_t *g;
        printf("invitegate launch gates at %s\n", at);
        json_array_foreach(m.gates, i, g)
        {
            const char *st = json_string_value(json_object_get(g, "status"));
            gate_state_t s = strcmp(st, "green") == 0 ? GATE_GREEN : strcmp(st, "red") == 0 ? GATE_RED : GATE_UNKNOWN;
            printf("%s %-14s %s\n", state_marks[s], json_string_value(json_object_get(g, "name")),
                   json_string_value(json_object_get(g, "detail")));
        }
        printf("verdict: %s %s\n", state_marks[m.red != 0 ? GATE_RED : m.unknown != 0 ? GATE_UNKNOWN : GATE_GREEN], verdict);
        json_decref(m.gates);
    }
    fflush(stdout);
    /* A store that failed this round is tried afresh next round. */
    if (sync_route_failed(&ctx->route))
        sync_route_close(&ctx->route);
    if (ctx->pg != NULL && PQstatus(ctx->pg) != CONNECTION_OK) {
        PQfinish(ctx->pg);
        ctx->pg = NULL;
    }
    return status;
}

static int parse_count(long long *out, const char *s)
{
    unsigned v;
    if (cli_parse_uint(&v, s, 0, 2000000000u) != 0)
        return -1;
    *out = v;
    return 0;
}

int cli_monitor_run(cli_ctx_t *ctx, int argc, char **argv)
{
    static const struct option longopts[] = {{"target-redemptions", required_argument, NULL, 'r'},
                                             {"target-signups", required_argument, NULL, 's'},
                                             {"gateway", required_argument, NULL, 'g'},
                                             {"max-error-rate", required_argument, NULL, 'e'},
                                             {"max-lag", required_argument, NULL, 'l'},
                                             {"expiring-days", required_argument, NULL, 'd'},
                                             {"max-expiring", required_argument, NULL, 'x'},
                                             {"watch", required_argument, NULL, 'w'},
                                             {NULL, 0, NULL, 0}};
    monitor_opts_t o = {-1, -1, -1, "", MONITOR_DEFAULT_MAX_ERROR_RATE, MONITOR_DEFAULT_MAX_LAG_S, MONITOR_DEFAULT_EXPIRING_DAYS,
                        0};
    int c, ret;
    char *end;

    /* The gateway the configuration describes; an unspecified bind address is reached on loopback. */
    if (strcmp(ctx->cfg.listen_host, "0.0.0.0") == 0)
        snprintf(o.gateway, sizeof(o.gateway), "http://127.0.0.1:%u", ctx->cfg.listen_port);
    else if (strcmp(ctx->cfg.listen_host, "::") == 0)
        snprintf(o.gateway, sizeof(o.gateway), "http://[::1]:%u", ctx->cfg.listen_port);
    else if (strchr(ctx->cfg.listen_host, ':') != NULL)
        snprintf(o.gateway, sizeof(o.gateway), "http://[%s]:%u", ctx->cfg.listen_host, ctx->cfg.listen_port);
    else
        snprintf(o.gateway, sizeof(o.gateway), "http://%s:%u", ctx->cfg.listen_host, ctx->cfg.listen_port);
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'r':
            if (parse_count(&o.target_redemptions, optarg) != 0)
                return cli_usage(ctx);
            break;
        case 's':
            if (parse_count(&o.target_signups, optarg) != 0)
                return cli_usage(ctx);
            break;
        case 'x':
            if (parse_count(&o.max_expiring, optarg) != 0)
                return cli_usage(ctx);
            break;
        case 'g':
            if (strcmp(optarg, "off") == 0) {
                o.gateway[0] = '\0';
            } else if (strncmp(optarg, "http://", 7) != 0 || strlen(optarg) >= sizeof(o.gateway)) {
                cli_error(ctx, "--gateway takes http://IP:PORT or off");
                return CLI_EXIT_USAGE;
            } else {
                snprintf(o.gateway, sizeof(o.gateway), "%s", optarg);
            }
            break;
        case 'e':
            o.max_error_rate = strtod(optarg, &end);
            if (*optarg == '\0' || *end != '\0' || !(o.max_error_rate >= 0 && o.max_error_rate <= 1)) {
                cli_error(ctx, "--max-error-rate takes a number from 0 to 1");
                return CLI_EXIT_USAGE;
            }
            break;
        case 'l':
            if (cli_parse_uint(&o.max_lag_s, optarg, 0, 86400 * 30) != 0)
                return cli_usage(ctx);
            break;
        case 'd':
            if (cli_parse_uint(&o.expiring_days, optarg, 1, 3650) != 0)
                return cli_usage(ctx);
            break;
        case 'w':
            if (cli_parse_uint(&o.watch_s, optarg, 1, 86400) != 0)
                return cli_usage(ctx);
            break;
        default:
            return cli_usage(ctx);
        }
    }
    if (optind != argc)
        return cli_usage(ctx);
    for (;;) {
        if (o.watch_s != 0 && ctx->is_tty && !ctx->json)
            fputs("\x1b[H\x1b[2J", stdout);
        ret = run_round(ctx, &o);
        if (o.watch_s == 0)
            return ret;
        sleep(o.watch_s);
    }
}
