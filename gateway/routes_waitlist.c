/*
 * Waitlist endpoints: join, stats, position (public) and admit (admin). Each
 * is one call into the Lua library on bucket 0, where the waitlist lives
 * (lua/waitlist.lua); joins share their calls when they arrive together.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "ig_config.h"
#include "ig_keys.h"
#include "ig_log.h"
#include "coalesce.h"
#include "idem.h"
#include "ig_priority.h"
#include "people.h"
#include "routes.h"

/* ---- POST /api/waitlist/join ------------------------------------------- */

/*
 * Joins are coalesced (coalesce.h) into ig_join_many calls; the waitlist is
 * one bucket, so one lane.
 */

typedef struct join_state_t {
    gw_join_req_t in;
    gw_person_t p;
    char score[16];
    char addr[GW_ADDR_MAX_BYTES];
    char given_key[IG_KEY_MAX_BYTES]; /* ig_key_referral of the code given (the joiner's own without one) */
} join_state_t;

static void on_join_reply(gw_req_t *rq, redisReply *reply, const char *err)
{
    const join_state_t *st = rq->state;
    size_t base = rq->batch_index * 4;
    char at[21];

    if (err != NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements < base + 4 ||
        reply->element[base]->type != REDIS_REPLY_STRING) {
        gw_fail_redis(rq, reply, err);
        return;
    }
    const char *verdict = reply->element[base]->str;
    long long a = gw_reply_int(reply, base + 1), b = gw_reply_int(reply, base + 2), c = gw_reply_int(reply, base + 3);
    if (strcmp(verdict, "new") == 0 || strcmp(verdict, "already") == 0) {
        int is_new = verdict[0] == 'n';
        gw_req_jsonf(rq, is_new ? 201 : 200,
                     "{\"status\":\"%s\",\"position\":%lld,\"total_waiting\":%lld,\"estimated_wait\":\"%s\","
                     "\"referral_code\":\"%s\",\"priority_score\":%d}",
                     is_new ? "success" : "already_joined", a, b, ig_waitlist_estimate(a, c), st->p.referral_code, st->in.priority);
    } else if (strcmp(verdict, "admitted") == 0) {
        gw_format_time(at, a / 1000);
        gw_req_jsonf(rq, 200, "{\"status\":\"already_joined\",\"admitted\":true,\"admitted_at\":\"%s\",\"referral_code\":\"%s\"}",
                     at, st->p.referral_code);
    } else if (strcmp(verdict, "unknown_referral") == 0) {
        gw_req_fail(rq, 422, "invalid_code", "referral_code is not a known referral code");
    } else if (!gw_answer_refusal(rq, verdict)) {
        gw_fail_redis(rq, reply, NULL);
    }
}

/* Sends the queued joins as one ig_join_many call. */
static int send_joins(gw_coalescer_t *c, unsigned lane, gw_req_t *const *live, size_t n)
{
    const char *argv[IG_CALL_ARGC(JOIN_MANY, GW_COALESCE_MAX_ITEMS)];
    size_t argvlen[IG_CALL_ARGC(JOIN_MANY, GW_COALESCE_MAX_ITEMS)];
    char boost[16];
    ig_fcall_t call;
    (void)lane;

    snprintf(boost, sizeof(boost), "%u", gw.cfg.waitlist_referral_boost);
    ig_fcall_begin(&call, IG_CALL_JOIN_MANY, n, argv, argvlen, IG_CALL_ARGC(JOIN_MANY, GW_COALESCE_MAX_ITEMS));
    ig_fcall_str(&call, IG_KEY_WL);
    ig_fcall_str(&call, IG_KEY_WL_EVENTS);
    ig_fcall_str(&call, IG_KEY_WL_SEQ);
    ig_fcall_str(&call, IG_KEY_WL_COUNTERS);
    for (size_t i = 0; i != n; ++i) {
        const join_state_t *st = live[i]->state;
        ig_fcall_str(&call, st->p.user_key);
        ig_fcall_str(&call, st->p.shared_key);
        ig_fcall_str(&call, st->p.referral_key);
        ig_fcall_str(&call, st->given_key);
    }
    ig_fcall_str(&call, boost);
    for (size_t i = 0; i != n; ++i) {
        const join_state_t *st = live[i]->state;
        ig_fcall_bin(&call, st->p.hash8, IG_EMAIL_HASH_BYTES);
        ig_fcall_str(&call, st->p.email.addr);
        ig_fcall_str(&call, st->in.persona);
        ig_fcall_bin(&call, st->in.use_case, st->in.use_case_len);
        ig_fcall_str(&call, st->score);
        ig_fcall_str(&call, st->p.referral_code);
        ig_fcall_str(&call, st->in.referral_code);
        ig_fcall_str(&call, st->addr);
    }
    return gw_req_redis_many(live, n, (int)ig_fcall_end(&call), argv, argvlen, gw_coalesce_done, c);
}

void gw_route_join(gw_req_t *rq, h2o_iovec_t param)
{
    gw_error_t err;
    (void)param;

    if (gw_req_check_body(rq, gw.cfg.public_body_bytes) != 0)
        return;
    join_state_t *st = gw_req_state(rq, sizeof(*st));
    if (gw_parse_join(&st->in, &err, rq->req->entity.base, rq->req->entity.len) != 0) {
        gw_req_error(rq, &err, 0);
        return;
    }
    if (ig_config_is_disposable(&gw.cfg, st->in.email.addr)) {
        gw_req_fail(rq, 422, "disposable_email", "addresses of disposable e-mail services cannot join the waitlist");
        return;
    }
    st->p.email = st->in.email;
    gw_person_derive(&st->p);
    if (gw_req_limit_email(rq, st->p.hash8) != 0)
        return;
    snprintf(st->score, sizeof(st->score), "%d", st->in.priority);
    if (st->in.referral_code[0] != '\0')
        ig_key_referral(st->given_key, st->in.referral_code);
    else
        memcpy(st->given_key, st->p.referral_key, sizeof(st->given_key));
    gw_req_client_addr(rq, st->addr, sizeof(st->addr));
    rq->on_reply = on_join_reply;
    if (rq->thread->join_coalescer == NULL)
        rq->thread->join_coalescer = gw_coalescer_new(rq->thread, 1, send_joins);
    gw_coalesce_enqueue(rq->thread->join_coalescer, rq, 0);
}

/* ---- GET /api/waitlist/stats ------------------------------------------- */

static void on_stats_reply(gw_req_t *rq, redisReply *reply, const char *err)
{
    const char *verdict = gw_take_verdict(rq, reply, err);
    if (verdict == NULL)
        return;
    gw_req_jsonf(
        rq, 200, "{\"total\":%lld,\"processed_today\":%lld,\"joined_today\":%lld,\"admitted_total\":%lld,\"joined_total\":%lld}",
        gw_reply_int(reply, 1), gw_reply_int(reply, 2), gw_reply_int(reply, 3), gw_reply_int(reply, 4), gw_reply_int(reply, 5));
}

void gw_route_wl_stats(gw_req_t *rq, h2o_iovec_t param)
{
    (void)param;
    IG_FCALL_LOCAL(c, STATS, 0);
    ig_fcall_str(&c, IG_KEY_WL);
    ig_fcall_str(&c, IG_KEY_WL_COUNTERS);
    gw_fcall(rq, on_stats_reply, &c);
}

/* ---- GET /api/waitlist/{email}/position -------------------------------- */

static void on_position_reply(gw_req_t *rq, redisReply *reply, const char *err)
{
    char at[21];
    const char *verdict = gw_take_verdict_or_404(rq, reply, err, "this e-mail is not on the waitlist");
    if (verdict == NULL)
        return;
    if (strcmp(verdict, "admitted") == 0) {
        gw_format_time(at, gw_reply_int(reply, 1) / 1000);
        gw_req_jsonf(rq, 200, "{\"status\":\"admitted\",\"admitted_at\":\"%s\"}", at);
        return;
    }
    long long position = gw_reply_int(reply, 1);
    gw_req_jsonf(rq, 200, "{\"status\":\"waiting\",\"position\":%lld,\"total_waiting\":%lld,\"estimated_wait\":\"%s\"}", position,
                 gw_reply_int(reply, 2), ig_waitlist_estimate(position, gw_reply_int(reply, 3)));
}

void gw_route_wl_position(gw_req_t *rq, h2o_iovec_t param)
{
    gw_person_t *p = gw_path_person(rq, param, sizeof(*p));
    if (p == NULL)
        return;
    IG_FCALL_LOCAL(c, POSITION, 0);
    ig_fcall_str(&c, IG_KEY_WL);
    ig_fcall_str(&c, IG_KEY_WL_COUNTERS);
    ig_fcall_str(&c, p->user_key);
    ig_fcall_bin(&c, p->hash8, IG_EMAIL_HASH_BYTES);
    gw_fcall(rq, on_position_reply, &c);
}

/* ---- POST /api/waitlist/admit ------------------------------------------ */

typedef struct admit_state_t {
    const ig_admin_token_t *token;
} admit_state_t;

static void on_admit_reply(gw_req_t *rq, redisReply *reply, const char *err)
{
    const admit_state_t *st = rq->state;
    const char *verdict = gw_take_verdict(rq, reply, err);
    if (verdict == NULL)
        return;
    size_t n = (reply->elements - 1) / 2, cap = 128 + n * (IG_EMAIL_MAX_BYTES + IG_CODE_BODY_LEN + 64), len;
    char *body = h2o_mem_alloc_pool(&rq->req->pool, cap);
    len = (size_t)snprintf(body, cap, "{\"status\":\"success\",\"count\":%zu,\"admitted\":[", n);
    for (size_t i = 0; i != n; ++i) {
        size_t elen, clen;
        const char *email = gw_reply_str(reply, 1 + 2 * i, &elen), *code = gw_reply_str(reply, 2 + 2 * i, &clen);
        len += (size_t)snprintf(body + len, cap - len, "%s{\"email\":\"%.*s\",\"code\":\"%s%.*s\"}", i ? "," : "", (int)elen, email,
                                gw.cfg.code_prefix, (int)clen, code);
    }
    len += (size_t)snprintf(body + len, cap - len, "]}");
    if (!gw_idem_replayed(rq))
        ig_info("msg=\"waitlist admitted\" count=%zu by=%s", n, st->token->name);
    gw_req_json(rq, 200, body, len);
}

void gw_route_admit(gw_req_t *rq, h2o_iovec_t param)
{
    gw_error_t err;
    unsigned count;
    double days;
    char exp[24];
    const ig_admin_token_t *token;
    (void)param;

    if ((token = gw_req_authorize(rq, IG_SCOPE_ADMIT)) == NULL || gw_req_check_body(rq, gw.cfg.admin_body_bytes) != 0)
        return;
    if (gw_parse_admit(&count, &days, &err, rq->req->entity.base, rq->req->entity.len, gw.cfg.default_expires_days) != 0) {
        gw_req_error(rq, &err, 0);
        return;
    }
    if (gw_idem_begin(rq, token, NULL) != 0)
        return;
    admit_state_t *st = gw_req_state(rq, sizeof(*st));
    st->token = token;
    snprintf(exp, sizeof(exp), "%lld", (long long)time(NULL) + (long long)llround(days * 86400.0));
    const char *keys[] = {IG_KEY_WL, IG_KEY_WL_EVENTS, IG_KEY_WL_GATE, IG_KEY_WL_COUNTERS};
    const char *args[] = {exp, token->name};
    size_t lens[] = {strlen(exp), strlen(token->name)};
    gw_call_issuing(rq, on_admit_reply, IG_CALL_ADMIT, count, keys, 4, args, lens, 2);
}
