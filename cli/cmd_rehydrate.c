/*
 * invitegate rehydrate: rebuilds Redis's hot state from PostgreSQL after
 * Redis lost it (a FLUSHALL, a lost append-only file, a new instance).
 *
 * Codes: each invite whose binding is not erased gets its code record and,
 * for a multi-use code, its redeemers set back, through the library's
 * ig_rehydrate_code (lua/invitegate.lua), one atomic call per code: an
 * absent record is written as PostgreSQL has it, a present one only moves
 * forward (use count raised, never lowered; never un-revoked), so running it
 * against a Redis that survived, or twice, changes nothing newer. E-mail
 * hashes are keyed as the gateway keys them (sync_keys_derive, ig_email_key_derive).
 *
 * Points: every user's record (earned, spent, the last ledger rows, referral
 * counts) through ig_rehydrate_points, with the sync daemon's write-back
 * (sync_points_rehydrate): an absent record is written, a present one has
 * earned and spent only raised, so nobody can spend again what PostgreSQL
 * records as spent.
 *
 * People: the waitlist with every position as it was, referral codes and
 * counts, tranches earned, first shares and the waitlist's counters
 * (rehydrate_people.c). The trust gate needs nothing here: the sync daemon
 * publishes its state at its next evaluation and takes an operator's
 * override back from its last evaluation (sync/gate_run.c).
 *
 * Not rebuilt: batches (a batch re-sent with its id after the loss issues
 * new codes) and Idempotency-Key records (a retry after the loss is applied
 * again); erased people, invites and redeemers (their hash cannot be made
 * again).
 *
 * The library is the gateway's; when Redis does not hold this version (no
 * gateway has connected since Redis came back), it is loaded from the copy
 * compiled into this tool.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "ig_code.h"
#include "ig_email.h"
#include "ig_calls.h"
#include "ig_keys.h"
#include "cli.h"
#include "lag.h"
#include "people.h"
#include "points.h"
#include "rehydrate.h"

extern const char gw_lua_source[];
extern const size_t gw_lua_source_len;

#define REHYDRATE_DEFAULT_WAIT_S 10
#define REHYDRATE_REDEEMERS_PER_CALL 1000
#define REHYDRATE_LISTED 50
#define CODE_SHOWN_CHARS 6

const char cli_rehydrate_run_help[] =
    "Rebuilds Redis's hot state from PostgreSQL after Redis lost its data. Codes: every invite whose address was\n"
    "not erased gets its record (max_uses, use count, expiry, revocation, binding, first redeemer) and, for a\n"
    "multi-use code, its redeemers back. Points records: earned, spent and the last ledger rows. People: the\n"
    "waitlist with every position as it was, admissions, referral codes and counts, tranches earned, first shares\n"
    "and the waitlist's counters. Nothing newer is overwritten: a code's use count is only raised (never lowered),\n"
    "a revocation or a redeemer added (never removed), earned and spent only raised (nobody spends again what\n"
    "PostgreSQL records as spent), a person Redis holds keeps their state; a join sequence number taken by a join\n"
    "made after Redis came back empty is not overwritten (that person is placed at the end of their priority\n"
    "class, reported as moved). Running it twice changes nothing. Waits first for the sync daemon to apply what\n"
    "the streams hold. Not rebuilt: batches and Idempotency-Key records; erased people.\n"
    "\n"
    "options:\n"
    "  --check          compare only: print what would be written, write no record (the library is still loaded\n"
    "                   when Redis holds none: the comparison runs in it)\n"
    "  --wait SECONDS   how long to wait for the sync daemon to catch up (default 10)\n"
    "\n"
    "exit status: 0 done (--check: nothing missing), 1 --check found something missing, or a store failed.\n";

/* Invites with what Redis's record holds; erased bindings left out (their hash is gone). */
static const char SQL_CODES[] =
    "DECLARE rehydrate NO SCROLL CURSOR FOR SELECT i.code, i.max_uses, i.use_count, "
    "floor(extract(epoch FROM i.expires_at))::bigint, coalesce(floor(extract(epoch FROM i.revoked_at))::bigint, 0), "
    "coalesce(i.issued_to, ''), "
    "coalesce((SELECT r.email FROM redemptions AS r WHERE r.code = i.code ORDER BY r.use_number, r.redeemed_at LIMIT 1), ''), "
    "CASE WHEN i.max_uses > 1 THEN (SELECT string_agg(r.email, ' ') FROM redemptions AS r WHERE r.code = i.code "
    "AND r.email NOT LIKE 'erased:%') END "
    "FROM invites AS i WHERE i.issued_to IS NULL OR i.issued_to NOT LIKE 'erased:%'";

typedef struct rh_counts_t {
    unsigned long long checked, created, updated, redeemers;
    json_t *items; /* the first REHYDRATE_LISTED codes to write */
} rh_counts_t;

/* Whether the reply r (any depth) holds the string s. */
static int reply_has(const redisReply *r, const char *s)
{
    if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS)
        return strcmp(r->str, s) == 0;
    if (r->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i != r->elements; ++i)
            if (reply_has(r->element[i], s))
                return 1;
    return 0;
}

/*
 * Makes sure one node holds a library with ig_rehydrate_person (the newest
 * function); loads the compiled-in one otherwise. Returns 0 or -1.
 */
static int ensure_node_library(cli_ctx_t *ctx, redisContext *redis)
{
    redisReply *r = redisCommand(redis, "FUNCTION LIST LIBRARYNAME invitegate");
    int has = r != NULL && r->type == REDIS_REPLY_ARRAY && reply_has(r, "ig_rehydrate_person");

    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        cli_error(ctx, "FUNCTION LIST: %s", r == NULL ? redis->errstr : r->str);
        if (r != NULL)
            freeReplyObject(r);
        return -1;
    }
    freeReplyObject(r);
    if (has)
        return 0;
    r = redisCommand(redis, "FUNCTION LOAD REPLACE %b", gw_lua_source, gw_lua_source_len);
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        cli_error(ctx, "Redis holds no invitegate library with ig_rehydrate_person and loading this one failed: %s",
                  r == NULL ? redis->errstr : r->str);
        if (r != NULL)
            freeReplyObject(r);
        return -1;
    }
    freeReplyObject(r);
    fprintf(stderr, "invitegate rehydrate: loaded the Lua library into Redis (it did not hold this version)\n");
    return 0;
}

/* ensure_node_library on every node of route (each master of a cluster). Returns 0 or -1. */
static int ensure_library(cli_ctx_t *ctx, const sync_route_t *route)
{
    for (size_t i = 0; i != route->num_nodes; ++i)
        if (ensure_node_library(ctx, route->nodes[i]) != 0)
            return -1;
    return 0;
}

/* The connection of the bucket of a code body. */
static redisContext *code_redis(const sync_route_t *route, const char *code)
{
    return sync_route_bucket(route, ig_code_bucket(code, route->buckets));
}

/*
 * Sends the calls of row i of res (one per REHYDRATE_REDEEMERS_PER_CALL
 * redeemers, at least one) on the connection of the code's bucket and
 * returns how many, or -1.
 */
static int send_code(const sync_route_t *route, PGresult *res, int i, const unsigned char *email_key, int write)
{
    const char *code = PQgetvalue(res, i, 0), *bound = PQgetvalue(res, i, 5), *first = PQgetvalue(res, i, 6);
    char *redeemers = strdup(PQgetvalue(res, i, 7)), set_key[IG_KEY_MAX_BYTES], *save = NULL;
    unsigned char bound_h[IG_EMAIL_HASH_BYTES], first_h[IG_EMAIL_HASH_BYTES];
    static unsigned char hashes[REHYDRATE_REDEEMERS_PER_CALL][IG_EMAIL_HASH_BYTES];
    static const char *argv[IG_CALL_ARGC(REHYDRATE_CODE, REHYDRATE_REDEEMERS_PER_CALL)];
    static size_t lens[IG_CALL_ARGC(REHYDRATE_CODE, REHYDRATE_REDEEMERS_PER_CALL)];
    ig_code_keys_t k;
    char *e;
    int calls = 0;

    if (redeemers == NULL)
        return -1;
    ig_code_keys(&k, code, route->buckets);
    ig_key_redeemers(set_key, k.bucket, code);
    if (bound[0] != '\0')
        ig_email_hash(bound_h, bound, strlen(bound), email_key);
    if (first[0] != '\0' && strncmp(first, "erased:", 7) != 0)
        ig_email_hash(first_h, first, strlen(first), email_key);
    else
        first = "";
    e = strtok_r(redeemers, " ", &save);
    do {
        size_t n = 0;
        ig_fcall_t c;
        for (; e != NULL && n != REHYDRATE_REDEEMERS_PER_CALL; e = strtok_r(NULL, " ", &save), ++n)
            ig_email_hash(hashes[n], e, strlen(e), email_key);
        ig_fcall_begin(&c, IG_CALL_REHYDRATE_CODE, n, argv, lens, IG_CALL_ARGC(REHYDRATE_CODE, REHYDRATE_REDEEMERS_PER_CALL));
        const char *strs[] = {k.hash, set_key, k.field, write ? "1" : "0"};
        ig_fcall_strs(&c, strs, 4);
        for (int col = 1; col != 5; ++col)
            ig_fcall_str(&c, PQgetvalue(res, i, col));
        ig_fcall_bin(&c, bound_h, bound[0] != '\0' ? IG_EMAIL_HASH_BYTES : 0);
        ig_fcall_bin(&c, first_h, first[0] != '\0' ? IG_EMAIL_HASH_BYTES : 0);
        for (size_t r = 0; r != n; ++r)
            ig_fcall_bin(&c, hashes[r], IG_EMAIL_HASH_BYTES);
        if (redisAppendCommandArgv(sync_route_bucket(route, k.bucket), (int)ig_fcall_end(&c), argv, lens) != REDIS_OK) {
            free(redeemers);
            return -1;
        }
        ++calls;
    } while (e != NULL);
    free(redeemers);
    return calls;
}

/*
 * Takes the calls' replies for row i from the connection of its code's
 * bucket (rows are taken in the order sent, so each connection's replies
 * come in order); counts them into c. Returns 0 or -1.
 */
static int take_replies(cli_ctx_t *ctx, const sync_route_t *route, PGresult *res, int i, int calls, rh_counts_t *c)
{
    const char *code = PQgetvalue(res, i, 0);
    redisContext *redis = code_redis(route, code);
    long long missing = 0;
    const char *verdict = "same";

    for (int n = 0; n != calls; ++n) {
        redisReply *r;
        if (redisGetReply(redis, (void **)&r) != REDIS_OK) {
            cli_error(ctx, "ig_rehydrate_code: %s", redis->errstr);
            return -1;
        }
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_STRING) {
            cli_error(ctx, "ig_rehydrate_code: %s", r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
            freeReplyObject(r);
            return -1;
        }
        if (n == 0)
            verdict = strcmp(r->element[0]->str, "created") == 0   ? "created"
                      : strcmp(r->element[0]->str, "updated") == 0 ? "updated"
                                                                   : "same";
        missing += r->element[1]->integer;
        freeReplyObject(r);
    }
    ++c->checked;
    c->created += strcmp(verdict, "created") == 0;
    c->updated += strcmp(verdict, "updated") == 0;
    c->redeemers += (unsigned long long)missing;
    if ((strcmp(verdict, "same") != 0 || missing != 0) && json_array_size(c->items) < REHYDRATE_LISTED)
        json_array_append_new(c->items, json_pack("{s:s%, s:s, s:I, s:i, s:i}", "code", code, (size_t)CODE_SHOWN_CHARS, "record",
                                                  verdict, "redeemers", (json_int_t)missing, "uses", atoi(PQgetvalue(res, i, 2)),
                                                  "max_uses", atoi(PQgetvalue(res, i, 1))));
    return 0;
}

typedef struct rh_codes_arg_t {
    const sync_route_t *route;
    const unsigned char *email_key;
    int write;
    rh_counts_t *counts;
} rh_codes_arg_t;

/* One fetch of invites: a pipeline of calls, then their replies (cli_rows_fn). */
static int code_rows(cli_ctx_t *ctx, PGresult *res, void *arg)
{
    rh_codes_arg_t *a = arg;
    int n = PQntuples(res), calls[CLI_PG_FETCH_ROWS];

    for (int i = 0; i != n; ++i)
        if (ig_code_form(PQgetvalue(res, i, 0), strlen(PQgetvalue(res, i, 0))) == IG_CODE_INVALID)
            calls[i] = 0; /* neither an issued nor an imported body: not in Redis's layout */
        else if ((calls[i] = send_code(a->route, res, i, a->email_key, a->write)) < 0) {
            cli_error(ctx, "sending to Redis: %s", code_redis(a->route, PQgetvalue(res, i, 0))->errstr);
            return -1;
        }
    for (int i = 0; i != n; ++i)
        if (calls[i] != 0 && take_replies(ctx, a->route, res, i, calls[i], a->counts) != 0)
            return -1;
    return 0;
}

/* Walks the invites with a cursor, a pipeline of calls per fetch. Returns 0 or -1. */
static int rehydrate_codes(cli_ctx_t *ctx, const sync_route_t *route, PGconn *pg, const unsigned char *email_key, int write,
                           rh_counts_t *c)
{
    rh_codes_arg_t a = {route, email_key, write, c};
    PGresult *res;
    int ret;

    if ((res = cli_pg_exec(ctx, pg, "BEGIN READ ONLY", PGRES_COMMAND_OK)) == NULL)
        return -1;
    PQclear(res);
    ret = cli_pg_each(ctx, pg, SQL_CODES, "rehydrate", code_rows, &a);
    PQclear(PQexec(pg, "ROLLBACK"));
    return ret;
}

/* The points records, with the sync daemon's write-back. Returns 0 or -1. */
static int rehydrate_points(cli_ctx_t *ctx, redisContext *redis, PGconn *pg, sync_points_t *points, int check)
{
    if (sync_points_rehydrate(points, pg, redis, check ? SYNC_POINTS_REHYDRATE_CHECK : SYNC_POINTS_REHYDRATE_WRITE) == 0)
        return 0;
    cli_error(ctx, "points: %s", points->errstr);
    return -1;
}

int cli_rehydrate_run(cli_ctx_t *ctx, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"check", no_argument, NULL, 'c'}, {"wait", required_argument, NULL, 'w'}, {NULL, 0, NULL, 0}};
    unsigned wait_s = REHYDRATE_DEFAULT_WAIT_S;
    rh_counts_t counts = {0, 0, 0, 0, NULL};
    sync_route_t *route;
    redisContext *redis;
    PGconn *pg;
    int c, check = 0, ret = CLI_EXIT_FAIL;
    unsigned long long missing;
    sync_keys_t keys;
    sync_points_t points;
    cli_rh_people_t people = {0, 0, 0, 0, 0, 0, 0};

    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (c == 'c')
            check = 1;
        else if (c != 'w' || cli_parse_uint(&wait_s, optarg, 0, 3600) != 0)
            return cli_usage(ctx);
    }
    if (optind != argc)
        return cli_usage(ctx);
    if (!ctx->cfg.has_secret_key) {
        cli_error(ctx, "needs secret_key (bindings and redeemers are keyed hashes in Redis)");
        return CLI_EXIT_FAIL;
    }
    /* Points and people live in bucket 0: cli_redis, on a cluster its master's connection. */
    if ((route = cli_route(ctx)) == NULL || (redis = cli_redis(ctx)) == NULL || (pg = cli_pg(ctx)) == NULL ||
        ensure_library(ctx, route) != 0)
        return CLI_EXIT_FAIL;
    if (cli_lag_settle(ctx, route, pg, wait_s, "PostgreSQL is behind Redis, its counts are not the newest") != 0)
        return CLI_EXIT_FAIL;
    sync_keys_derive(&keys, ctx->cfg.secret_key);
    sync_points_init(&points, &ctx->cfg, &keys);
    counts.items = json_array();
    if (rehydrate_codes(ctx, route, pg, keys.email, !check, &counts) == 0 &&
        rehydrate_points(ctx, redis, pg, &points, check) == 0 &&
        cli_rehydrate_people(ctx, redis, pg, &keys, !check, &people) == 0) {
        missing = counts.created + counts.updated + counts.redeemers + points.rehydrated.created + points.rehydrated.updated +
                  people.created + people.updated + people.moved + people.shares + people.counters;
        ret = check && missing != 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK;
        if (ctx->json)
            cli_json_print(json_pack(
                "{s:b, s:{s:I, s:I, s:I, s:I, s:O}, s:{s:I, s:I, s:I}, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I}}", "check", check,
                "codes", "checked", (json_int_t)counts.checked, "created", (json_int_t)counts.created, "updated",
                (json_int_t)counts.updated, "redeemers_added", (json_int_t)counts.redeemers, "items", counts.items, "points",
                "checked", (json_int_t)points.rehydrated.checked, "created", (json_int_t)points.rehydrated.created, "updated",
                (json_int_t)points.rehydrated.updated, "people", "checked", (json_int_t)people.checked, "created",
                (json_int_t)people.created, "updated", (json_int_t)people.updated, "kept", (json_int_t)people.kept, "moved",
                (json_int_t)people.moved, "shares", (json_int_t)people.shares, "counters", (json_int_t)people.counters));
        else {
            size_t i;
            json_t *item;
            printf("codes     checked %llu, %s %llu records, %llu %s, %llu redeemers\n", counts.checked,
                   check ? "missing" : "created", counts.created, counts.updated, check ? "behind" : "raised", counts.redeemers);
            printf("points    checked %zu, %s %zu records, %zu %s\n", points.rehydrated.checked, check ? "missing" : "created",
                   points.rehydrated.created, points.rehydrated.updated, check ? "behind" : "raised");
            printf("people    checked %llu, %s %llu records, %llu %s, %llu kept newer, %llu moved; %llu first shares, %llu "
                   "waitlist counters\n",
                   people.checked, check ? "missing" : "created", people.created, people.updated, check ? "behind" : "raised",
                   people.kept, people.moved, people.shares, people.counters);
            json_array_foreach(counts.items, i, item)
            {
                char *s = json_dumps(item, JSON_COMPACT | JSON_PRESERVE_ORDER);
                printf("  %s\n", s);
                free(s);
            }
            printf(missing == 0 ? "nothing to write\n" : check ? "would write: %llu\n" : "written: %llu\n", missing);
        }
    }
    sync_keys_wipe(&keys);
    json_decref(counts.items);
    return ret;
}
