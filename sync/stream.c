#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include "runtime.h"
#include "stream.h"

#define SYNC_REDIS_CONNECT_TIMEOUT_MS 2000
/* Added to the longest block for the socket timeout: a blocked read is not a dead server. */
#define SYNC_REDIS_TIMEOUT_MARGIN_MS 10000
/* "XREAD COUNT n BLOCK ms STREAMS" then a key and an id per stream. */
#define SYNC_XREAD_MAX_ARGS (6 + 2 * IG_BUCKETS_MAX)
/*
 * On a cluster each stream is read alone (one XREAD names keys of one slot),
 * without blocking; an idle round waits before the next, doubling from 1 ms
 * up to this, so idle streams cost a few XREADs a second.
 */
#define SYNC_CLUSTER_IDLE_MAX_MS 50

/* Sets s->errstr; always returns -1 so callers can `return fail(...)`. */
__attribute__((format(printf, 2, 3))) static int fail(sync_stream_t *s, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    vsnprintf(s->errstr, sizeof(s->errstr), fmt, args);
    va_end(args);
    return -1;
}

/* Records why a reply of c is missing (I/O error) or an error reply. */
static int fail_reply(sync_stream_t *s, const redisContext *c, const char *what, const redisReply *reply)
{
    if (reply == NULL)
        return fail(s, "%s: %s", what, c->errstr[0] != '\0' ? c->errstr : "connection lost");
    if (reply->type == REDIS_REPLY_ERROR)
        return fail(s, "%s: %.*s", what, (int)reply->len, reply->str);
    return fail(s, "%s: unexpected reply type %d", what, reply->type);
}

/* Bucket whose stream is named by key and being read, or -1. */
static int bucket_of_key(const sync_stream_t *s, const redisReply *key)
{
    if (key->type != REDIS_REPLY_STRING)
        return -1;
    for (unsigned b = 0; b != s->cfg->buckets; ++b)
        if (s->reading[b] && strlen(s->keys[b]) == key->len && memcmp(s->keys[b], key->str, key->len) == 0)
            return (int)b;
    return -1;
}

void sync_stream_init(sync_stream_t *s, const ig_config_t *cfg)
{
    memset(s, 0, sizeof(*s));
    s->cfg = cfg;
    for (unsigned b = 0; b != cfg->buckets; ++b)
        ig_key_events(s->keys[b], b);
}

void sync_stream_disconnect(sync_stream_t *s)
{
    sync_route_close(&s->route);
}

int sync_stream_connect(sync_stream_t *s)
{
    const ig_config_t *cfg = s->cfg;
    unsigned longest = cfg->sync_block_ms > cfg->sync_batch_window_ms ? cfg->sync_block_ms : cfg->sync_batch_window_ms;

    sync_stream_disconnect(s);
    if (sync_route_open(&s->route, cfg, SYNC_REDIS_CONNECT_TIMEOUT_MS, longest + SYNC_REDIS_TIMEOUT_MARGIN_MS) != 0)
        return fail(s, "%s", s->route.errstr);
    return 0;
}

void sync_stream_seek(sync_stream_t *s, unsigned bucket, const uint64_t after[2])
{
    assert(bucket < s->cfg->buckets);
    s->reading[bucket] = 1;
    s->next[bucket][0] = after[0];
    s->next[bucket][1] = after[1];
}

void sync_stream_stop(sync_stream_t *s, unsigned bucket)
{
    assert(bucket < s->cfg->buckets);
    s->reading[bucket] = 0;
}

/* Adds the [key, entries] pairs of an XREAD reply to b and moves each stream's position past them. */
static int add_streams(sync_stream_t *s, sync_batch_t *b, const redisReply *reply)
{
    for (size_t i = 0; i != reply->elements; ++i) {
        const redisReply *pair = reply->element[i];
        int bucket;
        if (pair->type != REDIS_REPLY_ARRAY || pair->elements != 2 || (bucket = bucket_of_key(s, pair->element[0])) < 0)
            return fail(s, "XREAD: unexpected reply shape");
        if (sync_batch_add_entries(b, (unsigned)bucket, s->next[bucket], pair->element[1]) < 0)
            return fail(s, "XREAD %s: an entry without a usable id, or out of order", s->keys[bucket]);
        if (b->has[bucket]) {
            s->next[bucket][0] = b->to[bucket][0];
            s->next[bucket][1] = b->to[bucket][1];
        }
    }
    return 0;
}

/*
 * Appends to argv (argc entries so far) "STREAMS", the keys of the n
 * streams of buckets and their positions (ids holds them). Returns argc.
 */
static int streams_args(const sync_stream_t *s, const char **argv, int argc, char ids[][SYNC_ENTRY_ID_BYTES],
                        const unsigned *buckets, unsigned n)
{
    argv[argc++] = "STREAMS";
    for (unsigned i = 0; i != n; ++i)
        argv[argc++] = s->keys[buckets[i]];
    for (unsigned i = 0; i != n; ++i) {
        snprintf(ids[i], sizeof(ids[i]), "%" PRIu64 "-%" PRIu64, s->next[buckets[i]][0], s->next[buckets[i]][1]);
        argv[argc++] = ids[i];
    }
    return argc;
}

/* Takes one XREAD reply of c into b. Returns 0 or -1. */
static int take_reply(sync_stream_t *s, sync_batch_t *b, const redisContext *c, redisReply *reply)
{
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        fail_reply(s, c, "XREAD", reply);
        if (reply != NULL)
            freeReplyObject(reply);
        return -1;
    }
    sync_batch_keep(b, reply);
    /* A nil reply is a blocking read that timed out (or a non-blocking one that found nothing). */
    if (reply->type == REDIS_REPLY_NIL)
        return 0;
    if (reply->type != REDIS_REPLY_ARRAY)
        return fail_reply(s, c, "XREAD", reply);
    return add_streams(s, b, reply);
}

/* One XREAD of every stream being read, on the one connection, blocking up to block_ms (0: not at all). */
static int read_single(sync_stream_t *s, sync_batch_t *b, unsigned block_ms, const unsigned *buckets, unsigned n)
{
    const char *argv[SYNC_XREAD_MAX_ARGS];
    char count[16], block[16], ids[IG_BUCKETS_MAX][SYNC_ENTRY_ID_BYTES];
    redisContext *c = s->route.nodes[0];
    int argc = 0;

    snprintf(count, sizeof(count), "%u", s->cfg->sync_batch_size);
    snprintf(block, sizeof(block), "%u", block_ms);
    argv[argc++] = "XREAD";
    argv[argc++] = "COUNT";
    argv[argc++] = count;
    if (block_ms != 0) {
        argv[argc++] = "BLOCK";
        argv[argc++] = block;
    }
    argc = streams_args(s, argv, argc, ids, buckets, n);
    return take_reply(s, b, c, redisCommandArgv(c, argc, argv, NULL));
}

/* On a cluster: one XREAD per stream, each on its master's connection, pipelined, not blocking. */
static int read_cluster_round(sync_stream_t *s, sync_batch_t *b, const unsigned *buckets, unsigned n)
{
    const char *argv[7];
    char count[16], ids[1][SYNC_ENTRY_ID_BYTES];
    unsigned sent = 0;
    int ret = 0;

    snprintf(count, sizeof(count), "%u", s->cfg->sync_batch_size);
    argv[0] = "XREAD", argv[1] = "COUNT", argv[2] = count;
    for (; sent != n; ++sent) {
        int argc = streams_args(s, argv, 3, ids, &buckets[sent], 1);
        if (redisAppendCommandArgv(sync_route_bucket(&s->route, buckets[sent]), argc, argv, NULL) != REDIS_OK)
            return fail(s, "XREAD: out of memory");
    }
    /* Every reply is read, each from its connection in the order sent, so the pipelines stay in step. */
    for (unsigned i = 0; i != sent; ++i) {
        redisContext *c = sync_route_bucket(&s->route, buckets[i]);
        void *reply = NULL;
        if (redisGetReply(c, &reply) != REDIS_OK)
            return fail_reply(s, c, "XREAD", NULL);
        if (ret == 0)
            ret = take_reply(s, b, c, reply);
        else
            freeReplyObject(reply);
    }
    return ret;
}

/* Reads every stream being read once, waiting up to block_ms (0: not at all) for the first entry. Returns 0 or -1. */
static int read_once(sync_stream_t *s, sync_batch_t *b, unsigned block_ms)
{
    unsigned buckets[IG_BUCKETS_MAX], n = 0, idle_ms = 1;
    uint64_t deadline = sync_now_ms() + block_ms;

    for (unsigned k = 0; k != s->cfg->buckets; ++k)
        if (s->reading[k])
            buckets[n++] = k;
    if (!s->route.cluster)
        return read_single(s, b, block_ms, buckets, n);
    for (;;) {
        size_t before = b->entries;
        uint64_t now;
        if (read_cluster_round(s, b, buckets, n) != 0)
            return -1;
        if (b->entries != before || (now = sync_now_ms()) >= deadline || sync_stop_requested())
            return 0;
        sync_sleep_ms(idle_ms < deadline - now ? idle_ms : (unsigned)(deadline - now));
        idle_ms = idle_ms * 2 < SYNC_CLUSTER_IDLE_MAX_MS ? idle_ms * 2 : SYNC_CLUSTER_IDLE_MAX_MS;
    }
}

int sync_stream_fill(sync_stream_t *s, sync_batch_t *b, unsigned window_ms, size_t max_events)
{
    uint64_t deadline;
    unsigned reading = 0;

    for (unsigned k = 0; k != s->cfg->buckets; ++k)
        reading += s->reading[k] != 0;
    if (reading == 0)
        return 0;
    /* The first read waits for anything to arrive; nothing in sync_block_ms means the streams are idle. */
    if (read_once(s, b, s->cfg->sync_block_ms) != 0)
        return -1;
    if (b->entries == 0 || b->num_events >= max_events)
        return 0;
    /*
     * Then the window: rather than a blocking read that returns with the
     * next entry or two (hundreds of reads a second under a live load, each
     * a round trip and a reply for Redis and the daemon to build), wait it
     * out and take what arrived in reads of sync_batch_size entries per
     * stream, until the streams have no more or the batch is full.
     */
    deadline = sync_now_ms() + window_ms;
    /* A first read that came back full found a backlog: no need to wait for more. */
    for (uint64_t now = sync_now_ms(); b->entries < s->cfg->sync_batch_size && now < deadline && !sync_stop_requested();
         now = sync_now_ms())
        sync_sleep_ms((unsigned)(deadline - now));
    while (b->num_events < max_events) {
        size_t before = b->entries;
        if (read_once(s, b, 0) != 0)
            return -1;
        /* A read that came back short of sync_batch_size on every stream emptied them. */
        if (b->entries - before < s->cfg->sync_batch_size)
            return 0;
    }
    return 0;
}

int sync_stream_trim(sync_stream_t *s, const uint64_t marks[IG_BUCKETS_MAX][2], long long *removed)
{
    unsigned asked = 0, trimmed[IG_BUCKETS_MAX];
    int ret = 0;

    *removed = 0;
    for (unsigned k = 0; k != s->cfg->buckets; ++k) {
        char id[SYNC_ENTRY_ID_BYTES];
        if (!s->reading[k] || (marks[k][0] == 0 && marks[k][1] == 0))
            continue;
        snprintf(id, sizeof(id), "%" PRIu64 "-%" PRIu64, marks[k][0], marks[k][1]);
        redisAppendCommand(sync_route_bucket(&s->route, k), "XTRIM %s MINID ~ %s", s->keys[k], id);
        trimmed[asked++] = k;
    }
    /* Every reply is read (or the connection is dropped) so the pipelines stay in step. */
    for (unsigned i = 0; i != asked; ++i) {
        redisContext *c = sync_route_bucket(&s->route, trimmed[i]);
        void *reply = NULL;
        if (redisGetReply(c, &reply) != REDIS_OK)
            return fail_reply(s, c, "XTRIM", NULL);
        const redisReply *r = reply;
        if (r->type == REDIS_REPLY_INTEGER)
            *removed += r->integer;
        else if (ret == 0)
            ret = fail_reply(s, c, "XTRIM", r);
        freeReplyObject(reply);
    }
    return ret;
}
