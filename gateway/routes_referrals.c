/*
 * Referral endpoints (public): share, earn, quality and the /r/{code} link.
 * Each is one call into the Lua library on bucket 0 (lua/waitlist.lua).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sodium.h>
#include "idem.h"
#include "ig_keys.h"
#include "ig_log.h"
#include "people.h"
#include "routes.h"

/* ---- POST /api/referrals/share ----------------------------------------- */

typedef struct share_state_t {
    gw_person_t inviter, recipient;
    char id[37];
} share_state_t;

/* The id comes from the reply: a replay answers the id of the first share. */
static void on_share_reply(gw_req_t *rq, redisReply *reply, const char *err)
{
    const share_state_t *st = rq->state;
    size_t id_len;
    if (gw_take_verdict(rq, reply, err) == NULL)
        return;
    const char *id = gw_reply_str(reply, 2, &id_len);
    gw_req_jsonf(rq, 201,
                 "{\"status\":\"success\",\"referral_id\":\"%.*s\",\"referral_code\":\"%s\",\"message\":\"Referral tracked "
                 "successfully\"}",
                 (int)id_len, id, st->inviter.referral_code);
}

/* A random (version 4) UUID. */
static void random_uuid(char out[37])
{
    unsigned char b[16];
    randombytes_buf(b, sizeof(b));
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4], b[5],
             b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

void gw_route_share(gw_req_t *rq, h2o_iovec_t param)
{
    static const char *const names[] = {"inviter_email", "recipient_email"};
    gw_email_t emails[2];
    gw_error_t err;
    (void)param;

    if (gw_req_check_body(rq, gw.cfg.public_body_bytes) != 0)
        return;
    if (gw_parse_emails(emails, names, 2, &err, rq->req->entity.base, rq->req->entity.len) != 0) {
        gw_req_error(rq, &err, 0);
        return;
    }
    if (emails[0].len == emails[1].len && memcmp(emails[0].addr, emails[1].addr, emails[0].len) == 0) {
        gw_req_fail(rq, 400, "invalid_field", "recipient_email must differ from inviter_email (no self-referral)");
        return;
    }
    if (ig_config_is_disposable(&gw.cfg, emails[1].addr)) {
        gw_req_fail(rq, 422, "disposable_email", "recipient_email belongs to a disposable e-mail service");
        return;
    }
    if (gw_idem_begin(rq, NULL, NULL) != 0)
        return;
    share_state_t *st = gw_req_state(rq, sizeof(*st));
    st->inviter.email = emails[0], st->recipient.email = emails[1];
    gw_person_derive(&st->inviter);
    gw_person_derive(&st->recipient);
    if (gw_req_limit_email(rq, st->inviter.hash8) != 0)
        return;
    random_uuid(st->id);
    IG_FCALL_LOCAL(c, SHARE, 0);
    const char *keys[] = {
        IG_KEY_WL_SEQ,       IG_KEY_WL_EVENTS, st->inviter.user_key, st->inviter.referral_key, st->recipient.shared_key,
        gw_idem_call_key(rq)};
    ig_fcall_strs(&c, keys, sizeof(keys) / sizeof(keys[0]));
    ig_fcall_bin(&c, st->inviter.hash8, IG_EMAIL_HASH_BYTES);
    ig_fcall_str(&c, st->inviter.email.addr);
    ig_fcall_str(&c, st->inviter.referral_code);
    ig_fcall_bin(&c, st->recipient.hash8, IG_EMAIL_HASH_BYTES);
    ig_fcall_str(&c, st->recipient.email.addr);
    ig_fcall_str(&c, st->id);
    ig_fcall_str(&c, gw_idem_call_fp(rq));
    gw_fcall(rq, on_share_reply, &c);
}

/* ---- POST /api/referrals/earn ------------------------------------------ */

static void on_earn_reply(gw_req_t *rq, redisReply *reply, const char *err)
{
    const char *verdict = gw_take_verdict(rq, reply, err);
    if (verdict == NULL)
        return;
    if (strcmp(verdict, "not_yet") == 0) {
        long long needed = gw_reply_int(reply, 2);
        gw_req_jsonf(rq, 200,
                     "{\"earned\":false,\"codes_available\":0,\"referred_count\":%lld,\"referrals_needed\":%lld,"
                     "\"message\":\"%lld more referral%s needed\"}",
                     gw_reply_int(reply, 1), needed, needed, needed == 1 ? "" : "s");
        return;
    }
    size_t n = reply->elements - 3, cap = 256 + n * (IG_CODE_BODY_LEN + 32), len;
    char *body = h2o_mem_alloc_pool(&rq->req->pool, cap);
    len = (size_t)snprintf(body, cap,
                           "{\"earned\":true,\"codes_available\":%zu,\"referred_count\":%lld,\"tranche\":%lld,"
                           "\"message\":\"You earned %zu invite codes\",\"codes\":[",
                           n, gw_reply_int(reply, 1), gw_reply_int(reply, 2), n);
    for (size_t i = 0; i != n; ++i) {
        size_t clen;
        const char *code = gw_reply_str(reply, 3 + i, &clen);
        len += (size_t)snprintf(body + len, cap - len, "%s\"%s%.*s\"", i ? "," : "", gw.cfg.code_prefix, (int)clen, code);
    }
    len += (size_t)snprintf(body + len, cap - len, "]}");
    gw_req_json(rq, 200, body, len);
}

void gw_route_earn(gw_req_t *rq, h2o_iovec_t param)
{
    static const char *const names[] = {"user_email"};
    gw_error_t err;
    gw_person_t p;
    char per[16], exp[24];
    (void)param;

    if (gw_req_check_body(rq, gw.cfg.public_body_bytes) != 0)
        return;
    if (gw_parse_emails(&p.email, names, 1, &err, rq->req->entity.base, rq->req->entity.len) != 0) {
        gw_req_error(rq, &err, 0);
        return;
    }
    if (gw_idem_begin(rq, NULL, NULL) != 0)
        return;
    gw_person_derive(&p);
    if (gw_req_limit_email(rq, p.hash8) != 0)
        return;
    snprintf(per, sizeof(per), "%u", gw.cfg.referral_earn_after);
    snprintf(exp, sizeof(exp), "%lld", (long long)time(NULL) + (long long)gw.cfg.default_expires_days * 86400);
    const char *keys[] = {p.user_key, IG_KEY_WL_EVENTS, IG_KEY_WL_GATE};
    const char *args[] = {(const char *)p.hash8, p.email.addr, per, exp};
    size_t lens[] = {IG_EMAIL_HASH_BYTES, p.email.len, strlen(per), strlen(exp)};
    gw_call_issuing(rq, on_earn_reply, IG_CALL_EARN, gw.cfg.referral_earn_codes, keys, 3, args, lens, 4);
}

/* ---- GET /api/referrals/{email}/quality -------------------------------- */

static void on_quality_reply(gw_req_t *rq, redisReply *reply, const char *err)
{
    if (gw_take_verdict_or_404(rq, reply, err, "no referrer with this e-mail") == NULL)
        return;
    long long refs = gw_reply_int(reply, 1), tranches = gw_reply_int(reply, 2), active = gw_reply_int(reply, 3),
              fraud = gw_reply_int(reply, 4);
    /* The share of referrals that became active and were not flagged as fraud. */
    double quality = refs > 0 ? (double)active / (double)refs : 0.0;
    char rewards[256] = "";
    if (tranches > 0)
        snprintf(rewards, sizeof(rewards), "{\"type\":\"invite_codes\",\"amount\":%lld,\"reason\":\"First %lld referrals\"}",
                 tranches * (long long)gw.cfg.referral_earn_codes, tranches * (long long)gw.cfg.referral_earn_after);
    gw_req_jsonf(rq, 200,
                 "{\"referred_count\":%lld,\"active_count\":%lld,\"fraud_count\":%lld,\"quality_score\":%.2f,\"rewards\":[%s]}",
                 refs, active, fraud, quality > 1.0 ? 1.0 : quality, rewards);
}

void gw_route_quality(gw_req_t *rq, h2o_iovec_t param)
{
    gw_person_t *p = gw_path_person(rq, param, sizeof(*p));
    if (p == NULL)
        return;
    IG_FCALL_LOCAL(c, QUALITY, 0);
    ig_fcall_str(&c, p->user_key);
    ig_fcall_str(&c, p->points_key);
    ig_fcall_bin(&c, p->hash8, IG_EMAIL_HASH_BYTES);
    gw_fcall(rq, on_quality_reply, &c);
}

/* ---- GET /r/{referral_code} (and HEAD, which counts nothing) ------------ */

typedef struct click_state_t {
    char code[IG_REFERRAL_CODE_LEN + 1];
} click_state_t;

static void redirect(gw_req_t *rq, const char *code)
{
    size_t cap = sizeof(gw.cfg.signup_url) + 32;
    char *location = h2o_mem_alloc_pool(&rq->req->pool, cap);
    int n = code != NULL
                ? snprintf(location, cap, "%s%sref=%s", gw.cfg.signup_url, strchr(gw.cfg.signup_url, '?') ? "&" : "?", code)
                : snprintf(location, cap, "%s", gw.cfg.signup_url);
    h2o_add_header(&rq->req->pool, &rq->req->res.headers, H2O_TOKEN_LOCATION, NULL, location, (size_t)n);
    gw_req_text(rq, 302, "text/plain; charset=utf-8", "", 0);
}

static void on_click_reply(gw_req_t *rq, redisReply *reply, const char *err)
{
    const click_state_t *st = rq->state;
    const char *verdict = err == NULL ? gw_verdict_of(reply) : NULL;
    /* A link with an unknown code still leads to the signup page, without the code. */
    if (verdict != NULL && strcmp(verdict, "not_found") == 0) {
        redirect(rq, NULL);
        return;
    }
    if ((verdict = gw_take_verdict(rq, reply, err)) != NULL)
        redirect(rq, st->code);
}

void gw_route_click(gw_req_t *rq, h2o_iovec_t param)
{
    click_state_t *st = gw_req_state(rq, sizeof(*st));
    if (ig_referral_code_normalise(st->code, param.base, param.len) != 0) {
        gw_req_fail(rq, 404, "not_found", "no such referral link");
        return;
    }
    /* HEAD is safe: it gets GET's redirect, but counts no click (link previews and checkers send it). */
    const char *count = h2o_memis(rq->req->method.base, rq->req->method.len, H2O_STRLIT("HEAD")) ? "0" : "1";
    char referral_key[IG_KEY_MAX_BYTES];
    IG_FCALL_LOCAL(c, CLICK, 0);
    ig_key_referral(referral_key, st->code);
    ig_fcall_str(&c, referral_key);
    ig_fcall_str(&c, IG_KEY_WL_EVENTS);
    ig_fcall_str(&c, st->code);
    ig_fcall_str(&c, count);
    gw_fcall(rq, on_click_reply, &c);
}
