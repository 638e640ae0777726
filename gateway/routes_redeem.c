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
    const char *argv[IG_CALL_ARGC(REDEEM_MANY, GW_COALESCE_MAX_ITEMS)];
    size_t argvlen[IG_CALL_ARGC(REDEEM_MANY, GW_COALESCE_MAX_ITEMS)];
    char gate_key[IG_KEY_MAX_BYTES], stream_key[IG_KEY_MAX_BYTES];
    ig_fcall_t call;

    ig_key_gate(gate_key, bucket);
    ig_key_events(stream_key, bucket);
    ig_fcall_begin(&call, IG_CALL_REDEEM_MANY, n, argv, argvlen, IG_CALL_ARGC(REDEEM_MANY, GW_COALESCE_MAX_ITEMS));
    ig_fcall_str(&call, gate_key);
    ig_fcall_str(&call, stream_key);
    for (size_t i = 0; i != n; ++i) {
        redeem_state_t *st = live[i]->state;
        ig_fcall_str(&call, st->k.hash);
        ig_fcall_str(&call, st->set_key);
    }
    for (size_t i = 0; i != n; ++i) {
        redeem_state_t *st = live[i]->state;
        ig_fcall_str(&call, st->k.field);
        ig_fcall_str(&call, st->in.code);
        ig_fcall_bin(&call, st->in.email, st->in.email_len);
        ig_fcall_bin(&call, st->email_hash, IG_EMAIL_HASH_BYTES);
        ig_fcall_str(&call, st->addr);
    }
    return gw_req_redis_many(live, n, (int)ig_fcall_end(&call), argv, argvlen, gw_coalesce_done, c);
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
    ig_code_keys(&st->k, st->in.code, gw.cfg.buckets);
    ig_email_hash(st->email_hash, st->in.email, st->in.email_len, gw.email_key);
    if (gw_req_limit_email(rq, st->email_hash) != 0)
        return;
    gw_req_client_addr(rq, st->addr, sizeof(st->addr));
    ig_key_redeemers(st->set_key, st->k.bucket, st->in.code);
    rq->on_reply = on_redeem_reply;
    if (rq->thread->redeem_coalescer == NULL)
        rq->thread->redeem_coalescer = gw_coalescer_new(rq->thread, gw.cfg.buckets, send_bucket);
    gw_coalesce_enqueue(rq->thread->redeem_coalescer, rq, st->k.bucket);
}
