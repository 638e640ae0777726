/* The Redis ceiling: pipelined FCALL ig_redeem / ig_redeem_many (redis_load.h). */
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include "bench.h"
#include "ig_calls.h"
#include "keys.h"
#include "rconn.h"
#include "redis_load.h"

#define MANY_ARGC_MAX IG_CALL_ARGC(REDEEM_MANY, BENCH_REDIS_BATCH_MAX)

/* A redemption waiting for its call. */
typedef struct item_t {
    bench_ticket_t t;
    bench_code_keys_t k;
    unsigned char hash[IG_EMAIL_HASH_BYTES];
    uint64_t queued_ns;
} item_t;

/* One connection (a master's) and its calls in flight, answered in order. */
typedef struct node_t {
    redisContext *c;
    uint64_t *started;  /* ring: queue time of each redemption in flight, in call order */
    size_t *call_items; /* ring: redemptions of each call in flight */
    size_t head_item, items_in_flight;
    size_t head_call, calls_in_flight;
} node_t;

/* The load in progress. */
typedef struct redis_load_t {
    const sync_route_t *route;
    const bench_redis_load_opts_t *o;
    bench_result_t *r;
    item_t (*groups)[BENCH_REDIS_BATCH_MAX]; /* per bucket: redemptions queued for the next call */
    size_t count[IG_BUCKETS_MAX];
    node_t nodes[SYNC_ROUTE_MAX_NODES];
    size_t ring_items, calls_in_flight; /* calls in flight on all connections */
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
    unsigned b = ig_code_bucket(t.code->body, l->route->buckets);
    item_t *it = &l->groups[b][l->count[b]++];
    it->t = t;
    bench_code_keys(&it->k, t.code->body, l->route->buckets);
    ig_email_hash(it->hash, t.email, t.email_len, l->o->email_key);
    it->queued_ns = now;
    return b;
}

/* The connection of bucket b. */
static node_t *node_of(redis_load_t *l, unsigned b)
{
    return &l->nodes[sync_route_node_of(l->route, b)];
}

/* Appends one call for the group of bucket b (ig_redeem for one item, else ig_redeem_many) on its connection. Returns 0 or -1. */
static int send_group(redis_load_t *l, unsigned b)
{
    const bench_redis_load_opts_t *o = l->o;
    node_t *nd = node_of(l, b);
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
    if (redisAppendCommandArgv(nd->c, (int)ig_fcall_end(&c), argv, argvlen) != REDIS_OK) {
        bench_error("redis FCALL: %s", nd->c->errstr);
        return -1;
    }
    for (size_t i = 0; i != n; ++i)
        nd->started[(nd->head_item + nd->items_in_flight++) % l->ring_items] = g[i].queued_ns;
    nd->call_items[(nd->head_call + nd->calls_in_flight++) % o->pipeline] = n;
    ++l->calls_in_flight;
    l->count[b] = 0;
    return 0;
}

/* Counts the answers of the oldest call of nd. */
static void record_reply(redis_load_t *l, node_t *nd, const redisReply *reply, uint64_t now)
{
    size_t n = nd->call_items[nd->head_call];
    nd->head_call = (nd->head_call + 1) % l->o->pipeline;
    --nd->calls_in_flight;
    --l->calls_in_flight;
    for (size_t i = 0; i != n; ++i) {
        const redisReply *v = NULL;
        const char *verdict = reply->type == REDIS_REPLY_ERROR ? "redis_error" : "unexpected";
        if (reply->type == REDIS_REPLY_ARRAY)
            v = l->o->batch == 1 ? (reply->elements >= 1 ? reply->element[0] : NULL)
                                 : (reply->elements == 3 * n ? reply->element[3 * i] : NULL);
        if (v != NULL && v->type == REDIS_REPLY_STRING)
            verdict = v->str;
        record_verdict(l->r, verdict, now - nd->started[nd->head_item], now);
        nd->head_item = (nd->head_item + 1) % l->ring_items;
        --nd->items_in_flight;
    }
}

/* Whether a connection has room for another call. */
static int has_room(const redis_load_t *l)
{
    for (size_t i = 0; i != l->route->num_nodes; ++i)
        if (l->nodes[i].calls_in_flight < l->o->pipeline)
            return 1;
    return 0;
}

/* Sends the group of bucket b if it is full and its connection has room; sets *blocked if it is full and has none. Returns 0 or -1.
 */
static int send_full(redis_load_t *l, unsigned b, int *blocked)
{
    if (l->count[b] != l->o->batch)
        return 0;
    if (node_of(l, b)->calls_in_flight == l->o->pipeline) {
        *blocked = 1;
        return 0;
    }
    return send_group(l, b);
}

/* Reads what nd has received and counts every whole answer. Returns 0 or -1. */
static int read_node(redis_load_t *l, node_t *nd)
{
    if (redisBufferRead(nd->c) != REDIS_OK) {
        bench_error("redis read: %s", nd->c->errstr);
        return -1;
    }
    uint64_t now = bench_now_ns();
    for (;;) {
        void *reply = NULL;
        if (redisGetReplyFromReader(nd->c, &reply) != REDIS_OK) {
            bench_error("redis reply: %s", nd->c->errstr);
            return -1;
        }
        if (reply == NULL)
            return 0;
        record_reply(l, nd, reply, now);
        freeReplyObject(reply);
    }
}

static int run(redis_load_t *l)
{
    const bench_redis_load_opts_t *o = l->o;
    size_t num = l->route->num_nodes;
    uint64_t now = bench_now_ns(), end = now + (uint64_t)(o->duration_s * (double)BENCH_NS_PER_SEC);
    struct pollfd fds[SYNC_ROUTE_MAX_NODES];
    int done, blocked;

    bench_result_start(l->r, now);
    for (;;) {
        now = bench_now_ns();
        blocked = 0;
        /* A group that filled up while its connection had no room goes first; no ticket is queued while it waits. */
        for (unsigned b = 0; b != l->route->buckets && num > 1; ++b)
            if (send_full(l, b, &blocked) != 0)
                return -1;
        while (now < end && !blocked && has_room(l))
            if (send_full(l, queue_ticket(l, now), &blocked) != 0)
                return -1;
        if (now >= end) /* the redemptions still queued go out in smaller calls */
            for (unsigned b = 0; b != l->route->buckets; ++b)
                if (l->count[b] != 0 && node_of(l, b)->calls_in_flight < o->pipeline && send_group(l, b) != 0)
                    return -1;
        if (l->calls_in_flight == 0)
            return 0;
        for (size_t i = 0; i != num; ++i) {
            do {
                if (redisBufferWrite(l->nodes[i].c, &done) != REDIS_OK) {
                    bench_error("redis write: %s", l->nodes[i].c->errstr);
                    return -1;
                }
            } while (!done);
        }
        /* One connection: a blocking read, as ever. Several: those that have answers. */
        if (num == 1) {
            if (read_node(l, &l->nodes[0]) != 0)
                return -1;
            continue;
        }
        for (size_t i = 0; i != num; ++i)
            fds[i] = (struct pollfd){.fd = l->nodes[i].calls_in_flight != 0 ? l->nodes[i].c->fd : -1, .events = POLLIN};
        if (poll(fds, num, 30000) <= 0) {
            bench_error("redis: no answer within 30 s");
            return -1;
        }
        for (size_t i = 0; i != num; ++i)
            if (fds[i].revents != 0 && read_node(l, &l->nodes[i]) != 0)
                return -1;
    }
}

int bench_redis_load_run(bench_result_t *r, const sync_route_t *route, const bench_redis_load_opts_t *o)
{
    redis_load_t l = {.route = route, .o = o, .r = r};
    int ret = -1;

    r->via = "redis";
    snprintf(r->workload, sizeof(r->workload), "%s", o->batch > 1 ? "redeem_many" : "redeem");
    r->connections = (unsigned)route->num_nodes;
    r->pipeline = o->pipeline;
    r->batch = o->batch;
    if (o->pipeline == 0 || o->batch == 0 || o->batch > BENCH_REDIS_BATCH_MAX) {
        bench_error("%s: needs a pipeline of at least 1 and a batch of 1 to %d", r->name, BENCH_REDIS_BATCH_MAX);
        return -1;
    }
    l.ring_items = (size_t)o->pipeline * o->batch;
    int oom = (l.groups = calloc(route->buckets, sizeof(*l.groups))) == NULL;
    for (size_t i = 0; i != route->num_nodes; ++i) {
        l.nodes[i].c = route->nodes[i];
        l.nodes[i].started = calloc(l.ring_items, sizeof(*l.nodes[i].started));
        l.nodes[i].call_items = calloc(o->pipeline, sizeof(*l.nodes[i].call_items));
        oom |= l.nodes[i].started == NULL || l.nodes[i].call_items == NULL;
    }
    if (oom) {
        bench_error("out of memory");
        goto Exit;
    }
    ret = run(&l);
    /* Redemptions lost with the connection: their outcome is unknown. */
    uint64_t now = bench_now_ns();
    for (size_t i = 0; i != route->num_nodes; ++i)
        for (; l.nodes[i].items_in_flight != 0; --l.nodes[i].items_in_flight)
            bench_result_record(r, BENCH_OP_REDEEM, BENCH_STATUS_NONE, "closed", 6, 0, now);
    bench_result_finish(r, r->end_ns);
Exit:
    free(l.groups);
    for (size_t i = 0; i != route->num_nodes; ++i) {
        free(l.nodes[i].started);
        free(l.nodes[i].call_items);
    }
    return ret;
}
