/* Synchronous Redis connections and small helpers (rconn.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include "bench.h"
#include "ig_keys.h"
#include "rconn.h"

#define RCONN_TIMEOUT_S 30

static redisContext *finish_connect(redisContext *c, const char *where)
{
    struct timeval tv = {.tv_sec = RCONN_TIMEOUT_S, .tv_usec = 0};
    if (c == NULL) {
        bench_error("redis %s: out of memory", where);
        return NULL;
    }
    if (c->err != 0) {
        bench_error("redis %s: %s", where, c->errstr);
        redisFree(c);
        return NULL;
    }
    /* A check over a million codes must not hang forever on a dead server. */
    redisSetTimeout(c, tv);
    return c;
}

int bench_redis_open(sync_route_t *r, const ig_config_t *cfg)
{
    for (unsigned s = 0; s != (cfg->redis_cluster ? cfg->redis_num_seeds : 1); ++s) {
        const char *host = cfg->redis_cluster ? cfg->redis_seeds[s].host : cfg->redis_host;
        if (cfg->redis_unix[0] == '\0' && strcmp(host, "127.0.0.1") != 0) {
            bench_error("redis_url %s: the harness only talks to 127.0.0.1 or a Unix socket", cfg->redis_url);
            return -1;
        }
    }
    /* A check over a million codes must not hang forever on a dead server. */
    if (sync_route_open(r, cfg, 5000, RCONN_TIMEOUT_S * 1000) != 0) {
        bench_error("redis %s: %s", cfg->redis_url, r->errstr);
        return -1;
    }
    return 0;
}

void bench_redis_single(sync_route_t *r, redisContext *c)
{
    memset(r, 0, sizeof(*r));
    sync_route_single(r, c, IG_BUCKETS_DEFAULT);
}

redisContext *bench_redis_connect_port(unsigned port)
{
    struct timeval tv = {.tv_sec = 5, .tv_usec = 0};
    char where[32];
    snprintf(where, sizeof(where), "127.0.0.1:%u", port);
    return finish_connect(redisConnectWithTimeout("127.0.0.1", (int)port, tv), where);
}

redisReply *bench_redis_next(redisContext *c, const char *what)
{
    void *reply = NULL;
    if (redisGetReply(c, &reply) != REDIS_OK || reply == NULL) {
        bench_error("redis %s: %s", what, c->errstr[0] != '\0' ? c->errstr : "connection lost");
        return NULL;
    }
    return reply;
}

redisReply *bench_redis_argv(redisContext *c, const char *what, int argc, const char **argv, const size_t *argvlen)
{
    redisReply *reply = redisCommandArgv(c, argc, argv, argvlen);
    if (reply == NULL) {
        bench_error("redis %s: %s", what, c->errstr[0] != '\0' ? c->errstr : "connection lost");
        return NULL;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        bench_error("redis %s: %s", what, reply->str);
        freeReplyObject(reply);
        return NULL;
    }
    return reply;
}

int bench_redis_info_number(redisContext *c, const char *section, const char *field, const char *inner, double *out)
{
    const char *argv[] = {"INFO", section};
    redisReply *reply = bench_redis_argv(c, "INFO", 2, argv, NULL);
    size_t flen = strlen(field), ilen = inner != NULL ? strlen(inner) : 0;
    int ret = 1;

    if (reply == NULL)
        return -1;
    for (const char *p = reply->type == REDIS_REPLY_STRING ? reply->str : ""; *p != '\0';) {
        const char *eol = strchr(p, '\n');
        if (strncmp(p, field, flen) == 0 && p[flen] == ':') {
            const char *v = p + flen + 1;
            /* "calls=3,usec=41,...": the value after "INNER=" at the start or after a comma. */
            while (inner != NULL && v != NULL && (eol == NULL || v < eol) && !(strncmp(v, inner, ilen) == 0 && v[ilen] == '='))
                if ((v = strchr(v, ',')) != NULL)
                    ++v;
            if (v != NULL && (eol == NULL || v < eol)) {
                *out = strtod(v + (inner != NULL ? ilen + 1 : 0), NULL);
                ret = 0;
            }
            break;
        }
        if (eol == NULL)
            break;
        p = eol + 1;
    }
    freeReplyObject(reply);
    return ret;
}

int bench_redis_info_int(redisContext *c, const char *section, const char *field, long long *out)
{
    double v;
    int ret = bench_redis_info_number(c, section, field, NULL, &v);
    if (ret == 1)
        bench_error("redis INFO %s has no field %s", section, field);
    if (ret != 0)
        return -1;
    *out = (long long)v;
    return 0;
}

/* Value of one CONFIG GET parameter into out ("?" when unknown). */
static void config_get(redisContext *c, const char *name, char *out, size_t cap)
{
    const char *argv[] = {"CONFIG", "GET", name};
    redisReply *reply = bench_redis_argv(c, "CONFIG GET", 3, argv, NULL);
    snprintf(out, cap, "?");
    if (reply != NULL && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 && reply->element[1]->type == REDIS_REPLY_STRING)
        snprintf(out, cap, "%s", reply->element[1]->str);
    if (reply != NULL)
        freeReplyObject(reply);
}

int bench_redis_persistence(redisContext *c, char out[BENCH_PERSISTENCE_BYTES])
{
    char aof[16], fsync[16];
    config_get(c, "appendonly", aof, sizeof(aof));
    config_get(c, "appendfsync", fsync, sizeof(fsync));
    snprintf(out, BENCH_PERSISTENCE_BYTES, "appendonly=%s appendfsync=%s", aof, fsync);
    return strcmp(aof, "?") == 0 ? -1 : 0;
}

int bench_redis_load_library(redisContext *c, const char *paths)
{
    char *lua = NULL, path[1024];
    size_t len = 0;
    int ret = -1;

    for (const char *p = paths; *p != '\0';) {
        size_t n = strcspn(p, ","), flen;
        if (n >= sizeof(path)) {
            bench_error("--lua: path too long");
            goto Exit;
        }
        memcpy(path, p, n);
        path[n] = '\0';
        p += n + (p[n] == ',');
        char *part = bench_read_file(path, &flen), *grown;
        if (part == NULL)
            goto Exit;
        if ((grown = realloc(lua, len + flen + 2)) == NULL) {
            free(part);
            bench_error("out of memory");
            goto Exit;
        }
        lua = grown;
        memcpy(lua + len, part, flen);
        len += flen;
        lua[len++] = '\n';
        lua[len] = '\0';
        free(part);
    }
    if (lua == NULL) {
        bench_error("--lua names no file");
        return -1;
    }
    const char *argv[] = {"FUNCTION", "LOAD", "REPLACE", lua};
    size_t argvlen[] = {8, 4, 7, len};
    redisReply *reply = bench_redis_argv(c, "FUNCTION LOAD", 4, argv, argvlen);
    if (reply == NULL)
        goto Exit;
    freeReplyObject(reply);
    ret = 0;
Exit:
    free(lua);
    return ret;
}

int bench_redis_trim_streams(redisContext *c)
{
    for (unsigned b = 0; b != IG_BUCKETS_DEFAULT; ++b) {
        char key[IG_KEY_MAX_BYTES];
        ig_key_events(key, b);
        const char *argv[] = {"XTRIM", key, "MAXLEN", "0"};
        redisReply *reply = bench_redis_argv(c, "XTRIM", 4, argv, NULL);
        if (reply == NULL)
            return -1;
        freeReplyObject(reply);
    }
    return 0;
}
