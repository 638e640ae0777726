#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ig_calls.h"
#include "ig_keys.h"
#include "ig_log.h"
#include "pgarray.h"
#include "points.h"
#include "runtime.h"

/* Users read and written back per round trip. */
#define SYNC_POINTS_PAGE 500
/* The refresh looks this far behind the previous one's start, for commits that were in flight then. */
#define SYNC_POINTS_MARGIN_MS 10000
#define STR_(x) #x
#define STR(x) STR_(x)

/*
 * What Redis holds of each user: earned, the last rows (newest first, times
 * in ISO 8601 UTC), active referrals (ACTIVE or REWARDED, referred user not
 * flagged) and flagged ones; then spent, which only rehydrate writes. Users after $1 in user_id order, changed after
 * $2 (Unix ms; negative = any time), among $3 when it is not NULL.
 */
static const char SQL_STATE[] =
    "SELECT b.user_id, e.email, b.total_earned, "
    "(SELECT COALESCE(json_agg(json_build_object('type', t.type, 'delta', t.delta, 'note', t.note, 'at', "
    "to_char(t.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')) ORDER BY t.created_at DESC, t.seq DESC), "
    "'[]')::text FROM (SELECT type, delta, note, created_at, seq FROM user_point_transactions WHERE user_id = b.user_id "
    "ORDER BY created_at DESC, seq DESC LIMIT " STR(
        SYNC_POINTS_RECENT_ROWS) ") AS t), "
                                 "(SELECT count(*) FROM user_referral_relationships AS r WHERE r.referrer_user_id = b.user_id AND "
                                 "r.level = 1 "
                                 "AND r.status IN ('ACTIVE', 'REWARDED') AND NOT EXISTS (SELECT 1 FROM user_lifecycle_events AS f "
                                 "WHERE f.user_id = r.referred_user_id AND f.kind = 'fraud_flagged')), "
                                 "(SELECT count(*) FROM user_referral_relationships AS r WHERE r.referrer_user_id = b.user_id AND "
                                 "r.level = 1 "
                                 "AND EXISTS (SELECT 1 FROM user_lifecycle_events AS f WHERE f.user_id = r.referred_user_id AND "
                                 "f.kind = 'fraud_flagged')), -b.total_spent "
                                 "FROM user_point_balances AS b JOIN user_emails AS e ON e.user_id = b.user_id "
                                 "WHERE e.email IS NOT NULL AND b.user_id > $1::uuid "
                                 "AND ($2::bigint < 0 OR b.updated_at > timestamptz 'epoch' + $2::bigint * interval '1 "
                                 "millisecond') "
                                 "AND ($3::uuid[] IS NULL OR b.user_id = ANY ($3::uuid[])) "
                                 "ORDER BY b.user_id LIMIT " STR(SYNC_POINTS_PAGE);

static const char SQL_NOW[] = "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint";

static const char SQL_EXPIRE[] = "UPDATE user_referral_relationships SET status = 'EXPIRED' WHERE status = 'PENDING' "
                                 "AND created_at < timestamptz 'epoch' + $1::bigint * interval '1 millisecond' - $2::int * "
                                 "interval '1 day'";

/*
 * Users whose points earned up to the cut-off ($1 Unix ms minus $2 days)
 * exceed everything deducted from them in the ledger: candidates for
 * expiry (ig_expire decides with Redis's deductions, which run ahead).
 */
static const char SQL_EXPIRY[] =
    "SELECT e.email, o.earned_old, o.deducted FROM (SELECT user_id, sum(delta) FILTER (WHERE delta > 0 AND created_at <= "
    "timestamptz 'epoch' "
    "+ $1::bigint * interval '1 millisecond' - $2::int * interval '1 day') AS earned_old, "
    "COALESCE(sum(-delta) FILTER (WHERE delta < 0), 0) AS deducted FROM user_point_transactions GROUP BY user_id) AS o "
    "JOIN user_emails AS e USING (user_id) WHERE e.email IS NOT NULL AND o.earned_old > o.deducted";

void sync_points_init(sync_points_t *pt, const ig_config_t *cfg, const sync_keys_t *keys)
{
    memset(pt, 0, sizeof(*pt));
    pt->cfg = cfg;
    pt->keys = keys;
    pt->refreshed_ms = -1;
}

static int pg_failed(sync_points_t *pt, PGconn *conn, const PGresult *res, const char *step)
{
    char desc[SYNC_DB_DESC_BYTES];
    sync_db_describe(desc, sizeof(desc), conn, res, 1);
    snprintf(pt->errstr, sizeof(pt->errstr), "step=%s %s", step, desc);
    return -1;
}

/* The e-mail's hash (hash8) and the key of its points record (key, IG_KEY_MAX_BYTES). */
static void points_key(char *key, unsigned char hash8[IG_EMAIL_HASH_BYTES], const sync_points_t *pt, const char *email)
{
    ig_email_hash(hash8, email, strlen(email), pt->keys->email);
    ig_key_points(key, hash8);
}

/*
 * Sends one ig_points_sync per row of res (pipelined) and reads the replies;
 * with pt->rehydrate, one ig_rehydrate_points, counting its verdicts.
 */
static int write_rows(sync_points_t *pt, redisContext *redis, const PGresult *res)
{
    int n = PQntuples(res), sent = 0, failed = 0;
    char first_err[128] = "";

    for (int i = 0; i != n; ++i) {
        const char *email = PQgetvalue(res, i, 1);
        unsigned char hash8[IG_EMAIL_HASH_BYTES];
        char key[IG_KEY_MAX_BYTES];
        points_key(key, hash8, pt, email);
        const char *argv[IG_CALL_ARGC(REHYDRATE_POINTS, 0)];
        size_t lens[IG_CALL_ARGC(REHYDRATE_POINTS, 0)];
        ig_fcall_t c;
        ig_fcall_begin(&c, pt->rehydrate != 0 ? IG_CALL_REHYDRATE_POINTS : IG_CALL_POINTS_SYNC, 0, argv, lens,
                       IG_CALL_ARGC(REHYDRATE_POINTS, 0));
        ig_fcall_str(&c, key);
        ig_fcall_bin(&c, hash8, sizeof(hash8));
        for (int k = 2; k != 6; ++k)
            ig_fcall_str(&c, PQgetvalue(res, i, k));
        if (pt->rehydrate != 0) {
            /* ig_rehydrate_points: ig_points_sync's, then spent and write. */
            ig_fcall_str(&c, PQgetvalue(res, i, 6));
            ig_fcall_str(&c, pt->rehydrate == SYNC_POINTS_REHYDRATE_WRITE ? "1" : "0");
        }
        if (redisAppendCommandArgv(redis, (int)ig_fcall_end(&c), c.argv, c.lens) != REDIS_OK)
            break;
        ++sent;
    }
    for (int i = 0; i != sent; ++i) {
        redisReply *reply = NULL;
        if (redisGetReply(redis, (void **)&reply) != REDIS_OK) {
            snprintf(pt->errstr, sizeof(pt->errstr), "step=points_write_back reason=\"%s\"", redis->errstr);
            return -1;
        }
        if (reply->type == REDIS_REPLY_ERROR && failed++ == 0)
            snprintf(first_err, sizeof(first_err), "%.*s", (int)(reply->len < 100 ? reply->len : 100), reply->str);
        else if (pt->rehydrate != 0 && reply->type == REDIS_REPLY_STRING) {
            pt->rehydrated.created += strcmp(reply->str, "created") == 0;
            pt->rehydrated.updated += strcmp(reply->str, "updated") == 0;
        }
        freeReplyObject(reply);
    }
    if (sent != n) {
        snprintf(pt->errstr, sizeof(pt->errstr), "step=points_write_back reason=\"out of memory\"");
        return -1;
    }
    if (failed != 0) {
        snprintf(pt->errstr, sizeof(pt->errstr), "step=points_write_back failed=%d reason=\"%s\"", failed, first_err);
        return -1;
    }
    return 0;
}

/*
 * Writes back the users selected by SQL_STATE with since_ms and ids (a
 * uuid[] literal or NULL), a page at a time. Returns 0 or -1.
 */
static int write_back(sync_points_t *pt, PGconn *conn, redisContext *redis, long long since_ms, const char *ids, size_t *written)
{
    char after[IG_USER_ID_BYTES] = "00000000-0000-0000-0000-000000000000", since[24];

    *written = 0;
    snprintf(since, sizeof(since), "%lld", since_ms);
    for (;;) {
        const char *values[] = {after, since, ids};
        PGresult *res = PQexecParams(conn, SQL_STATE, 3, NULL, values, NULL, NULL, 0);
        int n, ret;
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            pg_failed(pt, conn, res, "points_state");
            PQclear(res);
            return -1;
        }
        n = PQntuples(res);
        ret = n == 0 ? 0 : write_rows(pt, redis, res);
        if (n != 0)
            snprintf(after, sizeof(after), "%s", PQgetvalue(res, n - 1, 0));
        PQclear(res);
        if (ret != 0)
            return -1;
        *written += (size_t)n;
        if (n < SYNC_POINTS_PAGE)
            return 0;
    }
}

/* Logs a failed write-back: each of the first few in a row, then one in a hundred. */
static void log_failure(sync_points_t *pt, const char *what)
{
    if (++pt->failures <= 3 || pt->failures % 100 == 0)
        ig_warn("msg=\"points write-back failed; the refresh will retry\" what=%s failures=%u %s", what, pt->failures, pt->errstr);
}

int sync_points_push(sync_points_t *pt, PGconn *conn, redisContext *redis, const sync_user_id_t *ids, size_t count)
{
    sync_pgarray_t arr;
    size_t written;
    int ret;

    if (count == 0)
        return 0;
    if (redis == NULL) {
        snprintf(pt->errstr, sizeof(pt->errstr), "step=points_write_back reason=\"redis not connected\"");
        return -1;
    }
    sync_pgarray_init(&arr);
    for (size_t i = 0; i != count; ++i)
        sync_pgarray_add_str(&arr, ids[i].s);
    ret = write_back(pt, conn, redis, -1, sync_pgarray_finish(&arr), &written);
    sync_pgarray_dispose(&arr);
    if (ret != 0)
        log_failure(pt, "batch");
    else
        pt->failures = 0;
    return ret;
}

static int refresh(sync_points_t *pt, PGconn *conn, redisContext *redis)
{
    PGresult *res = PQexec(conn, SQL_NOW);
    long long started;
    size_t written;

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        pg_failed(pt, conn, res, "points_clock");
        PQclear(res);
        return -1;
    }
    started = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    if (write_back(pt, conn, redis, pt->refreshed_ms < 0 ? -1 : pt->refreshed_ms - SYNC_POINTS_MARGIN_MS, NULL, &written) != 0) {
        log_failure(pt, "refresh");
        return -1;
    }
    if (pt->refreshed_ms < 0)
        ig_info("msg=\"points written back to redis\" users=%zu", written);
    pt->refreshed_ms = started;
    pt->failures = 0;
    return 0;
}

static int expire(sync_points_t *pt, PGconn *conn)
{
    char now[24], days[16];
    const char *values[] = {now, days};
    PGresult *res;

    snprintf(now, sizeof(now), "%lld", sync_clock_ms(pt->cfg->sync_clock_offset_s));
    snprintf(days, sizeof(days), "%u", pt->cfg->referral_expire_days);
    res = PQexecParams(conn, SQL_EXPIRE, 2, NULL, values, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        pg_failed(pt, conn, res, "expire_referrals");
        PQclear(res);
        ig_warn("msg=\"referral expiry failed, retrying later\" %s", pt->errstr);
        return -1;
    }
    if (strcmp(PQcmdTuples(res), "0") != 0)
        ig_info("msg=\"pending referrals expired\" count=%s expire_days=%u", PQcmdTuples(res), pt->cfg->referral_expire_days);
    PQclear(res);
    return 0;
}

/* Sends ig_expire for each candidate of SQL_EXPIRY (pipelined); returns the points expired, or -1. */
static long long expire_rows(sync_points_t *pt, redisContext *redis, const PGresult *res)
{
    int n = PQntuples(res), sent = 0;
    long long expired = 0;
    char note[64];

    snprintf(note, sizeof(note), "Points unused for %u days expired", pt->cfg->points_expire_days);
    for (int i = 0; i != n; ++i) {
        const char *email = PQgetvalue(res, i, 0);
        unsigned char hash8[IG_EMAIL_HASH_BYTES];
        char key[IG_KEY_MAX_BYTES];
        points_key(key, hash8, pt, email);
        IG_FCALL_LOCAL(c, EXPIRE, 0);
        ig_fcall_str(&c, key);
        ig_fcall_str(&c, IG_KEY_WL_EVENTS);
        ig_fcall_bin(&c, hash8, sizeof(hash8));
        const char *args[] = {email, PQgetvalue(res, i, 1), PQgetvalue(res, i, 2), note};
        ig_fcall_strs(&c, args, 4);
        if (redisAppendCommandArgv(redis, (int)ig_fcall_end(&c), c.argv, c.lens) != REDIS_OK)
            break;
        ++sent;
    }
    for (int i = 0; i != sent; ++i) {
        redisReply *reply = NULL;
        if (redisGetReply(redis, (void **)&reply) != REDIS_OK) {
            snprintf(pt->errstr, sizeof(pt->errstr), "step=points_expiry reason=\"%s\"", redis->errstr);
            return -1;
        }
        if (reply->type == REDIS_REPLY_INTEGER)
            expired += reply->integer;
        else if (reply->type == REDIS_REPLY_ERROR)
            ig_warn("msg=\"points expiry refused\" reason=\"%.*s\"", (int)(reply->len < 100 ? reply->len : 100), reply->str);
        freeReplyObject(reply);
    }
    return sent == n ? expired : -1;
}

static int expire_points(sync_points_t *pt, PGconn *conn, redisContext *redis)
{
    char now[24], days[16];
    const char *values[] = {now, days};
    long long expired;
    PGresult *res;

    snprintf(now, sizeof(now), "%lld", sync_clock_ms(pt->cfg->sync_clock_offset_s));
    snprintf(days, sizeof(days), "%u", pt->cfg->points_expire_days);
    res = PQexecParams(conn, SQL_EXPIRY, 2, NULL, values, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        pg_failed(pt, conn, res, "points_expiry");
        PQclear(res);
        ig_warn("msg=\"points expiry failed, retrying later\" %s", pt->errstr);
        return -1;
    }
    expired = PQntuples(res) == 0 ? 0 : expire_rows(pt, redis, res);
    if (expired < 0)
        ig_warn("msg=\"points expiry failed, retrying later\" users=%d %s", PQntuples(res), pt->errstr);
    else if (expired > 0)
        ig_info("msg=\"points expired\" users=%d points=%lld expire_days=%u", PQntuples(res), expired, pt->cfg->points_expire_days);
    PQclear(res);
    return expired < 0 ? -1 : 0;
}

int sync_points_tick(sync_points_t *pt, PGconn *conn, redisContext *redis)
{
    uint64_t now = sync_now_ms();
    int ret = 0;

    if (now >= pt->next_expire_ms) {
        pt->next_expire_ms = now + SYNC_POINTS_EXPIRE_MS;
        ret |= expire(pt, conn);
    }
    if (redis != NULL && now >= pt->next_refresh_ms) {
        pt->next_refresh_ms = now + SYNC_POINTS_REFRESH_MS;
        ret |= refresh(pt, conn, redis);
    }
    if (redis != NULL && pt->cfg->points_expire_days != 0 && now >= pt->next_points_expiry_ms) {
        pt->next_points_expiry_ms = now + SYNC_POINTS_EXPIRY_MS;
        ret |= expire_points(pt, conn, redis);
    }
    return ret;
}

int sync_points_rehydrate(sync_points_t *pt, PGconn *conn, redisContext *redis, int mode)
{
    size_t written;
    int ret;

    pt->rehydrate = mode;
    memset(&pt->rehydrated, 0, sizeof(pt->rehydrated));
    ret = write_back(pt, conn, redis, -1, NULL, &written);
    pt->rehydrated.checked = written;
    pt->rehydrate = 0;
    return ret;
}
