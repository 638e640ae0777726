/*
 * invitegate reconcile: compares Redis's hot state with PostgreSQL's record
 * and prints the drift; exit 1 when there is any (or when the comparison
 * could not be made), 0 when the two agree.
 *
 *   codes     every code record in Redis (ig_key_code_hash) against invites:
 *             use counts and max_uses that differ, codes only in Redis,
 *             and unexpired codes only in PostgreSQL
 *   waitlist  the people waiting in Redis (user records in state 'w')
 *             against waitlist rows not admitted and not erased
 *   points    balances against the sum of their ledger rows (PostgreSQL),
 *             and Redis's earned and spent against PostgreSQL's totals for
 *             balances that last changed more than POINTS_SETTLE_S ago (the
 *             daemon writes earned points back to Redis every few seconds)
 *
 * Redis is ahead of PostgreSQL by the events not yet applied, so reconcile
 * first waits (--wait, 10 s by default) until PostgreSQL has applied every
 * event the streams held when it started. Changes made during the
 * comparison itself may show as drift: run it again to confirm.
 *
 * Redis is walked with SCAN (never KEYS) and the packed records are read by
 * a read-only script per small hash, which unpacks them as the library
 * does. Codes and addresses are never printed: a code as its first
 * characters, a person as the hex of their keyed hash.
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "ig_code.h"
#include "ig_email.h"
#include "ig_keys.h"
#include "cli.h"
#include "lag.h"

#define RECONCILE_DEFAULT_WAIT_S 10
#define RECONCILE_LISTED 50
#define RECONCILE_SCAN_COUNT "1000"
#define POINTS_SETTLE_S 10
#define CODE_SHOWN_CHARS 6

const char cli_reconcile_run_help[] =
    "Compares Redis with PostgreSQL and prints the drift: per-code use counts (and codes on one side only), waitlist\n"
    "membership, and points (balances against the ledger, Redis's earned and spent against PostgreSQL's). Waits first\n"
    "for the sync daemon to apply what the streams hold. Codes are shown by their first characters, people by hash.\n"
    "\n"
    "options:\n"
    "  --wait SECONDS   how long to wait for the sync daemon to catch up (default 10)\n"
    "\n"
    "exit status: 0 no drift, 1 drift found (or the sync daemon did not catch up, or a store failed).\n";

/* A code record of Redis: where it is (bucket * IG_SUBHASHES + small hash, field) and its counts. */
typedef struct rc_code_t {
    uint32_t slot;
    char field[IG_CODE_BODY_LEN - 3 + 1];
    int32_t uses, max;
    int seen; /* matched by a PostgreSQL row */
} rc_code_t;

/* A person of Redis: their e-mail hash and two values (waiting: none; points: earned, spent). */
typedef struct rc_person_t {
    unsigned char hash8[IG_EMAIL_HASH_BYTES];
    long long a, b;
    int seen;
} rc_person_t;

typedef struct rc_vec_t {
    void *items;
    size_t n, cap, size;
} rc_vec_t;

static void *vec_push(rc_vec_t *v)
{
    if (v->n == v->cap) {
        v->cap = v->cap != 0 ? v->cap * 2 : 1024;
        if ((v->items = realloc(v->items, v->cap * v->size)) == NULL)
            abort();
    }
    return memset((char *)v->items + v->n++ * v->size, 0, v->size);
}

/* Sorts v for vec_find (libc wants a non-null array even when empty). */
static void vec_sort(rc_vec_t *v, int (*cmp)(const void *, const void *))
{
    if (v->n != 0)
        qsort(v->items, v->n, v->size, cmp);
}

static void *vec_find(const rc_vec_t *v, const void *key, int (*cmp)(const void *, const void *))
{
    return v->n != 0 ? bsearch(key, v->items, v->n, v->size, cmp) : NULL;
}

static int cmp_code(const void *a, const void *b)
{
    const rc_code_t *x = a, *y = b;
    return x->slot != y->slot ? (x->slot < y->slot ? -1 : 1) : strcmp(x->field, y->field);
}

static int cmp_person(const void *a, const void *b)
{
    return memcmp(((const rc_person_t *)a)->hash8, ((const rc_person_t *)b)->hash8, IG_EMAIL_HASH_BYTES);
}

/* The drift found, by category: a count and the first RECONCILE_LISTED items. */
typedef struct rc_report_t {
    json_t *doc;
    size_t drift;
} rc_report_t;

static void drift(rc_report_t *r, const char *section, const char *kind, json_t *item)
{
    json_t *s = json_object_get(r->doc, section), *list;
    json_int_t n = json_integer_value(json_object_get(s, kind)) + 1;

    json_object_set_new(s, kind, json_integer(n));
    if ((list = json_object_get(s, "items")) == NULL)
        json_object_set_new(s, "items", list = json_array());
    if (json_array_size(list) < RECONCILE_LISTED) {
        json_object_set_new(item, "kind", json_string(kind));
        json_array_append(list, item);
    }
    json_decref(item);
    ++r->drift;
}

/*
 * Unpacks every record of one small hash as the library packs them
 * (lua/invitegate.lua, waitlist.lua, points.lua). ARGV[1]: 'c' code records
 * (field, max, uses), 'u' user records (the fields of people waiting), 'p'
 * points records (field, earned, spent). Read-only.
 */
static const char UNPACK_LUA[] = "#!lua flags=no-writes\n"
                                 "local out, all = {}, redis.call('HGETALL', KEYS[1])\n"
                                 "for i = 1, #all, 2 do\n"
                                 "  local a, b = cmsgpack.unpack(all[i + 1])\n"
                                 "  if ARGV[1] == 'u' then\n"
                                 "    if a == 'w' then out[#out + 1] = all[i] end\n"
                                 "  else\n"
                                 "    out[#out + 1] = all[i]; out[#out + 1] = a or 0; out[#out + 1] = b or 0\n"
                                 "  end\n"
                                 "end\n"
                                 "return out\n";

typedef int (*rc_take_fn)(void *arg, const char *key, const redisReply *r);

/* SCANs the keys matching pattern on one node and hands each one's unpacked records to take. Returns 0 or -1. */
static int scan_node(cli_ctx_t *ctx, redisContext *redis, const char *pattern, const char *mode, rc_take_fn take, void *arg)
{
    char cursor[32] = "0";

    do {
        redisReply *s = redisCommand(redis, "SCAN %s MATCH %s COUNT %s", cursor, pattern, RECONCILE_SCAN_COUNT);
        if (s == NULL || s->type != REDIS_REPLY_ARRAY || s->elements != 2) {
            cli_error(ctx, "SCAN %s: %s", pattern, s == NULL ? redis->errstr : s->type == REDIS_REPLY_ERROR ? s->str : "bad reply");
            if (s != NULL)
                freeReplyObject(s);
            return -1;
        }
        snprintf(cursor, sizeof(cursor), "%s", s->element[0]->str);
        for (size_t i = 0; i != s->element[1]->elements; ++i) {
            const char *key = s->element[1]->element[i]->str;
            redisReply *r = redisCommand(redis, "EVAL %s 1 %s %s", UNPACK_LUA, key, mode);
            int bad = r == NULL || r->type != REDIS_REPLY_ARRAY || take(arg, key, r) != 0;
            if (bad)
                cli_error(ctx, "reading %s: %s", key,
                          r == NULL                      ? redis->errstr
                          : r->type == REDIS_REPLY_ERROR ? r->str
                                                         : "bad reply");
            if (r != NULL)
                freeReplyObject(r);
            if (bad) {
                freeReplyObject(s);
                return -1;
            }
        }
        freeReplyObject(s);
    } while (strcmp(cursor, "0") != 0);
    return 0;
}

/* scan_node on every node of route: each master of a cluster holds the keys of its slots. Returns 0 or -1. */
static int scan_unpack(cli_ctx_t *ctx, const sync_route_t *route, const char *pattern, const char *mode, rc_take_fn take, void *arg)
{
    for (size_t i = 0; i != route->num_nodes; ++i)
        if (scan_node(ctx, route->nodes[i], pattern, mode, take, arg) != 0)
            return -1;
    return 0;
}

static int take_codes(void *arg, const char *key, const redisReply *r)
{
    unsigned b, sub;
    if (ig_key_parse_code_hash(key, &b, &sub) != 0 || r->elements % 3 != 0)
        return -1;
    for (size_t i = 0; i < r->elements; i += 3) {
        rc_code_t *c = vec_push(arg);
        c->slot = b * IG_SUBHASHES + sub;
        snprintf(c->field, sizeof(c->field), "%s", r->element[i]->str);
        c->max = (int32_t)r->element[i + 1]->integer;
        c->uses = (int32_t)r->element[i + 2]->integer;
    }
    return 0;
}

static int take_people(void *arg, const char *key, const redisReply *r, size_t stride)
{
    (void)key;
    for (size_t i = 0; i < r->elements; i += stride) {
        rc_person_t *p;
        if (r->element[i]->type != REDIS_REPLY_STRING || r->element[i]->len != IG_EMAIL_HASH_BYTES)
            continue; /* not a person's record */
        p = vec_push(arg);
        memcpy(p->hash8, r->element[i]->str, IG_EMAIL_HASH_BYTES);
        if (stride == 3) {
            p->a = r->element[i + 1]->integer;
            p->b = r->element[i + 2]->integer;
        }
    }
    return 0;
}

static int take_waiting(void *arg, const char *key, const redisReply *r)
{
    return take_people(arg, key, r, 1);
}

static int take_points(void *arg, const char *key, const redisReply *r)
{
    return r->elements % 3 == 0 ? take_people(arg, key, r, 3) : -1;
}

static void hex8(char out[IG_EMAIL_HASH_BYTES * 2 + 1], const unsigned char h[IG_EMAIL_HASH_BYTES])
{
    sodium_bin2hex(out, IG_EMAIL_HASH_BYTES * 2 + 1, h, IG_EMAIL_HASH_BYTES);
}

static PGresult *query(cli_ctx_t *ctx, PGconn *pg, const char *sql)
{
    PGresult *res = PQexec(pg, sql);
    if (PQresultStatus(res) == PGRES_TUPLES_OK)
        return res;
    cli_error(ctx, "query: %s", PQresultErrorMessage(res));
    PQclear(res);
    return NULL;
}

/*
 * Reads one side from each store: the records of the keys matching pattern
 * (sorted by cmp into v), then the rows of sql. Returns the rows, or NULL
 * after printing why.
 */
static PGresult *load_sides(cli_ctx_t *ctx, const sync_route_t *route, PGconn *pg, const char *pattern, const char *mode,
                            rc_take_fn take, rc_vec_t *v, int (*cmp)(const void *, const void *), const char *sql)
{
    if (scan_unpack(ctx, route, pattern, mode, take, v) != 0)
        return NULL;
    vec_sort(v, cmp);
    return query(ctx, pg, sql);
}

static int check_codes(cli_ctx_t *ctx, const sync_route_t *route, PGconn *pg, rc_report_t *rep)
{
    rc_vec_t v = {NULL, 0, 0, sizeof(rc_code_t)};
    PGresult *res = NULL;
    int ret = -1;

    char pattern[IG_KEY_MAX_BYTES];
    /* One SCAN for every bucket: only code hashes have "}:c:" in their names. */
    ig_key_pattern(pattern, IG_KEY_ANY_BUCKET, "c");
    if ((res = load_sides(ctx, route, pg, pattern, "c", take_codes, &v, cmp_code,
                          "SELECT code, use_count, max_uses, expires_at < now() FROM invites")) == NULL)
        goto Exit;
    for (int i = 0; i != PQntuples(res); ++i) {
        const char *code = PQgetvalue(res, i, 0);
        ig_code_keys_t k;
        rc_code_t key = {0}, *c;
        int uses = atoi(PQgetvalue(res, i, 1)), max = atoi(PQgetvalue(res, i, 2));
        if (ig_code_form(code, strlen(code)) == IG_CODE_INVALID)
            continue; /* not a code of either form: not in Redis's layout */
        ig_code_keys(&k, code, ctx->cfg.buckets);
        key.slot = k.bucket * IG_SUBHASHES + ig_code_subhash(code);
        memcpy(key.field, k.field, sizeof(key.field));
        c = vec_find(&v, &key, cmp_code);
        if (c == NULL) {
            if (strcmp(PQgetvalue(res, i, 3), "t") != 0)
                drift(rep, "codes", "missing_in_redis",
                      json_pack("{s:s%, s:i}", "code", code, (size_t)CODE_SHOWN_CHARS, "postgresql_uses", uses));
            continue;
        }
        c->seen = 1;
        if (c->uses != uses || c->max != max)
            drift(rep, "codes", "use_count",
                  json_pack("{s:s%, s:i, s:i, s:i, s:i}", "code", code, (size_t)CODE_SHOWN_CHARS, "redis_uses", c->uses,
                            "postgresql_uses", uses, "redis_max_uses", c->max, "postgresql_max_uses", max));
    }
    for (size_t i = 0; i != v.n; ++i) {
        const rc_code_t *c = (const rc_code_t *)v.items + i;
        if (!c->seen)
            drift(rep, "codes", "missing_in_postgresql",
                  json_pack("{s:i, s:i, s:i}", "bucket", c->slot / IG_SUBHASHES, "small_hash", c->slot % IG_SUBHASHES, "redis_uses",
                            c->uses));
    }
    json_object_set_new(json_object_get(rep->doc, "codes"), "checked", json_integer((json_int_t)v.n));
    ret = 0;
Exit:
    PQclear(res);
    free(v.items);
    return ret;
}

/*
 * The hash8 of a normalised address in PostgreSQL, and the Redis record it
 * names in v (NULL when none); marks it seen.
 */
static rc_person_t *find_person(rc_vec_t *v, unsigned char hash8[IG_EMAIL_HASH_BYTES], const char *email, const unsigned char *key)
{
    rc_person_t probe;
    rc_person_t *p;

    ig_email_hash(hash8, email, strlen(email), key);
    memcpy(probe.hash8, hash8, IG_EMAIL_HASH_BYTES);
    if ((p = vec_find(v, &probe, cmp_person)) != NULL)
        p->seen = 1;
    return p;
}

static int check_waitlist(cli_ctx_t *ctx, const sync_route_t *route, PGconn *pg, const unsigned char *email_key, rc_report_t *rep)
{
    rc_vec_t v = {NULL, 0, 0, sizeof(rc_person_t)};
    PGresult *res = NULL;
    char pattern[IG_KEY_MAX_BYTES], hex[IG_EMAIL_HASH_BYTES * 2 + 1];
    unsigned char h[IG_EMAIL_HASH_BYTES];
    int ret = -1;

    ig_key_pattern(pattern, IG_WL_BUCKET, "u");
    if ((res = load_sides(ctx, route, pg, pattern, "u", take_waiting, &v, cmp_person,
                          "SELECT email FROM waitlist WHERE invited_at IS NULL AND email NOT LIKE 'erased:%'")) == NULL)
        goto Exit;
    for (int i = 0; i != PQntuples(res); ++i)
        if (find_person(&v, h, PQgetvalue(res, i, 0), email_key) == NULL) {
            hex8(hex, h);
            drift(rep, "waitlist", "waiting_only_in_postgresql", json_pack("{s:s}", "person", hex));
        }
    for (size_t i = 0; i != v.n; ++i) {
        const rc_person_t *p = (const rc_person_t *)v.items + i;
        if (!p->seen) {
            hex8(hex, p->hash8);
            drift(rep, "waitlist", "waiting_only_in_redis", json_pack("{s:s}", "person", hex));
        }
    }
    json_object_set_new(json_object_get(rep->doc, "waitlist"), "checked", json_integer((json_int_t)v.n));
    ret = 0;
Exit:
    PQclear(res);
    free(v.items);
    return ret;
}

static int check_points(cli_ctx_t *ctx, const sync_route_t *route, PGconn *pg, const unsigned char *email_key, rc_report_t *rep)
{
    rc_vec_t v = {NULL, 0, 0, sizeof(rc_person_t)};
    PGresult *res = NULL;
    char pattern[IG_KEY_MAX_BYTES], hex[IG_EMAIL_HASH_BYTES * 2 + 1], sql[512];
    unsigned char h[IG_EMAIL_HASH_BYTES];
    int ret = -1;

    /* Invariant 5, inside PostgreSQL: a balance is the sum of its ledger. */
    if ((res = query(ctx, pg,
                     "SELECT b.user_id, b.balance, COALESCE(l.sum, 0) FROM user_point_balances AS b "
                     "LEFT JOIN (SELECT user_id, sum(delta) AS sum FROM user_point_transactions GROUP BY user_id) AS l "
                     "ON l.user_id = b.user_id WHERE b.balance <> COALESCE(l.sum, 0)")) == NULL)
        goto Exit;
    for (int i = 0; i != PQntuples(res); ++i)
        drift(rep, "points", "balance_vs_ledger",
              json_pack("{s:s, s:I, s:I}", "user_id", PQgetvalue(res, i, 0), "balance", (json_int_t)atoll(PQgetvalue(res, i, 1)),
                        "ledger_sum", (json_int_t)atoll(PQgetvalue(res, i, 2))));
    PQclear(res);
    res = NULL;

    ig_key_pattern(pattern, IG_WL_BUCKET, "p");
    snprintf(sql, sizeof(sql),
             "SELECT e.email, b.total_earned, -b.total_spent FROM user_point_balances AS b JOIN user_emails AS e "
             "ON e.user_id = b.user_id WHERE e.email IS NOT NULL AND b.updated_at < now() - interval '%d seconds'",
             POINTS_SETTLE_S);
    if ((res = load_sides(ctx, route, pg, pattern, "p", take_points, &v, cmp_person, sql)) == NULL)
        goto Exit;
    for (int i = 0; i != PQntuples(res); ++i) {
        long long earned = atoll(PQgetvalue(res, i, 1)), spent = atoll(PQgetvalue(res, i, 2));
        const rc_person_t *p = find_person(&v, h, PQgetvalue(res, i, 0), email_key);
        if ((p == NULL && (earned != 0 || spent != 0)) || (p != NULL && (p->a != earned || p->b != spent))) {
            hex8(hex, h);
            drift(rep, "points", "redis_vs_postgresql",
                  json_pack("{s:s, s:I, s:I, s:I, s:I}", "person", hex, "redis_earned", (json_int_t)(p != NULL ? p->a : 0),
                            "postgresql_earned", (json_int_t)earned, "redis_spent", (json_int_t)(p != NULL ? p->b : 0),
                            "postgresql_spent", (json_int_t)spent));
        }
    }
    json_object_set_new(json_object_get(rep->doc, "points"), "checked", json_integer((json_int_t)v.n));
    ret = 0;
Exit:
    PQclear(res);
    free(v.items);
    return ret;
}

static void print_text(const rc_report_t *rep)
{
    const char *name;
    json_t *section;

    json_object_foreach(rep->doc, name, section)
    {
        const char *kind;
        json_t *val;
        if (!json_is_object(section))
            continue;
        printf("%-9s checked %lld", name, (long long)json_integer_value(json_object_get(section, "checked")));
        json_object_foreach(section, kind, val) if (strcmp(kind, "checked") != 0 && json_is_integer(val))
            printf(", %s %lld", kind, (long long)json_integer_value(val));
        putchar('\n');
        size_t i;
        json_t *item;
        json_array_foreach(json_object_get(section, "items"), i, item)
        {
            char *s = json_dumps(item, JSON_COMPACT | JSON_PRESERVE_ORDER);
            printf("  %s\n", s);
            free(s);
        }
    }
    printf(rep->drift != 0 ? "drift: %zu\n" : "no drift\n", rep->drift);
}

int cli_reconcile_run(cli_ctx_t *ctx, int argc, char **argv)
{
    static const struct option longopts[] = {{"wait", required_argument, NULL, 'w'}, {NULL, 0, NULL, 0}};
    unsigned wait_s = RECONCILE_DEFAULT_WAIT_S;
    unsigned char email_key[IG_EMAIL_KEY_BYTES];
    rc_report_t rep = {NULL, 0};
    sync_route_t *route;
    PGconn *pg;
    int c, ret = CLI_EXIT_FAIL;

    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1)
        if (c != 'w' || cli_parse_uint(&wait_s, optarg, 0, 3600) != 0)
            return cli_usage(ctx);
    if (optind != argc)
        return cli_usage(ctx);
    if (!ctx->cfg.has_secret_key) {
        cli_error(ctx, "needs secret_key (people are matched by their keyed hash)");
        return CLI_EXIT_FAIL;
    }
    if ((route = cli_route(ctx)) == NULL || (pg = cli_pg(ctx)) == NULL)
        return CLI_EXIT_FAIL;
    if (cli_lag_settle(ctx, route, pg, wait_s, "drift cannot be told from lag") != 0)
        return CLI_EXIT_FAIL;
    ig_email_key_derive(email_key, ctx->cfg.secret_key);
    rep.doc = json_pack("{s:{s:i}, s:{s:i}, s:{s:i}}", "codes", "checked", 0, "waitlist", "checked", 0, "points", "checked", 0);
    if (check_codes(ctx, route, pg, &rep) == 0 && check_waitlist(ctx, route, pg, email_key, &rep) == 0 &&
        check_points(ctx, route, pg, email_key, &rep) == 0) {
        ret = rep.drift != 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK;
        json_object_set_new(rep.doc, "drift", json_integer((json_int_t)rep.drift));
        if (ctx->json)
            cli_json_print(json_incref(rep.doc));
        else
            print_text(&rep);
    }
    sodium_memzero(email_key, sizeof(email_key));
    json_decref(rep.doc);
    return ret;
}
