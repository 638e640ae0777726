/*
 * POST /api/invites/redeem, the launch-day hot path.
 *
 * Redemptions are coalesced (coalesce.h) with one lane per hash-tag bucket:
 * the redemptions of a bucket that arrive while a round is out go together
 * as one ig_redeem_many call, applied in arrival order exactly as separate
 * ig_redeem calls would be.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "coalesce.h"
#include "ig_keys.h"
#include "ig_user.h"
#include "library.h"
#include "routes.h"

#define KEYS_PER_ITEM 2
#define ARGS_PER_ITEM 5

/* What one queued redemption sends. */
typedef struct redeem_state_t {
    gw_redeem_req_t in;
    ig_code_keys_t k;
    char set_key[IG_KEY_MAX_BYTES];
    char addr[GW_ADDR_MAX_BYTES];
    unsigned char email_hash[IG_EMAIL_HASH_BYTES];
} redeem_state_t;

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
        /* The redeemer's own referral code (derived; the sync daemon registers it: sync/redeemers.h). */
        char ref[IG_REFERRAL_CODE_LEN + 1];
        ig_referral_code(ref, st->in.email, st->in.email_len, &gw.user_keys);
        gw_req_jsonf(rq, 200,
                     "{\"status\":\"success\",\"message\":\"Invite code redeemed successfully\",\"email\":\"%s\","
                     "\"code\":\"%s%s\",\"uses\":%lld,\"max_uses\":%lld,\"referral_code\":\"%s\"}",
                     st->in.email, gw.cfg.code_prefix, st->in.code, a, b, ref);
        return;
    }
    if (!gw_answer_refusal(rq, verdict))
        gw_fail_redis(rq, reply, NULL);
}

/* Sends the redemptions of one bucket as one ig_redeem_many call. */
static int send_bucket(gw_coalescer_t *c, unsigned bucket, gw_req_t *const *live, size_t n)
{
    const char *argv[5 + KEYS_PER_ITEM * GW_COALESCE_MAX_ITEMS + ARGS_PER_ITEM * GW_COALESCE_MAX_ITEMS];
    size_t argvlen[sizeof(argv) / sizeof(argv[0])], argc = 0;
    char numkeys[16], gate_key[IG_KEY_MAX_BYTES], stream_key[IG_KEY_MAX_BYTES];

    snprintf(numkeys, sizeof(numkeys), "%zu", 2 + KEYS_PER_ITEM * n);
    snprintf(gate_key, sizeof(gate_key), "ig:{%u}:gate", bucket);
    snprintf(stream_key, sizeof(stream_key), "ig:{%u}:events", bucket);
    argv[argc++] = "FCALL", argv[argc++] = "ig_redeem_many", argv[argc++] = numkeys;
    argv[argc++] = gate_key, argv[argc++] = stream_key;
    for (size_t i = 0; i != n; ++i) {
        redeem_state_t *st = live[i]->state;
        argv[argc++] = st->k.hash, argv[argc++] = st->set_key;
    }
    gw_str_lens(argvlen, argv, argc);
    for (size_t i = 0; i != n; ++i) {
        redeem_state_t *st = live[i]->state;
        argv[argc] = st->k.field, argvlen[argc++] = strlen(st->k.field);
        argv[argc] = st->in.code, argvlen[argc++] = strlen(st->in.code);
        argv[argc] = st->in.email, argvlen[argc++] = st->in.email_len;
        argv[argc] = (const char *)st->email_hash, argvlen[argc++] = IG_EMAIL_HASH_BYTES;
        argv[argc] = st->addr, argvlen[argc++] = strlen(st->addr);
    }
    return gw_req_redis_many(live, n, (int)argc, argv, argvlen, gw_coalesce_done, c);
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
    if (gw_req_limit_email(rq, st->email_hash) != 0)
        return;
    gw_req_client_addr(rq, st->addr, sizeof(st->addr));
    snprintf(st->set_key, sizeof(st->set_key), "ig:{%u}:r:%s", st->k.bucket, st->in.code);
    rq->on_reply = on_redeem_reply;
    if (rq->thread->redeem_coalescer == NULL)
        rq->thread->redeem_coalescer = gw_coalescer_new(rq->thread, IG_BUCKETS, send_bucket);
    gw_coalesce_enqueue(rq->thread->redeem_coalescer, rq, st->k.bucket);
}
