/* Invariant checks against Redis and PostgreSQL (check.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "bench.h"
#include "check.h"
#include "ig_calls.h"
#include "keys.h"
#include "rconn.h"

#define SYNC_POLL_NS (2 * 1000000L)

/* ---- Redis: use counts ------------------------------------------------- */

static int append_status(redisContext *c, const bench_code_t *code, unsigned buckets)
{
    bench_code_keys_t k;
    bench_code_keys(&k, code->body, buckets);
    IG_FCALL_LOCAL(call, STATUS, 0);
    ig_fcall_str(&call, k.hash);
    ig_fcall_str(&call, k.field);
    if (redisAppendCommandArgv(c, (int)ig_fcall_end(&call), call.argv, call.lens) != REDIS_OK) {
        bench_error("redis FCALL ig_status: %s", c->errstr);
        return -1;
    }
    return 0;
}

static int read_status(redisContext *c, const bench_pool_t *pool, size_t i, bench_redis_uses_t *out)
{
    redisReply *reply = bench_redis_next(c, "FCALL ig_status");
    const char *verdict;
    int ret = -1;

    if (reply == NULL)
        return -1;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 || reply->element[0]->type != REDIS_REPLY_STRING) {
        bench_error("redis FCALL ig_status: unexpected reply (type %d%s%s)", reply->type,
                    reply->type == REDIS_REPLY_ERROR ? ": " : "", reply->type == REDIS_REPLY_ERROR ? reply->str : "");
        goto Exit;
    }
    verdict = reply->element[0]->str;
    if (strcmp(verdict, "not_found") == 0) {
        ++out->missing;
        if (out->per_code != NULL)
            out->per_code[i] = -1;
    } else if (strcmp(verdict, "ok") == 0 && reply->elements >= 3 && reply->element[1]->type == REDIS_REPLY_INTEGER &&
               reply->element[2]->type == REDIS_REPLY_INTEGER) {
        long long max = reply->element[1]->integer, uses = reply->element[2]->integer;
        out->uses += uses;
        if (uses > max || max != (long long)bench_pool_max_uses(pool, &pool->codes[i]))
            ++out->over_max;
        if (out->per_code != NULL)
            out->per_code[i] = uses;
    } else {
        bench_error("redis FCALL ig_status: verdict %s", verdict);
        goto Exit;
    }
    ret = 0;
Exit:
    freeReplyObject(reply);
    return ret;
}

/* The codes of the pool served by node, in pool order, BENCH_CHECK_WINDOW calls in flight on its connection. */
static int node_uses(const sync_route_t *r, size_t node, const bench_pool_t *pool, bench_redis_uses_t *out)
{
    redisContext *c = r->nodes[node];
    size_t ring[BENCH_CHECK_WINDOW], head = 0, in_flight = 0, next = 0;

    for (;;) {
        while (next != pool->num_codes && in_flight != BENCH_CHECK_WINDOW) {
            size_t i = next++;
            if (r->num_nodes > 1 && sync_route_node_of(r, ig_code_bucket(pool->codes[i].body, r->buckets)) != node)
                continue;
            if (append_status(c, &pool->codes[i], r->buckets) != 0)
                return -1;
            ring[(head + in_flight++) % BENCH_CHECK_WINDOW] = i;
        }
        if (in_flight == 0)
            return 0;
        if (read_status(c, pool, ring[head], out) != 0)
            return -1;
        head = (head + 1) % BENCH_CHECK_WINDOW;
        --in_flight;
    }
}

int bench_check_redis_uses(const sync_route_t *r, const bench_pool_t *pool, bench_redis_uses_t *out)
{
    out->uses = out->over_max = out->missing = 0;
    for (size_t node = 0; node != r->num_nodes; ++node)
        if (node_uses(r, node, pool, out) != 0)
            return -1;
    return 0;
}

/* ---- Redis: sync daemon caught up -------------------------------------- */

static int parse_id(uint64_t out[2], const char *id)
{
    return sscanf(id, "%" SCNu64 "-%" SCNu64, &out[0], &out[1]) == 2 ? 0 : -1;
}

static int id_less(const uint64_t a[2], const uint64_t b[2])
{
    return a[0] < b[0] || (a[0] == b[0] && a[1] < b[1]);
}

/* The stream's last entry id from an XREVRANGE + - COUNT 1 reply: 1 and last set, 0 when the stream is empty, -1 on a bad reply. */
static int last_entry(uint64_t last[2], const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY)
        return -1;
    if (r->elements == 0)
        return 0;
    if (r->element[0]->type != REDIS_REPLY_ARRAY || r->element[0]->elements < 1 ||
        r->element[0]->element[0]->type != REDIS_REPLY_STRING || parse_id(last, r->element[0]->element[0]->str) != 0)
        return -1;
    return 1;
}

/*
 * One poll over every stream: caught up when each stream's last entry is at
 * or below its bucket's high-water mark in PostgreSQL (sync_progress).
 * Returns 1 when caught up, 0 when not, -1 on error.
 */
static int poll_streams(const sync_route_t *r, PGconn *pg)
{
    redisReply *last[IG_BUCKETS_MAX] = {NULL};
    uint64_t marks[IG_BUCKETS_MAX][2] = {{0}};
    PGresult *res = PQexec(pg, "SELECT bucket, last_ms, last_seq FROM sync_progress");
    int ret = 1;

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        bench_error("postgresql sync_progress: %s", PQresultErrorMessage(res));
        PQclear(res);
        return -1;
    }
    for (int i = 0; i != PQntuples(res); ++i) {
        unsigned long b = strtoul(PQgetvalue(res, i, 0), NULL, 10);
        if (b < r->buckets) {
            marks[b][0] = strtoull(PQgetvalue(res, i, 1), NULL, 10);
            marks[b][1] = strtoull(PQgetvalue(res, i, 2), NULL, 10);
        }
    }
    PQclear(res);
    for (unsigned b = 0; b != r->buckets; ++b) {
        char key[IG_KEY_MAX_BYTES];
        ig_key_events(key, b);
        redisAppendCommand(sync_route_bucket(r, b), "XREVRANGE %s + - COUNT 1", key);
    }
    /* Each connection answers in the order it was asked: bucket by bucket. */
    for (unsigned b = 0; b != r->buckets; ++b) {
        if ((last[b] = bench_redis_next(sync_route_bucket(r, b), "XREVRANGE")) == NULL) {
            ret = -1;
            break;
        }
    }
    for (unsigned b = 0; b != r->buckets; ++b) {
        uint64_t id[2];
        int has = ret == 1 ? last_entry(id, last[b]) : 0;
        if (has < 0)
            ret = -1;
        else if (ret == 1 && has && id_less(marks[b], id))
            ret = 0;
        if (last[b] != NULL)
            freeReplyObject(last[b]);
    }
    return ret;
}

int bench_check_sync_wait(const sync_route_t *r, PGconn *pg, double timeout_s, uint64_t *caught_up_ns)
{
    uint64_t deadline = bench_now_ns() + (uint64_t)(timeout_s * (double)BENCH_NS_PER_SEC);
    struct timespec pause = {.tv_sec = 0, .tv_nsec = SYNC_POLL_NS};
    for (;;) {
        int caught = poll_streams(r, pg);
        uint64_t now = bench_now_ns();
        if (caught < 0)
            return -1;
        if (caught == 1) {
            *caught_up_ns = now;
            return 0;
        }
        if (now >= deadline) {
            bench_error("the sync daemon has not caught up with the event streams after %.0f s "
                        "(is invitegate-sync running? its log says why)",
                        timeout_s);
            return -1;
        }
        nanosleep(&pause, NULL);
    }
}

/* ---- PostgreSQL -------------------------------------------------------- */

PGconn *bench_pg_connect(const char *url)
{
    PGconn *pg = PQconnectdb(url);
    if (pg == NULL || PQstatus(pg) != CONNECTION_OK) {
        bench_error("postgresql connection failed: %s", pg != NULL ? PQerrorMessage(pg) : "out of memory");
        PQfinish(pg);
        return NULL;
    }
    return pg;
}

/* "{CODE,CODE,...}": the pool as a text[] parameter. Caller frees. */
static char *pool_array(const bench_pool_t *pool)
{
    char *s = malloc(pool->num_codes * (IG_CODE_BODY_LEN + 1) + 3), *p = s;
    if (s == NULL) {
        bench_error("out of memory");
        return NULL;
    }
    *p++ = '{';
    for (size_t i = 0; i != pool->num_codes; ++i) {
        if (i != 0)
            *p++ = ',';
        memcpy(p, pool->codes[i].body, IG_CODE_BODY_LEN);
        p += IG_CODE_BODY_LEN;
    }
    *p++ = '}';
    *p = '\0';
    return s;
}

/* Runs sql with the pool as $1; returns the result (caller PQclear-s) or NULL (printed). */
static PGresult *query_pool(PGconn *pg, const bench_pool_t *pool, const char *sql, const char *what)
{
    char *array = pool_array(pool);
    const char *params[1] = {array};
    PGresult *res;

    if (array == NULL)
        return NULL;
    res = PQexecParams(pg, sql, 1, NULL, params, NULL, NULL, 0);
    free(array);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        bench_error("postgresql %s: %s", what, PQerrorMessage(pg));
        PQclear(res);
        return NULL;
    }
    return res;
}

static int count_query(PGconn *pg, const bench_pool_t *pool, const char *sql, const char *what, long long *count)
{
    PGresult *res = query_pool(pg, pool, sql, what);
    if (res == NULL)
        return -1;
    *count = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return 0;
}

int bench_check_pg_redemptions(PGconn *pg, const bench_pool_t *pool, long long *count)
{
    return count_query(pg, pool, "SELECT count(*) FROM redemptions WHERE code = ANY($1::text[])", "count of redemptions", count);
}

int bench_check_pg_invites(PGconn *pg, const bench_pool_t *pool, long long *count)
{
    return count_query(pg, pool, "SELECT count(*) FROM invites WHERE code = ANY($1::text[])", "count of invites", count);
}

int bench_check_pg_waitlist(PGconn *pg, long long *count)
{
    PGresult *res = PQexec(pg, "SELECT count(*) FROM waitlist");
    int ret = 0;

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        bench_error("postgresql count of waitlist rows: %s", PQresultErrorMessage(res));
        ret = -1;
    } else {
        *count = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    }
    PQclear(res);
    return ret;
}

int bench_check_verify(const sync_route_t *r, PGconn *pg, const bench_pool_t *pool, bench_verify_t *out)
{
    static const char sql[] =
        "SELECT i.code IS NOT NULL, coalesce(i.max_uses, 0), coalesce(i.use_count, 0), coalesce(r.n, 0) "
        "FROM unnest($1::text[]) WITH ORDINALITY AS p(code, ord) "
        "LEFT JOIN invites i ON i.code = p.code "
        "LEFT JOIN (SELECT code, count(*) AS n FROM redemptions WHERE code = ANY($1::text[]) GROUP BY code) r "
        "ON r.code = p.code ORDER BY p.ord";
    bench_redis_uses_t uses = {0};
    PGresult *res = NULL;
    int ret = -1;

    memset(out, 0, sizeof(*out));
    out->codes = (long long)pool->num_codes;
    if ((uses.per_code = malloc(pool->num_codes * sizeof(*uses.per_code))) == NULL) {
        bench_error("out of memory");
        return -1;
    }
    if (bench_check_redis_uses(r, pool, &uses) != 0 || (res = query_pool(pg, pool, sql, "verification")) == NULL)
        goto Exit;
    if ((size_t)PQntuples(res) != pool->num_codes) {
        bench_error("postgresql verification: %d rows for %zu codes", PQntuples(res), pool->num_codes);
        goto Exit;
    }
    out->redis_uses = uses.uses;
    for (size_t i = 0; i != pool->num_codes; ++i) {
        int found = PQgetvalue(res, (int)i, 0)[0] == 't';
        long long max = strtoll(PQgetvalue(res, (int)i, 1), NULL, 10), use_count = strtoll(PQgetvalue(res, (int)i, 2), NULL, 10),
                  rows = strtoll(PQgetvalue(res, (int)i, 3), NULL, 10);
        out->pg_redemptions += rows;
        if (!found) {
            ++out->pg_missing;
            continue;
        }
        if (rows > max)
            ++out->pg_over_max;
        if (use_count != rows)
            ++out->pg_count_drift;
        if (uses.per_code[i] != rows)
            ++out->redis_mismatch;
    }
    ret = 0;
Exit:
    PQclear(res);
    free(uses.per_code);
    return ret;
}
