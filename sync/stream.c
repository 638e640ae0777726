#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include "ig_log.h"
#include "stream.h"

#define SYNC_REDIS_CONNECT_TIMEOUT_MS 2000
/* Added to sync_block_ms for the socket timeout: a blocked read is not a dead server. */
#define SYNC_REDIS_TIMEOUT_MARGIN_MS 10000
/* "XREADGROUP GROUP g c COUNT n BLOCK ms STREAMS" then a key and an id per stream. */
#define SYNC_XREAD_MAX_ARGS (9 + 2 * IG_BUCKETS)

/* Sets s->errstr; always returns -1 so callers can `return fail(...)`. */
__attribute__((format(printf, 2, 3))) static int fail(sync_stream_t *s, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    vsnprintf(s->errstr, sizeof(s->errstr), fmt, args);
    va_end(args);
    return -1;
}

/* Records why a reply is missing (I/O error) or an error reply. */
static int fail_reply(sync_stream_t *s, const char *what, const redisReply *reply)
{
    if (reply == NULL)
        return fail(s, "%s: %s", what, s->redis->errstr[0] != '\0' ? s->redis->errstr : "connection lost");
    if (reply->type == REDIS_REPLY_ERROR)
        return fail(s, "%s: %.*s", what, (int)reply->len, reply->str);
    return fail(s, "%s: unexpected reply type %d", what, reply->type);
}

/* Reads the next pipelined reply; NULL on I/O error. The caller frees it. */
static redisReply *next_reply(sync_stream_t *s)
{
    void *reply = NULL;
    if (redisGetReply(s->redis, &reply) != REDIS_OK)
        return NULL;
    return reply;
}

static struct timeval ms_to_timeval(unsigned ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    return tv;
}

/* Parses "ms-seq" into two numbers; returns -1 when id is not a stream id. */
static int parse_id(uint64_t out[2], const char *id)
{
    char *end;
    out[0] = strtoull(id, &end, 10);
    if (end == id || *end != '-')
        return -1;
    id = end + 1;
    out[1] = strtoull(id, &end, 10);
    return end == id || *end != '\0' ? -1 : 0;
}

/* Past the last bucket s serves. */
static unsigned end_bucket(const sync_stream_t *s)
{
    return s->first + s->count;
}

/* Bucket of s whose stream is named by key, or -1. */
static int bucket_of_key(const sync_stream_t *s, const redisReply *key)
{
    if (key->type != REDIS_REPLY_STRING)
        return -1;
    for (unsigned b = s->first; b != end_bucket(s); ++b)
        if (strlen(s->keys[b]) == key->len && memcmp(s->keys[b], key->str, key->len) == 0)
            return (int)b;
    return -1;
}

void sync_stream_init(sync_stream_t *s, const ig_config_t *cfg, unsigned first, unsigned count)
{
    assert(count != 0 && first + count <= IG_BUCKETS);
    memset(s, 0, sizeof(*s));
    s->cfg = cfg;
    s->first = first;
    s->count = count;
    for (unsigned b = 0; b != IG_BUCKETS; ++b)
        snprintf(s->keys[b], sizeof(s->keys[b]), "ig:{%u}:events", b);
}

void sync_stream_disconnect(sync_stream_t *s)
{
    if (s->redis != NULL) {
        redisFree(s->redis);
        s->redis = NULL;
    }
}

/* Creates the group on every stream (pipelined); an existing group is fine. */
static int create_groups(sync_stream_t *s)
{
    int ret = 0;

    for (unsigned b = s->first; b != end_bucket(s); ++b)
        redisAppendCommand(s->redis, "XGROUP CREATE %s %s 0 MKSTREAM", s->keys[b], IG_STREAM_GROUP);
    for (unsigned b = s->first; b != end_bucket(s); ++b) {
        redisReply *reply = next_reply(s);
        if (reply == NULL)
            return fail_reply(s, "XGROUP CREATE", NULL);
        if (reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "BUSYGROUP", 9) != 0 && ret == 0)
            ret = fail(s, "XGROUP CREATE %s: %s", s->keys[b], reply->str);
        freeReplyObject(reply);
    }
    return ret;
}

int sync_stream_connect(sync_stream_t *s)
{
    const ig_config_t *cfg = s->cfg;
    struct timeval connect_tv = ms_to_timeval(SYNC_REDIS_CONNECT_TIMEOUT_MS);

    sync_stream_disconnect(s);
    if (cfg->redis_unix[0] != '\0')
        s->redis = redisConnectUnixWithTimeout(cfg->redis_unix, connect_tv);
    else
        s->redis = redisConnectWithTimeout(cfg->redis_host, cfg->redis_port, connect_tv);
    if (s->redis == NULL)
        return fail(s, "connect: out of memory");
    if (s->redis->err != 0)
        goto Error;
    /* Keepalive is a TCP option: on a Unix socket hiredis would report an error. */
    if (redisSetTimeout(s->redis, ms_to_timeval(cfg->sync_block_ms + SYNC_REDIS_TIMEOUT_MARGIN_MS)) != REDIS_OK ||
        (cfg->redis_unix[0] == '\0' && redisEnableKeepAlive(s->redis) != REDIS_OK))
        goto Error;
    if (create_groups(s) != 0) {
        sync_stream_disconnect(s);
        return -1;
    }
    s->draining = 1;
    for (unsigned b = 0; b != IG_BUCKETS; ++b)
        strcpy(s->pending_from[b], b >= s->first && b < end_bucket(s) ? "0" : "");
    return 0;

Error:
    fail(s, "connect: %s", s->redis->errstr);
    sync_stream_disconnect(s);
    return -1;
}

/* Adds the [key, entries] pairs of an XREADGROUP reply to b, counting the entries of each stream in counts. */
static int add_streams(sync_stream_t *s, sync_batch_t *b, const redisReply *reply, long counts[IG_BUCKETS])
{
    for (size_t i = 0; i != reply->elements; ++i) {
        const redisReply *pair = reply->element[i];
        int bucket;
        long n;
        if (pair->type != REDIS_REPLY_ARRAY || pair->elements != 2 || (bucket = bucket_of_key(s, pair->element[0])) < 0)
            return fail(s, "XREADGROUP: unexpected reply shape");
        if ((n = sync_batch_add_entries(b, (unsigned)bucket, pair->element[1])) < 0)
            return fail(s, "XREADGROUP %s: entry without a usable id", s->keys[bucket]);
        counts[bucket] += n;
    }
    return 0;
}

/* After a pending read: moves each stream's cursor past what it returned, or marks it drained. */
static void advance_pending(sync_stream_t *s, const sync_batch_t *b, size_t first, const long counts[IG_BUCKETS])
{
    for (size_t i = first; i != b->num_events; ++i)
        sync_event_entry_id(s->pending_from[b->events[i].bucket], &b->events[i]);
    s->draining = 0;
    for (unsigned k = 0; k != IG_BUCKETS; ++k) {
        if (counts[k] == 0)
            s->pending_from[k][0] = '\0';
        if (s->pending_from[k][0] != '\0')
            s->draining = 1;
    }
}

int sync_stream_read(sync_stream_t *s, sync_batch_t *b, int block)
{
    const char *argv[SYNC_XREAD_MAX_ARGS];
    char count[16], block_ms[16];
    const char *ids[IG_BUCKETS];
    int argc = 0, nstreams = 0, draining = s->draining;
    long counts[IG_BUCKETS] = {0};
    size_t first = b->num_events;
    redisReply *reply;

    snprintf(count, sizeof(count), "%u", s->cfg->sync_batch_size);
    snprintf(block_ms, sizeof(block_ms), "%u", s->cfg->sync_block_ms);
    argv[argc++] = "XREADGROUP";
    argv[argc++] = "GROUP";
    argv[argc++] = IG_STREAM_GROUP;
    argv[argc++] = s->cfg->sync_consumer;
    argv[argc++] = "COUNT";
    argv[argc++] = count;
    /* Reading pending entries never blocks; BLOCK is only for new ones. */
    if (!draining && block) {
        argv[argc++] = "BLOCK";
        argv[argc++] = block_ms;
    }
    argv[argc++] = "STREAMS";
    for (unsigned k = s->first; k != end_bucket(s); ++k) {
        if (draining && s->pending_from[k][0] == '\0')
            continue;
        argv[argc++] = s->keys[k];
        ids[nstreams++] = draining ? s->pending_from[k] : ">";
    }
    for (int i = 0; i != nstreams; ++i)
        argv[argc++] = ids[i];

    b->source = draining ? "pending" : "new";
    b->first_delivery = !draining;
    if ((reply = redisCommandArgv(s->redis, argc, argv, NULL)) == NULL || reply->type == REDIS_REPLY_ERROR) {
        fail_reply(s, "XREADGROUP", reply);
        if (reply != NULL)
            freeReplyObject(reply);
        return -1;
    }
    sync_batch_keep(b, reply);
    /* A nil reply is a blocking read that timed out. */
    if (reply->type == REDIS_REPLY_ARRAY && add_streams(s, b, reply, counts) != 0)
        return -1;
    if (reply->type != REDIS_REPLY_ARRAY && reply->type != REDIS_REPLY_NIL)
        return fail_reply(s, "XREADGROUP", reply);
    if (draining) {
        advance_pending(s, b, first, counts);
        if (!s->draining)
            ig_info("msg=\"own pending entries drained, reading new entries\" consumer=%s streams=%u-%u", s->cfg->sync_consumer,
                    s->first, end_bucket(s) - 1);
    }
    return 0;
}

void sync_stream_claim_start(sync_stream_t *s)
{
    for (unsigned k = 0; k != IG_BUCKETS; ++k)
        strcpy(s->claim_from[k], k >= s->first && k < end_bucket(s) ? "0-0" : "");
}

/* Handles one XAUTOCLAIM reply [next cursor, entries, deleted ids] of bucket k. */
static int claim_reply(sync_stream_t *s, sync_batch_t *b, unsigned k, const redisReply *reply)
{
    const redisReply *next;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 2 || (next = reply->element[0])->type != REDIS_REPLY_STRING ||
        next->len >= SYNC_ENTRY_ID_BYTES)
        return fail(s, "XAUTOCLAIM %s: unexpected reply shape", s->keys[k]);
    if (sync_batch_add_entries(b, k, reply->element[1]) < 0)
        return fail(s, "XAUTOCLAIM %s: entry without a usable id", s->keys[k]);
    /* Redis 7 drops from the pending list the entries deleted from the stream and names them here. */
    if (reply->elements >= 3 && reply->element[2]->type == REDIS_REPLY_ARRAY && reply->element[2]->elements != 0)
        ig_warn("msg=\"pending entries were deleted from the stream before being applied\" stream=%s count=%zu", s->keys[k],
                reply->element[2]->elements);
    if (strcmp(next->str, "0-0") == 0)
        s->claim_from[k][0] = '\0';
    else
        memcpy(s->claim_from[k], next->str, next->len + 1);
    return 0;
}

int sync_stream_claim(sync_stream_t *s, sync_batch_t *b, int *more)
{
    char idle[16], count[16];
    int asked[IG_BUCKETS], ret = 0;

    snprintf(idle, sizeof(idle), "%u", s->cfg->sync_claim_idle_ms);
    snprintf(count, sizeof(count), "%u", s->cfg->sync_batch_size);
    b->source = "claimed";
    b->first_delivery = 0;
    for (unsigned k = 0; k != IG_BUCKETS; ++k) {
        const char *argv[] = {"XAUTOCLAIM", s->keys[k],       IG_STREAM_GROUP, s->cfg->sync_consumer,
                              idle,         s->claim_from[k], "COUNT",         count};
        if ((asked[k] = s->claim_from[k][0] != '\0'))
            redisAppendCommandArgv(s->redis, sizeof(argv) / sizeof(argv[0]), argv, NULL);
    }
    /* Every reply is read (or the connection is dropped) so the pipeline stays in step. */
    for (unsigned k = 0; k != IG_BUCKETS; ++k) {
        redisReply *reply;
        if (!asked[k])
            continue;
        if ((reply = next_reply(s)) == NULL)
            return fail_reply(s, "XAUTOCLAIM", NULL);
        sync_batch_keep(b, reply);
        if (ret == 0 && (reply->type == REDIS_REPLY_ERROR ? fail_reply(s, "XAUTOCLAIM", reply) : claim_reply(s, b, k, reply)) != 0)
            ret = -1;
    }
    *more = 0;
    for (unsigned k = 0; k != IG_BUCKETS; ++k)
        if (s->claim_from[k][0] != '\0')
            *more = 1;
    return ret;
}

int sync_stream_ack(sync_stream_t *s, const sync_batch_t *b, long long *acked)
{
    const char **argv = NULL;
    char(*ids)[SYNC_ENTRY_ID_BYTES] = NULL;
    size_t counts[IG_BUCKETS] = {0}, nkeys = 0;
    int ret = -1;

    *acked = 0;
    if (b->num_events == 0)
        return 0;
    if ((argv = malloc((b->num_events + 3) * sizeof(*argv))) == NULL || (ids = malloc(b->num_events * sizeof(*ids))) == NULL)
        abort();
    for (size_t i = 0; i != b->num_events; ++i)
        ++counts[b->events[i].bucket];
    for (unsigned k = 0; k != IG_BUCKETS; ++k) {
        int argc = 0;
        if (counts[k] == 0)
            continue;
        argv[argc++] = "XACK";
        argv[argc++] = s->keys[k];
        argv[argc++] = IG_STREAM_GROUP;
        for (size_t i = 0; i != b->num_events; ++i)
            if (b->events[i].bucket == k && b->events[i].item == 0)
                argv[argc++] = sync_event_entry_id(ids[i], &b->events[i]);
        redisAppendCommandArgv(s->redis, argc, argv, NULL);
        ++nkeys;
    }
    ret = 0;
    for (size_t i = 0; i != nkeys; ++i) {
        redisReply *reply = next_reply(s);
        if (reply == NULL) {
            ret = fail_reply(s, "XACK", NULL);
            goto Exit;
        }
        if (reply->type == REDIS_REPLY_INTEGER)
            *acked += reply->integer;
        else if (ret == 0)
            ret = fail_reply(s, "XACK", reply);
        freeReplyObject(reply);
    }

Exit:
    free(ids);
    free(argv);
    return ret;
}

/* The group's last-delivered-id from an XINFO GROUPS reply (RESP2: flat name/value arrays). */
static int last_delivered(uint64_t out[2], const redisReply *groups)
{
    if (groups->type != REDIS_REPLY_ARRAY)
        return -1;
    for (size_t g = 0; g != groups->elements; ++g) {
        const redisReply *kv = groups->element[g], *name = NULL, *last = NULL;
        if (kv->type != REDIS_REPLY_ARRAY)
            continue;
        for (size_t i = 0; i + 1 < kv->elements; i += 2) {
            const redisReply *k = kv->element[i], *v = kv->element[i + 1];
            if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
                continue;
            if (strcmp(k->str, "name") == 0)
                name = v;
            else if (strcmp(k->str, "last-delivered-id") == 0)
                last = v;
        }
        if (name != NULL && last != NULL && strcmp(name->str, IG_STREAM_GROUP) == 0)
            return parse_id(out, last->str);
    }
    return -1;
}

/*
 * Where stream k may be trimmed, from its XINFO GROUPS and XPENDING replies,
 * in that order on the server. Everything up to last-delivered was delivered
 * before XPENDING ran, so when XPENDING then counts nothing pending it has all
 * been acknowledged; otherwise the oldest pending entry bounds the cut.
 * Returns 0 with cut set, or -1 when there is nothing to trim.
 */
static int trim_point(uint64_t cut[2], const redisReply *groups, const redisReply *pending)
{
    uint64_t oldest[2];

    if (last_delivered(cut, groups) != 0 || (cut[0] == 0 && cut[1] == 0))
        return -1;
    if (pending->type != REDIS_REPLY_ARRAY || pending->elements < 2 || pending->element[0]->type != REDIS_REPLY_INTEGER)
        return -1;
    if (pending->element[0]->integer == 0)
        return 0;
    if (pending->element[1]->type != REDIS_REPLY_STRING || parse_id(oldest, pending->element[1]->str) != 0)
        return -1;
    if (oldest[0] < cut[0] || (oldest[0] == cut[0] && oldest[1] < cut[1]))
        memcpy(cut, oldest, sizeof(oldest));
    return 0;
}

int sync_stream_trim(sync_stream_t *s, long long *removed)
{
    redisReply *info[IG_BUCKETS] = {NULL}, *pending[IG_BUCKETS] = {NULL};
    int trimming[IG_BUCKETS] = {0}, ret = -1;

    *removed = 0;
    for (unsigned k = s->first; k != end_bucket(s); ++k) {
        redisAppendCommand(s->redis, "XINFO GROUPS %s", s->keys[k]);
        redisAppendCommand(s->redis, "XPENDING %s %s", s->keys[k], IG_STREAM_GROUP);
    }
    for (unsigned k = s->first; k != end_bucket(s); ++k) {
        if ((info[k] = next_reply(s)) == NULL || (pending[k] = next_reply(s)) == NULL) {
            fail_reply(s, "XINFO/XPENDING", NULL);
            goto Exit;
        }
    }
    for (unsigned k = s->first; k != end_bucket(s); ++k) {
        uint64_t cut[2];
        char id[SYNC_ENTRY_ID_BYTES];
        /* A stream whose group vanished (an error reply here) is left alone. */
        if (trim_point(cut, info[k], pending[k]) != 0)
            continue;
        snprintf(id, sizeof(id), "%" PRIu64 "-%" PRIu64, cut[0], cut[1]);
        redisAppendCommand(s->redis, "XTRIM %s MINID ~ %s", s->keys[k], id);
        trimming[k] = 1;
    }
    ret = 0;
    for (unsigned k = 0; k != IG_BUCKETS; ++k) {
        redisReply *reply;
        if (!trimming[k])
            continue;
        if ((reply = next_reply(s)) == NULL) {
            ret = fail_reply(s, "XTRIM", NULL);
            goto Exit;
        }
        if (reply->type == REDIS_REPLY_INTEGER)
            *removed += reply->integer;
        else if (ret == 0)
            ret = fail_reply(s, "XTRIM", reply);
        freeReplyObject(reply);
    }

Exit:
    for (unsigned k = 0; k != IG_BUCKETS; ++k) {
        if (info[k] != NULL)
            freeReplyObject(info[k]);
        if (pending[k] != NULL)
            freeReplyObject(pending[k]);
    }
    return ret;
}
