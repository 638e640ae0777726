/* Sync lag: the streams against the high-water marks (lag.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cli.h"
#include "lag.h"

#define CLI_LAG_POLL_MS 100

static int parse_id(uint64_t id[2], const char *s)
{
    char *end;
    id[0] = strtoull(s, &end, 10);
    if (*end != '-')
        return -1;
    id[1] = strtoull(end + 1, &end, 10);
    return *end == '\0' ? 0 : -1;
}

static int id_after(const uint64_t a[2], const uint64_t b[2])
{
    return a[0] > b[0] || (a[0] == b[0] && a[1] > b[1]);
}

static int load_marks(cli_lag_t *out, PGconn *pg, char err[CLI_LAG_ERR_BYTES])
{
    PGresult *res = PQexec(pg, "SELECT bucket, last_ms, last_seq FROM sync_progress");

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(err, CLI_LAG_ERR_BYTES, "sync_progress: %s", PQresultErrorMessage(res));
        PQclear(res);
        return -1;
    }
    for (int i = 0; i != PQntuples(res); ++i) {
        unsigned b = (unsigned)atoi(PQgetvalue(res, i, 0));
        if (b < out->buckets) {
            out->mark[b][0] = strtoull(PQgetvalue(res, i, 1), NULL, 10);
            out->mark[b][1] = strtoull(PQgetvalue(res, i, 2), NULL, 10);
        }
    }
    PQclear(res);
    return 0;
}

/* Reads the tip, and the entries after the mark (ids only matter), of bucket b on its connection. */
static int load_stream(cli_lag_t *out, redisContext *redis, unsigned b, char err[CLI_LAG_ERR_BYTES])
{
    char key[IG_KEY_MAX_BYTES], from[64], cap[16];
    redisReply *r;
    int ret = -1;

    ig_key_events(key, b);
    if ((r = redisCommand(redis, "XREVRANGE %s + - COUNT 1", key)) == NULL || r->type != REDIS_REPLY_ARRAY)
        goto Exit;
    if (r->elements == 1 && (r->element[0]->type != REDIS_REPLY_ARRAY || r->element[0]->elements < 1 ||
                             parse_id(out->tip[b], r->element[0]->element[0]->str) != 0))
        goto Exit;
    freeReplyObject(r);
    r = NULL;
    if (!id_after(out->tip[b], out->mark[b]))
        return 0;
    snprintf(from, sizeof(from), "(%" PRIu64 "-%" PRIu64, out->mark[b][0], out->mark[b][1]);
    snprintf(cap, sizeof(cap), "%d", CLI_LAG_COUNT_CAP + 1);
    if ((r = redisCommand(redis, "XRANGE %s %s + COUNT %s", key, from, cap)) == NULL || r->type != REDIS_REPLY_ARRAY)
        goto Exit;
    if (r->elements != 0) {
        uint64_t first[2];
        if (r->element[0]->type != REDIS_REPLY_ARRAY || r->element[0]->elements < 1 ||
            parse_id(first, r->element[0]->element[0]->str) != 0)
            goto Exit;
        if (out->oldest_ms == 0 || first[0] < out->oldest_ms)
            out->oldest_ms = first[0];
        out->pending[b] = r->elements > CLI_LAG_COUNT_CAP ? CLI_LAG_COUNT_CAP : r->elements;
        out->capped |= r->elements > CLI_LAG_COUNT_CAP;
        out->backlog += out->pending[b];
        ++out->behind;
    }
    ret = 0;
Exit:
    if (ret != 0)
        snprintf(err, CLI_LAG_ERR_BYTES, "stream of bucket %u: %.200s", b,
                 r == NULL                      ? redis->errstr
                 : r->type == REDIS_REPLY_ERROR ? r->str
                                                : "unexpected reply");
    if (r != NULL)
        freeReplyObject(r);
    return ret;
}

int cli_lag_measure(cli_lag_t *out, const sync_route_t *route, PGconn *pg, char err[CLI_LAG_ERR_BYTES])
{
    redisContext *redis = sync_route_bucket(route, IG_WL_BUCKET);
    redisReply *t;

    memset(out, 0, sizeof(*out));
    out->buckets = route->buckets;
    if ((t = redisCommand(redis, "TIME")) == NULL || t->type != REDIS_REPLY_ARRAY || t->elements != 2) {
        snprintf(err, CLI_LAG_ERR_BYTES, "TIME: %s", t == NULL ? redis->errstr : "unexpected reply");
        if (t != NULL)
            freeReplyObject(t);
        return -1;
    }
    out->now_ms = strtoull(t->element[0]->str, NULL, 10) * 1000 + strtoull(t->element[1]->str, NULL, 10) / 1000;
    freeReplyObject(t);
    if (load_marks(out, pg, err) != 0)
        return -1;
    for (unsigned b = 0; b != out->buckets; ++b)
        if (load_stream(out, sync_route_bucket(route, b), b, err) != 0)
            return -1;
    return 0;
}

int cli_lag_reached(const cli_lag_t *now, const cli_lag_t *then)
{
    for (unsigned b = 0; b != now->buckets; ++b)
        if (id_after(then->tip[b], now->mark[b]))
            return 0;
    return 1;
}

int cli_lag_wait(cli_lag_t *out, const sync_route_t *route, PGconn *pg, unsigned timeout_ms, char err[CLI_LAG_ERR_BYTES])
{
    cli_lag_t first;
    struct timespec pause = {.tv_sec = 0, .tv_nsec = CLI_LAG_POLL_MS * 1000000L};

    if (cli_lag_measure(&first, route, pg, err) != 0)
        return -1;
    *out = first;
    for (unsigned waited = 0;; waited += CLI_LAG_POLL_MS) {
        if (cli_lag_reached(out, &first))
            return 1;
        if (waited >= timeout_ms)
            return 0;
        nanosleep(&pause, NULL);
        if (cli_lag_measure(out, route, pg, err) != 0)
            return -1;
    }
}

int cli_lag_settle(const cli_ctx_t *ctx, const sync_route_t *route, PGconn *pg, unsigned wait_s, const char *why)
{
    char err[CLI_LAG_ERR_BYTES];
    cli_lag_t lag;

    switch (cli_lag_wait(&lag, route, pg, wait_s * 1000, err)) {
    case -1:
        cli_error(ctx, "%s", err);
        return -1;
    case 0:
        cli_error(ctx, "the sync daemon did not catch up within %u s (%llu entries in %u buckets still to apply): %s", wait_s,
                  lag.backlog, lag.behind, why);
        return -1;
    }
    return 0;
}
