#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "db.h"
#include "ig_keys.h"
#include "ig_log.h"
#include "layout.h"

/* The difference, said the same way for either store: the process ends. */
__attribute__((noreturn)) static void differ(const char *store, const char *recorded, unsigned buckets)
{
    char err[SYNC_LAYOUT_ERR_BYTES];
    snprintf(err, sizeof(err), IG_BUCKETS_DIFFER, store, recorded, buckets);
    sync_layout_refuse(err);
}

int sync_layout_redis(redisContext *c, unsigned buckets, char *err, size_t err_len)
{
    char count[16];
    snprintf(count, sizeof(count), "%u", buckets);
    redisReply *r = redisCommand(c, IG_BUCKETS_RECORD_CMD, count);
    int ret = -1;
    if (r == NULL)
        snprintf(err, err_len, "recording the bucket count in Redis: %s", c->errstr);
    else if (r->type == REDIS_REPLY_NIL)
        ret = 0;
    else if (r->type == REDIS_REPLY_STRING && strcmp(r->str, count) == 0)
        ret = 0;
    else if (r->type == REDIS_REPLY_STRING)
        differ("Redis (" IG_KEY_BUCKETS ")", r->str, buckets);
    else
        snprintf(err, err_len, "recording the bucket count in Redis: %s",
                 r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    freeReplyObject(r);
    return ret;
}

int sync_layout_pg(PGconn *conn, unsigned buckets, char *err, size_t err_len)
{
    char count[16], desc[SYNC_DB_DESC_BYTES];
    const char *params[] = {count};
    snprintf(count, sizeof(count), "%u", buckets);
    /* The insert is a no-op when a row exists; the select then reads the row either way. */
    PGresult *res = PQexecParams(conn,
                                 "WITH ins AS (INSERT INTO layout (buckets) VALUES ($1::integer) ON CONFLICT (only_row) DO NOTHING "
                                 "RETURNING buckets) SELECT buckets FROM ins UNION ALL SELECT buckets FROM layout",
                                 1, NULL, params, NULL, NULL, 0);
    /*
     * No row: another process inserted it after this statement's snapshot
     * was taken (the conflict skipped the insert, the select could not see
     * the row). It is committed now: read it again.
     */
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 0) {
        PQclear(res);
        res = PQexec(conn, "SELECT buckets FROM layout");
    }
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    int ret = -1;
    if (state != NULL && strcmp(state, "42P01") == 0) {
        ret = 0; /* undefined_table: migration 016 is not applied yet */
    } else if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) < 1) {
        sync_db_describe(desc, sizeof(desc), conn, res, 0);
        snprintf(err, err_len, "recording the bucket count in PostgreSQL: %s", desc);
    } else {
        const char *got = PQgetvalue(res, 0, 0);
        if (strcmp(got, count) != 0)
            differ("PostgreSQL (table layout)", got, buckets);
        ret = 0;
    }
    PQclear(res);
    return ret;
}

PGconn *sync_layout_connect_pg(const ig_config_t *cfg, char *err, size_t err_len)
{
    PGconn *conn = sync_db_connect(cfg->database_url, err, err_len);
    if (conn != NULL && sync_layout_pg(conn, cfg->buckets, err, err_len) != 0) {
        PQfinish(conn);
        conn = NULL;
    }
    return conn;
}

void sync_layout_refuse(const char *err)
{
    ig_error("msg=\"" IG_BUCKETS_REFUSED "\" reason=\"%s\"", err);
    exit(IG_BUCKETS_EXIT);
}
