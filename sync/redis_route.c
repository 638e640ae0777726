#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "layout.h"
#include "redis_route.h"

__attribute__((format(printf, 2, 3))) static int fail(sync_route_t *r, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    vsnprintf(r->errstr, sizeof(r->errstr), fmt, args);
    va_end(args);
    sync_route_close(r);
    return -1;
}

static struct timeval tv_of(unsigned ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    return tv;
}

/* A connection to host:port (or the Unix socket path when host is NULL), NULL with the reason in err. */
static redisContext *connect_one(const char *host, uint16_t port, const char *path, unsigned connect_ms, unsigned command_ms,
                                 char *err, size_t err_len)
{
    redisContext *c = path != NULL ? redisConnectUnixWithTimeout(path, tv_of(connect_ms))
                                   : redisConnectWithTimeout(host, port, tv_of(connect_ms));
    if (c == NULL) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    if (c->err != 0 || (command_ms != 0 && redisSetTimeout(c, tv_of(command_ms)) != REDIS_OK) ||
        (path == NULL && redisEnableKeepAlive(c) != REDIS_OK)) {
        snprintf(err, err_len, "%.100s:%u: %.120s", path != NULL ? path : host, port,
                 c->errstr[0] != '\0' ? c->errstr : "cannot set up");
        redisFree(c);
        return NULL;
    }
    return c;
}

/* The master serving slot in map, or NULL. */
static const ig_cluster_addr_t *master_of(const ig_cluster_map_t *map, unsigned slot)
{
    for (size_t i = 0; i != map->num_ranges; ++i)
        if (slot >= map->ranges[i].first && slot <= map->ranges[i].last)
            return &map->ranges[i].master;
    return NULL;
}

/* Reads the slot map from the first seed that gives a complete one. Returns 0 or -1. */
static int read_map(sync_route_t *r, ig_cluster_map_t *map, const ig_config_t *cfg, unsigned connect_ms)
{
    char err[SYNC_ROUTE_ERR_BYTES] = "no seed node";

    for (unsigned s = 0; s != cfg->redis_num_seeds; ++s) {
        redisContext *c =
            connect_one(cfg->redis_seeds[s].host, cfg->redis_seeds[s].port, NULL, connect_ms, connect_ms, err, sizeof(err));
        redisReply *reply;
        if (c == NULL)
            continue;
        reply = redisCommand(c, "CLUSTER SLOTS");
        if (reply == NULL)
            snprintf(err, sizeof(err), "CLUSTER SLOTS: %s", c->errstr);
        else if (ig_cluster_parse_slots(map, reply, cfg->redis_seeds[s].host) != 0)
            snprintf(err, sizeof(err), "CLUSTER SLOTS: %s", reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply");
        else if (!ig_cluster_map_covers_all(map)) {
            snprintf(err, sizeof(err), "CLUSTER SLOTS: not every slot has a master");
            ig_cluster_map_free(map);
        } else {
            freeReplyObject(reply);
            redisFree(c);
            return 0;
        }
        if (reply != NULL)
            freeReplyObject(reply);
        redisFree(c);
    }
    return fail(r, "%s", err);
}

/* Compares the configured bucket count with Redis's record (writing it when there is none); a difference ends the process. */
static int check_layout(sync_route_t *r)
{
    char err[SYNC_LAYOUT_ERR_BYTES];
    return sync_layout_redis(r->bucket[IG_WL_BUCKET], r->buckets, err, sizeof(err)) == 0 ? 0 : fail(r, "%s", err);
}

int sync_route_open(sync_route_t *r, const ig_config_t *cfg, unsigned connect_ms, unsigned command_ms)
{
    ig_cluster_map_t map = {NULL, 0};
    char err[SYNC_ROUTE_ERR_BYTES];

    memset(r, 0, sizeof(*r));
    r->cluster = cfg->redis_cluster;
    r->buckets = cfg->buckets;
    if (!r->cluster) {
        const char *path = cfg->redis_unix[0] != '\0' ? cfg->redis_unix : NULL;
        if ((r->nodes[0] = connect_one(cfg->redis_host, cfg->redis_port, path, connect_ms, command_ms, err, sizeof(err))) == NULL)
            return fail(r, "connect: %s", err);
        sync_route_single(r, r->nodes[0], r->buckets);
        return check_layout(r);
    }
    if (read_map(r, &map, cfg, connect_ms) != 0)
        return -1;
    for (unsigned b = 0; b != r->buckets; ++b) {
        char tag[16];
        int n = snprintf(tag, sizeof(tag), "{%u}", b);
        const ig_cluster_addr_t *m = master_of(&map, ig_cluster_keyslot(tag, (size_t)n));
        size_t i = 0;
        while (i != r->num_nodes && (strcmp(r->addrs[i].host, m->host) != 0 || r->addrs[i].port != m->port))
            ++i;
        if (i == r->num_nodes) {
            if ((r->nodes[i] = connect_one(m->host, m->port, NULL, connect_ms, command_ms, err, sizeof(err))) == NULL) {
                ig_cluster_map_free(&map);
                return fail(r, "connect to the master of bucket %u: %s", b, err);
            }
            r->addrs[i] = *m;
            ++r->num_nodes;
        }
        r->bucket[b] = r->nodes[i];
        r->node_of[b] = (uint16_t)i;
    }
    ig_cluster_map_free(&map);
    return check_layout(r);
}

void sync_route_single(sync_route_t *r, redisContext *c, unsigned buckets)
{
    r->nodes[0] = c;
    r->num_nodes = 1;
    r->buckets = buckets;
    for (unsigned b = 0; b != buckets; ++b) {
        r->bucket[b] = c;
        r->node_of[b] = 0;
    }
}

void sync_route_close(sync_route_t *r)
{
    for (size_t i = 0; i != r->num_nodes; ++i)
        redisFree(r->nodes[i]);
    r->num_nodes = 0;
    memset(r->bucket, 0, sizeof(r->bucket));
}

int sync_route_set_timeout(sync_route_t *r, unsigned ms)
{
    for (size_t i = 0; i != r->num_nodes; ++i)
        if (redisSetTimeout(r->nodes[i], tv_of(ms)) != REDIS_OK)
            return -1;
    return 0;
}
