/*
 * Endpoints of the host application and the operators about people and the
 * trust gate: lifecycle events, points, erasure (admin), the trust score
 * (public) and evaluate-gate (admin). State changes are one call into the
 * Lua library on bucket 0 (lua/points.lua); the trust gate itself is
 * evaluated by the sync daemon, which writes its decision and figures to
 * Redis (ig_key_gate, IG_KEY_TRUST).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "idem.h"
#include "ig_keys.h"
#include "ig_log.h"
#include "people.h"
#include "routes.h"

/* ---- POST /api/users/{email}/events ------------------------------------ */

typedef struct lifecycle_state_t {
    gw_person_t p; /* first: path_person */
    gw_lifecycle_req_t in;
} lifecycle_state_t;

static void on_lifecycle_reply(gw_req_t *rq, redisReply *reply, const char *err)
{
    const lifecycle_state_t *st = rq->state;
    char at[21];
    size_t len;
    if (gw_take_verdict(rq, reply, err) == NULL)
        return;
    gw_format_time(at, strtoll(gw_reply_str(reply, 1, &len), NULL, 10) / 1000);
    gw_req_jsonf(rq, 202, "{\"status\":\"accepted\",\"type\":\"%s\",\"at\":\"%s\"}", st->in.kind, at);
}

void gw_route_user_event(gw_req_t *rq, h2o_iovec_t param)
{
    gw_error_t err;
    char amount[24] = "", at[24] = "";
    lifecycle_state_t *st;
    const ig_admin_token_t *token;
    if ((token = gw_req_authorize(rq, IG_SCOPE_USERS)) == NULL || gw_req_check_body(rq, gw.cfg.public_body_bytes) != 0 ||
        (st = (lifecycle_state_t *)gw_path_person(rq, param, sizeof(lifecycle_state_t))) == NULL)
        return;
    if (gw_parse_lifecycle(&st->in, &err, rq->req->entity.base, rq->req->entity.len) != 0) {
        gw_req_error(rq, &err, 0);
        return;
    }
    if (gw_idem_begin(rq, token, NULL) != 0)
        return;
    if (st->in.amount >= 0)
        snprintf(amount, sizeof(amount), "%lld", st->in.amount);
    if (st->in.at_ms >= 0)
        snprintf(at, sizeof(at), "%lld", st->in.at_ms);
    IG_FCALL_LOCAL(c, LIFECYCLE, 0);
    const char *strs[] = {IG_KEY_WL_EVENTS, gw_idem_call_key(rq), st->p.email.addr, st->in.kind, amount, at, gw_idem_call_fp(rq)};
    ig_fcall_strs(&c, strs, sizeof(strs) / sizeof(strs[0]));
    gw_fcall(rq, on_lifecycle_reply, &c);
}

/* ---- GET /api/points/{email} ------------------------------------------- */

static void on_points_reply(gw_req_t *rq, redisReply *reply, const char *err)
{
    const gw_person_t *p = rq->state;
    size_t txlen;
    if (gw_take_verdict(rq, reply, err) == NULL)
        return;
    long long earned = gw_reply_int(reply, 1), spent = gw_reply_int(reply, 2);
    const char *tx = gw_reply_str(reply, 3, &txlen);
    if (txlen == 0)
        tx = "[]", txlen = 2;
    gw_req_jsonf(rq, 200, "{\"email\":\"%s\",\"balance\":%lld,\"total_earned\":%lld,\"total_spent\":%lld,\"transactions\":%.*s}",
                 p->email.addr, earned - spent, earned, -spent, (int)txlen, tx);
}

void gw_route_points(gw_req_t *rq, h2o_iovec_t param)
{
    gw_person_t *p;
    if (gw_req_authorize(rq, IG_SCOPE_READ) == NULL || (p = gw_path_person(rq, param, sizeof(*p))) == NULL)
        return;
    IG_FCALL_LOCAL(c, POINTS, 0);
    ig_fcall_str(&c, p->points_key);
    ig_fcall_bin(&c, p->hash8, IG_EMAIL_HASH_BYTES);
    gw_fcall(rq, on_points_reply, &c);
}

/* ---- POST /api/points/{email}/spend ------------------------------------ */

typedef struct spend_state_t {
    gw_person_t p; /* first: path_person */
    gw_spend_req_t in;
} spend_state_t;

/*
 * Calls a deduction (ig_spend, ig_grant: common/ig_calls.h) for the person
 * p: their points record and the stream, the Idempotency-Key's record, then
 * p's hash and e-mail, the n arguments args and the fingerprint.
 */
static void call_deduction(gw_req_t *rq, gw_req_reply_cb on_reply, ig_call_id_t id, const gw_person_t *p, const char *const *args,
                           size_t n)
{
    const char *argv[IG_CALL_ARGC(SPEND, 0)];
    size_t lens[IG_CALL_ARGC(SPEND, 0)];
    ig_fcall_t c;
    ig_fcall_begin(&c, id, 0, argv, lens, IG_CALL_ARGC(SPEND, 0));
    ig_fcall_str(&c, p->points_key);
    ig_fcall_str(&c, IG_KEY_WL_EVENTS);
    ig_fcall_str(&c, gw_idem_call_key(rq));
    ig_fcall_bin(&c, p->hash8, IG_EMAIL_HASH_BYTES);
    ig_fcall_str(&c, p->email.addr);
    ig_fcall_strs(&c, args, n);
    ig_fcall_str(&c, gw_idem_call_fp(rq));
    gw_fcall(rq, on_reply, &c);
}

/*
 * The verdict of a deduction (ig_spend, ig_grant) of wanted points: NULL
 * after answering 409 insufficient_points or an error, else the verdict.
 */
static const char *take_deduction_verdict(gw_req_t *rq, redisReply *reply, const char *err, long long wanted)
{
    const char *verdict = err == NULL ? gw_verdict_of(reply) : NULL;
    if (verdict != NULL && strcmp(verdict, "insufficient_points") == 0) {
        gw_error_t e = {409, "insufficient_points", ""};
        snprintf(e.message, sizeof(e.message), "the balance is %lld points, less than %lld", gw_reply_int(reply, 1), wanted);
        gw_req_error(rq, &e, 0);
        return NULL;
    }
    return gw_take_verdict(rq, reply, err);
}

static void on_spend_reply(gw_req_t *rq, redisReply *reply, const char *err)
{
    const spend_state_t *st = rq->state;
    if (take_deduction_verdict(rq, reply, err, st->in.amount) == NULL)
        return;
    gw_req_jsonf(rq, 200, "{\"status\":\"success\",\"spent\":%u,\"type\":\"%s\",\"balance\":%lld}", st->in.amount, st->in.type,
                 gw_reply_int(reply, 1));
}

void gw_route_spend(gw_req_t *rq, h2o_iovec_t param)
{
    gw_error_t err;
    char amount[16];
    spend_state_t *st;
    const ig_admin_token_t *token;
    if ((token = gw_req_authorize(rq, IG_SCOPE_USERS)) == NULL || gw_req_check_body(rq, gw.cfg.public_body_bytes) != 0 ||
        (st = (spend_state_t *)gw_path_person(rq, param, sizeof(spend_state_t))) == NULL)
        return;
    if (gw_parse_spend(&st->in, &err, rq->req->entity.base, rq->req->entity.len) != 0) {
        gw_req_error(rq, &err, 0);
        return;
    }
    if (gw_idem_begin(rq, token, NULL) != 0)
        return;
    snprintf(amount, sizeof(amount), "%u", st->in.amount);
    const char *args[] = {amount, st->in.type, st->in.note};
    call_deduction(rq, on_spend_reply, IG_CALL_SPEND, &st->p, args, 3);
}

/* ---- POST /api/points/{email}/grant ------------------------------------ */

typedef struct grant_state_t {
    gw_person_t p; /* first: path_person */
    gw_grant_req_t in;
} grant_state_t;

static void on_grant_reply(gw_req_t *rq, redisReply *reply, const char *err)
{
    const grant_state_t *st = rq->state;
    if (take_deduction_verdict(rq, reply, err, -(long long)st->in.points) == NULL)
        return;
    gw_req_jsonf(rq, 200, "{\"status\":\"success\",\"granted\":%d,\"type\":\"ADMIN_GRANT\",\"balance\":%lld}", st->in.points,
                 gw_reply_int(reply, 1));
}

/* An operator gives points (or takes them back) with a reason: ledger type ADMIN_GRANT. */
void gw_route_grant(gw_req_t *rq, h2o_iovec_t param)
{
    gw_error_t err;
    char points[16];
    grant_state_t *st;
    const ig_admin_token_t *token;
    if ((token = gw_req_authorize(rq, IG_SCOPE_USERS)) == NULL || gw_req_check_body(rq, gw.cfg.public_body_bytes) != 0 ||
        (st = (grant_state_t *)gw_path_person(rq, param, sizeof(grant_state_t))) == NULL)
        return;
    if (gw_parse_grant(&st->in, &err, rq->req->entity.base, rq->req->entity.len) != 0) {
        gw_req_error(rq, &err, 0);
        return;
    }
    if (gw_idem_begin(rq, token, NULL) != 0)
        return;
    snprintf(points, sizeof(points), "%d", st->in.points);
    const char *args[] = {points, st->in.reason};
    call_deduction(rq, on_grant_reply, IG_CALL_GRANT, &st->p, args, 2);
}

/* ---- DELETE /api/users/{email} ----------------------------------------- */

typedef struct erase_state_t {
    gw_person_t p; /* first: path_person */
    char uid[IG_USER_ID_BYTES];
} erase_state_t;

static void on_erase_reply(gw_req_t *rq, redisReply *reply, const char *err)
{
    const erase_state_t *st = rq->state;
    if (gw_take_verdict(rq, reply, err) == NULL)
        return;
    ig_info("msg=\"user erased\" user_id=%s", st->uid);
    gw_req_jsonf(rq, 202, "{\"status\":\"accepted\",\"user_id\":\"%s\",\"removed_from_waitlist\":%s}", st->uid,
                 gw_reply_int(reply, 1) ? "true" : "false");
}

void gw_route_erase(gw_req_t *rq, h2o_iovec_t param)
{
    erase_state_t *st;
    if (gw_req_authorize(rq, IG_SCOPE_USERS) == NULL ||
        (st = (erase_state_t *)gw_path_person(rq, param, sizeof(erase_state_t))) == NULL)
        return;
    ig_user_id(st->uid, st->p.email.addr, st->p.email.len, &gw.user_keys);
    IG_FCALL_LOCAL(c, ERASE, 0);
    const char *keys[] = {IG_KEY_WL, IG_KEY_WL_EVENTS, st->p.user_key, st->p.referral_key, st->p.shared_key};
    ig_fcall_strs(&c, keys, sizeof(keys) / sizeof(keys[0]));
    ig_fcall_bin(&c, st->p.hash8, IG_EMAIL_HASH_BYTES);
    const char *args[] = {st->p.email.addr, st->p.referral_code, st->uid};
    ig_fcall_strs(&c, args, sizeof(args) / sizeof(args[0]));
    gw_fcall(rq, on_erase_reply, &c);
}

/* ---- GET /api/quality/trust-score, POST /api/quality/evaluate-gate ----- */

typedef struct trust_state_t {
    const char *force;             /* NULL, "open", "closed", "auto" */
    int admin;                     /* evaluate-gate (full evaluation) rather than trust-score */
    const ig_admin_token_t *token; /* evaluate-gate */
    unsigned pending;              /* evaluate-gate: flag writes outstanding */
    char *body;                    /* evaluate-gate: the answer, sent once the flags are written (malloc'ed) */
} trust_state_t;

static void free_trust_state(void *p)
{
    trust_state_t *st = p;
    free(st->body);
    free(st);
}

static trust_state_t *new_trust_state(gw_req_t *rq)
{
    trust_state_t *st = gw_req_state(rq, sizeof(*st));
    rq->free_state = free_trust_state;
    return st;
}

/* Element i of an array reply if it is a string, else NULL. */
static const redisReply *string_at(const redisReply *reply, size_t i)
{
    return reply->type == REDIS_REPLY_ARRAY && i < reply->elements && reply->element[i]->type == REDIS_REPLY_STRING
               ? reply->element[i]
               : NULL;
}

/*
 * The answer from the last evaluation the sync daemon wrote, with the gate
 * flag and mode as they are now (a force takes effect before the daemon's
 * next evaluation); each may be NULL (absent). Before the first evaluation:
 * no data, gate open unless forced. Returns a malloc'ed body.
 */
static char *render_trust(const trust_state_t *st, const redisReply *evaluation, const redisReply *flag, const redisReply *mode)
{
    json_t *root = evaluation != NULL ? json_loadb(evaluation->str, evaluation->len, 0, NULL) : NULL;
    if (!json_is_object(root)) {
        json_decref(root);
        root = json_pack("{s:f,s:f,s:f,s:f,s:s,s:{},s:[]}", "trust_score", 1.0, "churn_rate", 0.0, "fraud_rate", 0.0,
                         "engagement_rate", 0.0, "health_status", "no_data", "metrics", "alerts");
    }
    int paused = flag != NULL && strcmp(flag->str, "closed") == 0;
    json_object_set_new(root, "invites_paused", json_boolean(paused));
    json_object_set_new(root, "invites_allowed", json_boolean(!paused));
    json_object_set_new(root, "mode", json_string(st->force ? st->force : mode != NULL ? mode->str : "auto"));
    if (!st->admin) {
        json_object_del(root, "metrics");
        json_object_del(root, "alerts");
    }
    char *body = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(6)); /* the daemon rounds to 4 decimals */
    json_decref(root);
    if (body == NULL)
        h2o_fatal("no memory");
    return body;
}

static void on_trust_reply(gw_req_t *rq, redisReply *reply, const char *err)
{
    if (err != NULL || reply->type == REDIS_REPLY_ERROR) {
        gw_fail_redis(rq, reply, err);
        return;
    }
    char *body = render_trust(rq->state, string_at(reply, 0), string_at(reply, 1), string_at(reply, 2));
    gw_req_json(rq, 200, body, strlen(body));
    free(body);
}

void gw_route_trust(gw_req_t *rq, h2o_iovec_t param)
{
    const char *argv[] = {"MGET", IG_KEY_TRUST, IG_KEY_WL_GATE, IG_KEY_GATE_MODE};
    size_t lens[4];
    (void)param;
    new_trust_state(rq);
    rq->on_reply = on_trust_reply;
    gw_str_lens(lens, argv, 4);
    if (gw_req_redis(rq, 4, argv, lens) != 0)
        gw_req_unavailable(rq);
}

static void on_flag_reply(gw_req_t *rq, redisReply *reply, const char *err)
{
    trust_state_t *st = rq->state;
    if (err != NULL || reply->type == REDIS_REPLY_ERROR) {
        gw_fail_redis(rq, reply, err);
        return;
    }
    if (--st->pending == 0)
        gw_req_json(rq, 200, st->body, strlen(st->body));
}

/*
 * ig_gate set the mode and bucket 0's flag and read the gate back; the other
 * buckets' flags follow here, alike (closed, or deleted), before the answer,
 * so a force of any mode takes effect on every gateway at once. A replay
 * writes no flag: the operator may have changed the gate since. (Should a
 * flag write fail, the answer is 503 and the sync daemon writes every flag
 * from the mode at its next evaluation.)
 */
static void on_gate_reply(gw_req_t *rq, redisReply *reply, const char *err)
{
    trust_state_t *st = rq->state;
    if (gw_take_verdict(rq, reply, err) == NULL)
        return;
    const redisReply *flag = string_at(reply, 2);
    int closing = flag != NULL && strcmp(flag->str, "closed") == 0;
    st->body = render_trust(st, string_at(reply, 1), flag, string_at(reply, 3));
    if (st->force == NULL || gw_idem_replayed(rq)) {
        gw_req_json(rq, 200, st->body, strlen(st->body));
        return;
    }
    ig_info("msg=\"trust gate forced\" mode=%s gate=%s by=%s", st->force, closing ? "closed" : "open", st->token->name);
    rq->on_reply = on_flag_reply;
    for (unsigned b = 0; b != gw.cfg.buckets; ++b) {
        char key[IG_KEY_MAX_BYTES];
        size_t lens[3];
        if (b == IG_WL_BUCKET)
            continue;
        ig_key_gate(key, b);
        const char *set[] = {"SET", key, "closed"}, *del[] = {"DEL", key};
        gw_str_lens(lens, closing ? set : del, closing ? 3 : 2);
        if (gw_req_redis(rq, closing ? 3 : 2, closing ? set : del, lens) != 0) {
            gw_req_unavailable(rq);
            return;
        }
        ++st->pending;
    }
    if (st->pending == 0)
        gw_req_json(rq, 200, st->body, strlen(st->body));
}

void gw_route_evaluate_gate(gw_req_t *rq, h2o_iovec_t param)
{
    gw_error_t err;
    const ig_admin_token_t *token;
    (void)param;
    if ((token = gw_req_authorize(rq, IG_SCOPE_GATE)) == NULL)
        return;
    if (rq->req->entity.len != 0 && gw_req_check_body(rq, gw.cfg.public_body_bytes) != 0)
        return;
    trust_state_t *st = new_trust_state(rq);
    st->admin = 1;
    st->token = token;
    if (gw_parse_force(&st->force, &err, rq->req->entity.base, rq->req->entity.len) != 0) {
        gw_req_error(rq, &err, 0);
        return;
    }
    if (gw_idem_begin(rq, token, NULL) != 0)
        return;
    IG_FCALL_LOCAL(c, GATE, 0);
    const char *strs[] = {IG_KEY_TRUST,       IG_KEY_WL_GATE,       IG_KEY_GATE_MODE,
                          IG_KEY_GATE_AUTO,   gw_idem_call_key(rq), st->force ? st->force : "",
                          gw_idem_call_fp(rq)};
    ig_fcall_strs(&c, strs, sizeof(strs) / sizeof(strs[0]));
    gw_fcall(rq, on_gate_reply, &c);
}
