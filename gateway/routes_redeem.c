/*
 * POST /api/invites/redeem, the launch-day hot path.
 *
 * Redemptions are coalesced, adaptively: each thread keeps at most one round
 * of calls in flight. Redemptions that arrive while a round is out wait in a
 * queue per hash-tag bucket; when the round's replies are in (or at the end
 * of the loop turn when nothing is out) every non-empty bucket goes out as one
 * ig_redeem_many call. At low load a redemption is sent at once; under load
 * the batches grow with the load, the fixed cost of a Redis function call is
 * shared by the whole batch, and each call still touches one cluster slot.
 * Items are applied in arrival order, exactly as separate calls would be.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ig_keys.h"
#include "invites.h"
#include "routes.h"

/** Most redemptions in one call; a full bucket is sent at once. */
#define QUEUE_MAX_ITEMS 64
#define KEYS_PER_ITEM 3
#define ARGS_PER_ITEM 5

/* What one queued redemption sends. */
typedef struct redeem_state_t {
    gw_redeem_req_t in;
    ig_code_keys_t k;
    char set_key[IG_KEY_MAX_BYTES];
    char rl_key[IG_KEY_MAX_BYTES];
    char addr[GW_ADDR_MAX_BYTES];
    unsigned char email_hash[IG_EMAIL_HASH_BYTES];
} redeem_state_t;

typedef struct gw_redeem_queue_t {
    gw_thread_t *thread;
    gw_req_t *items[IG_BUCKETS][QUEUE_MAX_ITEMS]; /* held (gw_req_hold) while queued */
    size_t count[IG_BUCKETS];
    size_t queued;                   /* sum of count[] */
    unsigned calls_out;              /* calls of the current round not yet answered */
    h2o_timeout_entry_t flush_entry; /* linked to the zero timeout while a round is due */
} gw_redeem_queue_t;

static void on_redeem_reply(gw_req_t *rq, redisReply *reply, const char *err)
{
    const redeem_state_t *st = rq->state;
    size_t base = rq->batch_index * 3;
    if (err != NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements < base + 3 ||
        reply->element[base]->type != REDIS_REPLY_STRING) {
        gw_fail_redis(rq, reply, err);
        return;
    }
    const char *verdict = reply->element[base]->str;
    long long a = gw_reply_int(reply, base + 1), b = gw_reply_int(reply, base + 2);
    if (strcmp(verdict, "ok") == 0 || strcmp(verdict, "again") == 0) {
        gw_req_jsonf(rq, 200,
                     "{\"status\":\"success\",\"message\":\"Invite code redeemed successfully\",\"email\":\"%s\","
                     "\"code\":\"%s%s\",\"uses\":%lld,\"max_uses\":%lld}",
                     st->in.email, gw.cfg.code_prefix, st->in.code, a, b);
        return;
    }
    if (!gw_answer_refusal(rq, verdict, a))
        gw_fail_redis(rq, reply, NULL);
}

static void on_call_done(void *data);

/* Sends the queued redemptions of one bucket in one call. */
static void flush_bucket(gw_redeem_queue_t *q, unsigned bucket)
{
    gw_req_t *live[QUEUE_MAX_ITEMS];
    const char *argv[5 + KEYS_PER_ITEM * QUEUE_MAX_ITEMS + 2 + ARGS_PER_ITEM * QUEUE_MAX_ITEMS];
    size_t argvlen[sizeof(argv) / sizeof(argv[0])], n = 0, argc = 0;
    char numkeys[16], gate_key[IG_KEY_MAX_BYTES], stream_key[IG_KEY_MAX_BYTES];

    /* Requests whose client left while queued are dropped here. */
    for (size_t i = 0; i != q->count[bucket]; ++i) {
        gw_req_t *rq = q->items[bucket][i];
        if (rq->req != NULL)
            live[n++] = rq;
        else
            gw_req_release(rq);
    }
    q->queued -= q->count[bucket];
    q->count[bucket] = 0;
    if (n == 0)
        return;

    snprintf(numkeys, sizeof(numkeys), "%zu", 2 + KEYS_PER_ITEM * n);
    snprintf(gate_key, sizeof(gate_key), "ig:{%u}:gate", bucket);
    snprintf(stream_key, sizeof(stream_key), "ig:{%u}:events", bucket);
    argv[argc++] = "FCALL", argv[argc++] = "ig_redeem_many", argv[argc++] = numkeys;
    argv[argc++] = gate_key, argv[argc++] = stream_key;
    for (size_t i = 0; i != n; ++i) {
        redeem_state_t *st = live[i]->state;
        argv[argc++] = st->k.hash, argv[argc++] = st->set_key, argv[argc++] = st->rl_key;
    }
    argv[argc++] = gw.rl_interval, argv[argc++] = gw.rl_burst;
    gw_str_lens(argvlen, argv, argc);
    for (size_t i = 0; i != n; ++i) {
        redeem_state_t *st = live[i]->state;
        argv[argc] = st->k.field, argvlen[argc++] = strlen(st->k.field);
        argv[argc] = st->in.code, argvlen[argc++] = IG_CODE_BODY_LEN;
        argv[argc] = st->in.email, argvlen[argc++] = st->in.email_len;
        argv[argc] = (const char *)st->email_hash, argvlen[argc++] = IG_EMAIL_HASH_BYTES;
        argv[argc] = st->addr, argvlen[argc++] = strlen(st->addr);
    }
    int sent = gw_req_redis_many(live, n, (int)argc, argv, argvlen, on_call_done, q);
    if (sent == 0)
        ++q->calls_out;
    /* The call holds the requests now (or nobody does); answer them if it could not go out. */
    for (size_t i = 0; i != n; ++i) {
        if (sent != 0)
            gw_req_unavailable(live[i]);
        gw_req_release(live[i]);
    }
}

static void on_flush(h2o_timeout_entry_t *entry)
{
    gw_redeem_queue_t *q = H2O_STRUCT_FROM_MEMBER(gw_redeem_queue_t, flush_entry, entry);
    for (unsigned b = 0; b != IG_BUCKETS && q->queued != 0; ++b)
        if (q->count[b] != 0)
            flush_bucket(q, b);
}

/* Sends the next round at the end of this loop turn, unless a round is out. */
static void schedule_round(gw_redeem_queue_t *q)
{
    if (q->calls_out == 0 && q->queued != 0 && !h2o_timeout_is_linked(&q->flush_entry))
        h2o_timeout_link(q->thread->ctx.loop, &q->thread->ctx.zero_timeout, &q->flush_entry);
}

static void on_call_done(void *data)
{
    gw_redeem_queue_t *q = data;
    --q->calls_out;
    schedule_round(q);
}

static gw_redeem_queue_t *queue_of(gw_thread_t *thread)
{
    if (thread->redeem_queue == NULL) {
        if ((thread->redeem_queue = calloc(1, sizeof(*thread->redeem_queue))) == NULL)
            h2o_fatal("no memory");
        thread->redeem_queue->thread = thread;
        thread->redeem_queue->flush_entry.cb = on_flush;
    }
    return thread->redeem_queue;
}

static void enqueue(gw_req_t *rq, unsigned bucket)
{
    gw_redeem_queue_t *q = queue_of(rq->thread);
    gw_req_hold(rq);
    q->items[bucket][q->count[bucket]++] = rq;
    ++q->queued;
    if (q->count[bucket] == QUEUE_MAX_ITEMS)
        flush_bucket(q, bucket);
    else
        schedule_round(q);
}

void gw_route_redeem(gw_req_t *rq, h2o_iovec_t param)
{
    redeem_state_t *st;
    gw_error_t err;

    if (gw_req_check_body(rq, gw.cfg.public_body_bytes) != 0)
        return;
    if ((st = malloc(sizeof(*st))) == NULL)
        h2o_fatal("no memory");
    rq->state = st;
    rq->free_state = free;
    if (gw_parse_redeem(&st->in, &err, rq->req->entity.base, rq->req->entity.len, gw.cfg.code_prefix, gw.code_key) != 0) {
        gw_req_error(rq, &err, 0);
        return;
    }
    ig_code_keys(&st->k, st->in.code);
    ig_email_hash(st->email_hash, st->in.email, st->in.email_len, gw.email_key);
    gw_req_client_addr(rq, st->addr, sizeof(st->addr));
    snprintf(st->set_key, sizeof(st->set_key), "ig:{%u}:r:%s", st->k.bucket, st->in.code);
    snprintf(st->rl_key, sizeof(st->rl_key), "ig:{%u}:rl:%s", st->k.bucket, st->addr);
    rq->on_reply = on_redeem_reply;
    enqueue(rq, st->k.bucket);
}
