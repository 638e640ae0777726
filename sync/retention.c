/*
 * Retention of invites: see retention.h for the rule and its order.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ig_keys.h"
#include "db.h"
#include "pgarray.h"
#include "retention.h"

#define AT(n) "(timestamptz 'epoch' + $" #n "::bigint * interval '1 millisecond')"
#define ANON_PREFIX "erased:"

/*
 * The invites that can no longer be redeemed and never were, issued more
 * than $2 days before $1, locked until the commit. issued_to is NULL for an
 * open code (nothing to anonymise, but its record is swept all the same).
 */
static const char SQL_ELIGIBLE[] =
    "SELECT code, issued_to FROM invites WHERE used_at IS NULL AND use_count = 0 "
    "AND (expires_at <= " AT(1) " OR revoked_at IS NOT NULL) "
                                "AND created_at <= " AT(1) " - $2::int * interval '1 day' ORDER BY code FOR UPDATE";

static const char SQL_ANONYMISE[] =
    "UPDATE invites AS t SET issued_to = u.anon FROM unnest($1::text[], $2::text[]) AS u(code, anon) "
    "WHERE t.code = u.code AND t.used_at IS NULL AND t.use_count = 0";

/*
 * The Redis side of one code. KEYS[1] its small hash (ig_key_code_hash), ARGV[1]
 * its field, ARGV[2] '1' to delete. Reads the record as lua/invitegate.lua
 * packs it (max_uses, use_count, expires_at, ...) and writes nothing unless
 * it deletes. Replies SWEEP_*.
 */
static const char SWEEP_SCRIPT[] = "local p = redis.call('HGET', KEYS[1], ARGV[1]) "
                                   "if not p then return 0 end "
                                   "local max, uses, exp = cmsgpack.unpack(p) "
                                   "if uses ~= 0 then return 1 end "
                                   "if exp == 0 or tonumber(redis.call('TIME')[1]) < exp then return 3 end "
                                   "if ARGV[2] == '1' then redis.call('HDEL', KEYS[1], ARGV[1]) end "
                                   "return 2";

enum {
    SWEEP_GONE = 0,    /**< no record (swept before, or never there) */
    SWEEP_USED = 1,    /**< the record counts a use: a redemption PostgreSQL has not applied yet */
    SWEEP_EXPIRED = 2, /**< unused and expired: deleted (or would be) */
    SWEEP_KEPT = 3,    /**< unused, not expired (a revoked code): kept so it still answers 410 revoked */
};

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t err_len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
    return -1;
}

/* Checks (and with del, sweeps) the Redis record of each of the n codes; verdicts[i] gets SWEEP_* of codes[i]. */
static int sweep(int *verdicts, sync_route_t *route, PGresult *rows, int n, int del, char *err, size_t err_len)
{
    for (int i = 0; i != n; ++i) {
        const char *code = PQgetvalue(rows, i, 0);
        ig_code_keys_t k;
        if (ig_code_form(code, strlen(code)) == IG_CODE_INVALID) {
            verdicts[i] = SWEEP_GONE; /* not a body Redis could hold */
            continue;
        }
        ig_code_keys(&k, code, route->buckets);
        redisContext *redis = sync_route_bucket(route, k.bucket);
        if (redisAppendCommand(redis, "EVAL %s 1 %s %s %s", SWEEP_SCRIPT, k.hash, k.field, del ? "1" : "0") != REDIS_OK)
            return fail(err, err_len, "step=sweep reason=\"%s\"", redis->errstr);
    }
    for (int i = 0; i != n; ++i) {
        redisReply *r;
        const char *code = PQgetvalue(rows, i, 0);
        if (ig_code_form(code, strlen(code)) == IG_CODE_INVALID)
            continue;
        /* Each reply from the connection of the code's bucket, in the order sent. */
        redisContext *redis = sync_route_bucket(route, ig_code_bucket(code, route->buckets));
        if (redisGetReply(redis, (void **)&r) != REDIS_OK)
            return fail(err, err_len, "step=sweep reason=\"%s\"", redis->errstr[0] != '\0' ? redis->errstr : "connection lost");
        if (r->type != REDIS_REPLY_INTEGER) {
            fail(err, err_len, "step=sweep reason=\"unexpected reply: %s\"",
                 r->type == REDIS_REPLY_ERROR ? r->str : "not an integer");
            freeReplyObject(r);
            /* The pipeline still holds replies: the connection cannot be reused in order. */
            redis->err = REDIS_ERR_OTHER;
            return -1;
        }
        verdicts[i] = (int)r->integer;
        freeReplyObject(r);
    }
    return 0;
}

int sync_retention_run(sync_retention_result_t *out, PGconn *pg, sync_route_t *route, const ig_user_keys_t *keys, unsigned days,
                       long long now_ms, int dry_run, char *err, size_t err_len)
{
    char now_s[24], days_s[16], desc[SYNC_DB_DESC_BYTES];
    const char *params[2] = {now_s, days_s};
    sync_pgarray_t arrays[2];
    static const int cols[2] = {0, 1};
    PGresult *rows = NULL, *res = NULL;
    int *verdicts = NULL, n, ret = -1;

    memset(out, 0, sizeof(*out));
    sync_pgarray_init(&arrays[0]);
    sync_pgarray_init(&arrays[1]);
    snprintf(now_s, sizeof(now_s), "%lld", now_ms);
    snprintf(days_s, sizeof(days_s), "%u", days);
    if (sync_db_exec(pg, "BEGIN", "begin", err, err_len) != 0)
        goto Exit;
    rows = PQexecParams(pg, SQL_ELIGIBLE, 2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(rows) != PGRES_TUPLES_OK) {
        sync_db_describe(desc, sizeof(desc), pg, rows, 1);
        fail(err, err_len, "step=select_eligible %s", desc);
        goto Rollback;
    }
    n = PQntuples(rows);
    if ((verdicts = calloc((size_t)n + 1, sizeof(*verdicts))) == NULL)
        abort();
    if (sweep(verdicts, route, rows, n, !dry_run, err, err_len) != 0)
        goto Rollback;
    for (int i = 0; i != n; ++i) {
        const char *to = PQgetvalue(rows, i, 1);
        if (verdicts[i] == SWEEP_USED) {
            ++out->in_flight;
            continue;
        }
        ++out->eligible;
        if (verdicts[i] == SWEEP_EXPIRED)
            ++out->swept;
        if (PQgetisnull(rows, i, 1) || strncmp(to, ANON_PREFIX, sizeof(ANON_PREFIX) - 1) == 0)
            continue;
        char uid[IG_USER_ID_BYTES], anon[sizeof(ANON_PREFIX) + IG_USER_ID_BYTES];
        ig_user_id(uid, to, strlen(to), keys);
        snprintf(anon, sizeof(anon), ANON_PREFIX "%s", uid);
        sync_pgarray_add_str(&arrays[0], PQgetvalue(rows, i, 0));
        sync_pgarray_add_str(&arrays[1], anon);
        ++out->anonymised;
    }
    if (dry_run || out->anonymised == 0) {
        ret = sync_db_exec(pg, dry_run ? "ROLLBACK" : "COMMIT", "end", err, err_len);
        goto Exit;
    }
    res = sync_db_exec_arrays(pg, SQL_ANONYMISE, arrays, cols, 2);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        sync_db_describe(desc, sizeof(desc), pg, res, 1);
        fail(err, err_len, "step=anonymise %s", desc);
        goto Rollback;
    }
    ret = sync_db_exec(pg, "COMMIT", "commit", err, err_len);
    goto Exit;

Rollback:
    PQclear(PQexec(pg, "ROLLBACK"));
Exit:
    PQclear(rows);
    PQclear(res);
    free(verdicts);
    sync_pgarray_dispose(&arrays[0]);
    sync_pgarray_dispose(&arrays[1]);
    return ret;
}
