/*
 * Waitlist endpoints: join, stats, position (public) and admit (admin). Each
 * is one call into the Lua library on bucket 0, where the waitlist's sorted
 * set lives (lua/waitlist.lua).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "ig_config.h"
#include "ig_keys.h"
#include "ig_log.h"
#include "ig_priority.h"
#include "people.h"
#include "routes.h"

/* ---- POST /api/waitlist/join ------------------------------------------- */

typedef struct join_state_t {
    gw_join_req_t in;
    gw_person_t p;
} join_state_t;

static void on_join_reply(gw_req_t *rq, redisReply *reply, const char *err)
{
    const join_state_t *st = rq->state;
    const char *verdict = err == NULL ? gw_verdict_of(reply) : NULL;
    char at[21];

    if (err == NULL && verdict != NULL && strcmp(verdict, "unknown_referral") == 0) {
        gw_req_fail(rq, 422, "invalid_code", "referral_code is not a known referral code");
        return;
    }
    if ((verdict = gw_take_verdict(rq, reply, err)) == NULL)
        return;
    if (strcmp(verdict, "admitted") == 0) {
        gw_format_time(at, gw_reply_int(reply, 1) / 1000);
        gw_req_jsonf(rq, 200, "{\"status\":\"already_joined\",\"admitted\":true,\"admitted_at\":\"%s\",\"referral_code\":\"%s\"}",
                     at, st->p.referral_code);
        return;
    }
    int is_new = strcmp(verdict, "new") == 0;
    if (!is_new && strcmp(verdict, "already") != 0) {
        gw_fail_redis(rq, reply, NULL);
        return;
    }
    long long position = gw_reply_int(reply, 1), total = gw_reply_int(reply, 2);
    gw_req_jsonf(rq, is_new ? 201 : 200,
                 "{\"status\":\"%s\",\"position\":%lld,\"total_waiting\":%lld,\"estimated_wait\":\"%s\",\"referral_code\":\"%s\","
                 "\"priority_score\":%d}",
                 is_new ? "success" : "already_joined", position, total, ig_waitlist_estimate(position, gw_reply_int(reply, 3)),
                 st->p.referral_code, st->in.priority);
}

void gw_route_join(gw_req_t *rq, h2o_iovec_t param)
{
    gw_error_t err;
    char score[16], boost[16], addr[GW_ADDR_MAX_BYTES];
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
    snprintf(score, sizeof(score), "%d", st->in.priority);
    snprintf(boost, sizeof(boost), "%u", gw.cfg.waitlist_referral_boost);
    gw_req_client_addr(rq, addr, sizeof(addr));
    const char *argv[] = {"FCALL",
                          "ig_join",
                          "2",
                          GW_WL_KEY,
                          GW_WL_STREAM,
                          (char *)st->p.hash8,
                          st->p.email.addr,
                          st->in.persona,
                          st->in.use_case,
                          score,
                          st->p.referral_code,
                          st->in.referral_code,
                          addr,
                          boost,
                          gw.rl_interval,
                          gw.rl_burst};
    gw_call(rq, on_join_reply, argv, sizeof(argv) / sizeof(argv[0]), st->p.hash8, NULL);
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
    char addr[GW_ADDR_MAX_BYTES];
    (void)param;
    gw_req_client_addr(rq, addr, sizeof(addr));
    const char *argv[] = {"FCALL", "ig_stats", "1", GW_WL_KEY, addr, gw.rl_interval, gw.rl_burst};
    rq->on_reply = on_stats_reply;
    gw_send_strings(rq, argv, sizeof(argv) / sizeof(argv[0]));
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
    char addr[GW_ADDR_MAX_BYTES];
    gw_person_t *p = gw_path_person(rq, param, sizeof(*p));
    if (p == NULL)
        return;
    gw_req_client_addr(rq, addr, sizeof(addr));
    const char *argv[] = {"FCALL", "ig_position",  "1",        GW_WL_KEY, (char *)p->hash8, p->email.addr,
                          addr,    gw.rl_interval, gw.rl_burst};
    gw_call(rq, on_position_reply, argv, sizeof(argv) / sizeof(argv[0]), p->hash8, NULL);
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
    admit_state_t *st = gw_req_state(rq, sizeof(*st));
    st->token = token;
    snprintf(exp, sizeof(exp), "%lld", (long long)time(NULL) + (long long)llround(days * 86400.0));
    const char *args[] = {exp, token->name};
    gw_call_issuing(rq, on_admit_reply, "ig_admit", count, args, 2, NULL);
}
