/* Synchronous Redis connections and small helpers (rconn.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include "bench.h"
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

redisContext *bench_redis_connect(const ig_config_t *cfg)
{
    struct timeval tv = {.tv_sec = 5, .tv_usec = 0};
    if (cfg->redis_unix[0] != '\0')
        return finish_connect(redisConnectUnixWithTimeout(cfg->redis_unix, tv), cfg->redis_unix);
    if (strcmp(cfg->redis_host, "127.0.0.1") != 0) {
        bench_error("redis_url %s: the harness only talks to 127.0.0.1 or a Unix socket", cfg->redis_url);
        return NULL;
    }
    return finish_connect(redisConnectWithTimeout(cfg->redis_host, cfg->redis_port, tv), cfg->redis_url);
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

int bench_redis_info_int(redisContext *c, const char *section, const char *field, long long *out)
{
    const char *argv[] = {"INFO", section};
    redisReply *reply = bench_redis_argv(c, "INFO", 2, argv, NULL);
    size_t flen = strlen(field);
    int ret = -1;

    if (reply == NULL)
        return -1;
    for (const char *p = reply->type == REDIS_REPLY_STRING ? reply->str : ""; *p != '\0';) {
        const char *eol = strchr(p, '\n');
        if (strncmp(p, field, flen) == 0 && p[flen] == ':') {
            *out = strtoll(p + flen + 1, NULL, 10);
            ret = 0;
            break;
        }
        if (eol == NULL)
            break;
        p = eol + 1;
    }
    if (ret != 0)
        bench_error("redis INFO %s has no field %s", section, field);
    freeReplyObject(reply);
    return ret;
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
