/* The Redis ceiling: pipelined FCALL ig_redeem / ig_redeem_many (redis_load.h). */
#include <stdlib.h>
#include <string.h>
#include "bench.h"
#include "ig_calls.h"
#include "keys.h"
#include "redis_load.h"

#define MANY_ARGC_MAX IG_CALL_ARGC(REDEEM_MANY, BENCH_REDIS_BATCH_MAX)

/* A redemption waiting for its call. */
typedef struct item_t {
    bench_ticket_t t;
    bench_code_keys_t k;
    unsigned char hash[IG_EMAIL_HASH_BYTES];
    uint64_t queued_ns;
} item_t;

/* The load in progress. */
typedef struct redis_load_t {
    redisContext *c;
    const bench_redis_load_opts_t *o;
    bench_result_t *r;
    item_t (*groups)[BENCH_REDIS_BATCH_MAX]; /* per bucket: redemptions queued for the next call */
    size_t count[IG_BUCKETS];
    uint64_t *started;  /* ring: queue time of each redemption in flight, in call order */
    size_t *call_items; /* ring: redemptions of each call in flight */
    size_t ring_items, head_item, items_in_flight;
    size_t head_call, calls_in_flight;
} redis_load_t;

/* The HTTP status the gateway answers for each verdict. */
static int status_of(const char *verdict)
{
    static const struct {
        const char *verdict;
        int status;
    } table[] = {
        {"ok", 200},      {"again", 200},     {"not_found", 404},     {"revoked", 410},
        {"expired", 410}, {"exhausted", 409}, {"wrong_account", 403}, {"invites_paused", 503},
    };
    for (size_t i = 0; i != sizeof(table) / sizeof(table[0]); ++i)
        if (strcmp(verdict, table[i].verdict) == 0)
            return table[i].status;
    return 500;
}

static void record_verdict(bench_result_t *r, const char *verdict, uint64_t latency, uint64_t now)
{
    int status = status_of(verdict), plain_ok = strcmp(verdict, "ok") == 0;
    /* Successes carry no reason, like the HTTP answers; anything else carries the verdict. */
    bench_result_record(r, BENCH_OP_REDEEM, status, plain_ok ? "" : verdict, plain_ok ? 0 : strlen(verdict), latency, now);
}

/* Takes the next ticket into its bucket's group; returns the bucket. */
static unsigned queue_ticket(redis_load_t *l, uint64_t now)
{
    bench_ticket_t t;
    bench_pool_next_ticket(l->o->pool, &t);
    if (!t.expect_ok)
        ++l->r->past_capacity;
    unsigned b = ig_code_bucket(t.code->body);
    item_t *it = &l->groups[b][l->count[b]++];
    it->t = t;
    bench_code_keys(&it->k, t.code->body);
    ig_email_hash(it->hash, t.email, t.email_len, l->o->email_key);
    it->queued_ns = now;
    return b;
}

/* Appends one call for the group of bucket b (ig_redeem for one item, else ig_redeem_many). Returns 0 or -1. */
static int send_group(redis_load_t *l, unsigned b)
{
    const bench_redis_load_opts_t *o = l->o;
    const char *argv[MANY_ARGC_MAX];
    size_t argvlen[MANY_ARGC_MAX], n = l->count[b];
    item_t *g = l->groups[b];
    ig_fcall_t c;

    if (o->batch == 1) {
        item_t *it = &g[0];
        ig_fcall_begin(&c, IG_CALL_REDEEM, 0, argv, argvlen, MANY_ARGC_MAX);
        const char *keys[] = {it->k.hash, it->k.set, it->k.gate, it->k.stream, it->k.field, it->t.code->body, it->t.email};
        ig_fcall_strs(&c, keys, sizeof(keys) / sizeof(keys[0]));
        ig_fcall_bin(&c, it->hash, sizeof(it->hash));
        ig_fcall_str(&c, o->client_addr);
    } else {
        ig_fcall_begin(&c, IG_CALL_REDEEM_MANY, n, argv, argvlen, MANY_ARGC_MAX);
        ig_fcall_str(&c, g[0].k.gate);
        ig_fcall_str(&c, g[0].k.stream);
        for (size_t i = 0; i != n; ++i) {
            ig_fcall_str(&c, g[i].k.hash);
            ig_fcall_str(&c, g[i].k.set);
        }
        for (size_t i = 0; i != n; ++i) {
            ig_fcall_str(&c, g[i].k.field);
            ig_fcall_bin(&c, g[i].t.code->body, IG_CODE_BODY_LEN);
            ig_fcall_bin(&c, g[i].t.email, g[i].t.email_len);
            ig_fcall_bin(&c, g[i].hash, IG_EMAIL_HASH_BYTES);
            ig_fcall_str(&c, o->client_addr);
        }
    }
    if (redisAppendCommandArgv(l->c, (int)ig_fcall_end(&c), argv, argvlen) != REDIS_OK) {
        bench_error("redis FCALL: %s", l->c->errstr);
        return -1;
    }
    for (size_t i = 0; i != n; ++i)
        l->started[(l->head_item + l->items_in_flight++) % l->ring_items] = g[i].queued_ns;
    l->call_items[(l->head_call + l->calls_in_flight++) % o->pipeline] = n;
    l->count[b] = 0;
    return 0;
}

/* Counts the answers of one call. */
static void record_reply(redis_load_t *l, const redisReply *reply, uint64_t now)
{
    size_t n = l->call_items[l->head_call];
    l->head_call = (l->head_call + 1) % l->o->pipeline;
    --l->calls_in_flight;
    for (size_t i = 0; i != n; ++i) {
        const redisReply *v = NULL;
        const char *verdict = reply->type == REDIS_REPLY_ERROR ? "redis_error" : "unexpected";
        if (reply->type == REDIS_REPLY_ARRAY)
            v = l->o->batch == 1 ? (reply->elements >= 1 ? reply->element[0] : NULL)
                                 : (reply->elements == 3 * n ? reply->element[3 * i] : NULL);
        if (v != NULL && v->type == REDIS_REPLY_STRING)
            verdict = v->str;
        record_verdict(l->r, verdict, now - l->started[l->head_item], now);
        l->head_item = (l->head_item + 1) % l->ring_items;
        --l->items_in_flight;
    }
}

static int run(redis_load_t *l)
{
    const bench_redis_load_opts_t *o = l->o;
    uint64_t now = bench_now_ns(), end = now + (uint64_t)(o->duration_s * (double)BENCH_NS_PER_SEC);
    int done;

    bench_result_start(l->r, now);
    for (;;) {
        now = bench_now_ns();
        while (now < end && l->calls_in_flight < o->pipeline) {
            unsigned b = queue_ticket(l, now);
            if (l->count[b] == o->batch && send_group(l, b) != 0)
                return -1;
        }
        if (now >= end) /* the redemptions still queued go out in smaller calls */
            for (unsigned b = 0; b != IG_BUCKETS && l->calls_in_flight < o->pipeline; ++b)
                if (l->count[b] != 0 && send_group(l, b) != 0)
                    return -1;
        if (l->calls_in_flight == 0)
            return 0;
        do {
            if (redisBufferWrite(l->c, &done) != REDIS_OK) {
                bench_error("redis write: %s", l->c->errstr);
                return -1;
            }
        } while (!done);
        if (redisBufferRead(l->c) != REDIS_OK) {
            bench_error("redis read: %s", l->c->errstr);
            return -1;
        }
        now = bench_now_ns();
        for (;;) {
            void *reply = NULL;
            if (redisGetReplyFromReader(l->c, &reply) != REDIS_OK) {
                bench_error("redis reply: %s", l->c->errstr);
                return -1;
            }
            if (reply == NULL)
                break;
            record_reply(l, reply, now);
            freeReplyObject(reply);
        }
    }
}

int bench_redis_load_run(bench_result_t *r, redisContext *c, const bench_redis_load_opts_t *o)
{
    redis_load_t l = {.c = c, .o = o, .r = r};
    int ret = -1;

    r->via = "redis";
    snprintf(r->workload, sizeof(r->workload), "%s", o->batch > 1 ? "redeem_many" : "redeem");
    r->connections = 1;
    r->pipeline = o->pipeline;
    r->batch = o->batch;
    if (o->pipeline == 0 || o->batch == 0 || o->batch > BENCH_REDIS_BATCH_MAX) {
        bench_error("%s: needs a pipeline of at least 1 and a batch of 1 to %d", r->name, BENCH_REDIS_BATCH_MAX);
        return -1;
    }
    l.ring_items = (size_t)o->pipeline * o->batch;
    l.groups = calloc(IG_BUCKETS, sizeof(*l.groups));
    l.started = calloc(l.ring_items, sizeof(*l.started));
    l.call_items = calloc(o->pipeline, sizeof(*l.call_items));
    if (l.groups == NULL || l.started == NULL || l.call_items == NULL) {
        bench_error("out of memory");
        goto Exit;
    }
    ret = run(&l);
    /* Redemptions lost with the connection: their outcome is unknown. */
    for (uint64_t now = bench_now_ns(); l.items_in_flight != 0; --l.items_in_flight)
        bench_result_record(r, BENCH_OP_REDEEM, BENCH_STATUS_NONE, "closed", 6, 0, now);
    bench_result_finish(r, r->end_ns);
Exit:
    free(l.groups);
    free(l.started);
    free(l.call_items);
    return ret;
}
