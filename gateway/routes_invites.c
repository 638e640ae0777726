/*
 * Invite endpoints: generate (admin), status, redeem, revoke (admin). Each
 * state change is one call into the Lua library (lua/invitegate.lua) on the
 * bucket of the code, so it is atomic and appends its event in the same call.
 */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sodium.h>
#include "idem.h"
#include "ig_keys.h"
#include "ig_log.h"
#include "library.h"
#include "routes.h"

/* ---- GET /api/invites/{code}/status ------------------------------------ */

typedef struct code_state_t {
    char code[IG_CODE_BODY_LEN + 1];
} code_state_t;

static void on_status_reply(gw_req_t *rq, redisReply *reply, const char *err)
{
    const code_state_t *st = rq->state;
    const char *verdict = gw_take_verdict(rq, reply, err), *status;
    char expires[32] = "null", revoked[32] = "null";
    if (verdict == NULL)
        return;
    if (strcmp(verdict, "ok") != 0) {
        gw_fail_redis(rq, reply, NULL);
        return;
    }
    long long max = gw_reply_int(reply, 1), uses = gw_reply_int(reply, 2), exp = gw_reply_int(reply, 3),
              rev = gw_reply_int(reply, 4), now = gw_reply_int(reply, 6);
    if (rev != 0)
        status = "revoked";
    else if (exp != 0 && now >= exp)
        status = "expired";
    else if (uses >= max)
        status = max == 1 ? "used" : "exhausted";
    else
        status = "active";
    if (exp != 0) {
        expires[0] = '"';
        gw_format_time(expires + 1, exp);
        strcat(expires, "\"");
    }
    if (rev != 0) {
        revoked[0] = '"';
        gw_format_time(revoked + 1, rev);
        strcat(revoked, "\"");
    }
    gw_req_jsonf(rq, 200,
                 "{\"code\":\"%s%s\",\"valid\":%s,\"expires_at\":%s,\"used\":%s,\"status\":\"%s\",\"uses\":%lld,"
                 "\"max_uses\":%lld,\"revoked_at\":%s}",
                 gw.cfg.code_prefix, st->code, strcmp(status, "active") == 0 ? "true" : "false", expires,
                 uses > 0 ? "true" : "false", status, uses, max, revoked);
}

/* Parses the code of the path into a new code_state_t owned by rq; answers 422 on failure. */
static code_state_t *path_code(gw_req_t *rq, h2o_iovec_t param)
{
    gw_error_t err;
    code_state_t *st = malloc(sizeof(*st));
    if (st == NULL)
        h2o_fatal("no memory");
    rq->state = st;
    rq->free_state = free;
    if (gw_parse_code(st->code, &err, param.base, param.len, gw.cfg.code_prefix, gw.code_key) != 0) {
        gw_req_error(rq, &err, 0);
        return NULL;
    }
    return st;
}

void gw_route_status(gw_req_t *rq, h2o_iovec_t param)
{
    ig_code_keys_t k;
    code_state_t *st = path_code(rq, param);
    if (st == NULL)
        return;
    IG_FCALL_LOCAL(c, STATUS, 0);
    ig_code_keys(&k, st->code, gw.cfg.buckets);
    ig_fcall_str(&c, k.hash);
    ig_fcall_str(&c, k.field);
    gw_fcall(rq, on_status_reply, &c);
}

/* ---- POST /api/invites/{code}/revoke ----------------------------------- */

static void on_revoke_reply(gw_req_t *rq, redisReply *reply, const char *err)
{
    const code_state_t *st = rq->state;
    const char *verdict = gw_take_verdict(rq, reply, err);
    char at[21], redacted[IG_LOG_REDACT_BYTES];
    if (verdict == NULL)
        return;
    if (strcmp(verdict, "ok") != 0) {
        gw_fail_redis(rq, reply, NULL);
        return;
    }
    gw_format_time(at, gw_reply_int(reply, 1));
    ig_log_redact(redacted, st->code, strlen(st->code));
    ig_info("msg=\"code revoked\" code=%s", redacted);
    gw_req_jsonf(rq, 200, "{\"status\":\"success\",\"code\":\"%s%s\",\"revoked_at\":\"%s\"}", gw.cfg.code_prefix, st->code, at);
}

static void send_revoke(gw_req_t *rq)
{
    const code_state_t *st = rq->state;
    ig_code_keys_t k;
    char stream_key[IG_KEY_MAX_BYTES];
    IG_FCALL_LOCAL(c, REVOKE, 0);
    ig_code_keys(&k, st->code, gw.cfg.buckets);
    ig_key_events(stream_key, k.bucket);
    ig_fcall_str(&c, k.hash);
    ig_fcall_str(&c, stream_key);
    ig_fcall_str(&c, k.field);
    ig_fcall_str(&c, st->code);
    gw_fcall(rq, on_revoke_reply, &c);
}

void gw_route_revoke(gw_req_t *rq, h2o_iovec_t param)
{
    const ig_admin_token_t *token;
    if ((token = gw_req_authorize(rq, IG_SCOPE_REVOKE)) == NULL || path_code(rq, param) == NULL)
        return;
    if (gw_idem_begin(rq, token, send_revoke) == 0)
        send_revoke(rq);
}

/* ---- POST /api/invites/generate ---------------------------------------- */

/*
 * A batch is written in two steps: ig_batch_claim records the batch id with a
 * fingerprint of the request and the generated codes, then one ig_issue per
 * bucket creates the codes. Both steps are idempotent, so if anything fails
 * in between, re-posting the identical request finishes the batch and answers
 * the same codes.
 */
typedef struct generate_state_t {
    gw_generate_req_t in;
    char (*codes)[IG_CODE_BODY_LEN + 1]; /* in.batch_size codes */
    const ig_admin_token_t *token;
    long long expires_at;
    int is_new;
    unsigned pending;  /* ig_issue calls outstanding */
    long long created; /* codes the issue calls created */
} generate_state_t;

static void free_generate_state(void *p)
{
    generate_state_t *st = p;
    gw_generate_req_dispose(&st->in);
    free(st->codes);
    free(st);
}

static void fingerprint(char out[33], const gw_generate_req_t *in)
{
    crypto_generichash_state h;
    unsigned char digest[16];
    char head[160];
    int n = snprintf(head, sizeof(head), "v1|%u|%u|%.17g|%s|", in->batch_size, in->max_uses, in->expires_days, in->cohort);
    crypto_generichash_init(&h, NULL, 0, sizeof(digest));
    crypto_generichash_update(&h, (const unsigned char *)head, (size_t)n);
    for (size_t i = 0; in->issued_to != NULL && i != in->batch_size; ++i)
        crypto_generichash_update(&h, (const unsigned char *)in->issued_to[i].addr, in->issued_to[i].len + 1);
    crypto_generichash_final(&h, digest, sizeof(digest));
    sodium_bin2hex(out, 33, digest, sizeof(digest));
}

static void answer_batch(gw_req_t *rq, generate_state_t *st)
{
    size_t prefix_len = strlen(gw.cfg.code_prefix), cap = 256 + st->in.batch_size * (prefix_len + IG_CODE_BODY_LEN + 3);
    char *body = h2o_mem_alloc_pool(&rq->req->pool, cap), expires[21];
    size_t n;

    gw_format_time(expires, st->expires_at);
    n = (size_t)snprintf(
        body, cap, "{\"status\":\"success\",\"batch_id\":\"%s\",\"generated\":%u,\"max_uses\":%u,\"expires_at\":\"%s\",\"codes\":[",
        st->in.batch_id, st->in.batch_size, st->in.max_uses, expires);
    for (size_t i = 0; i != st->in.batch_size; ++i)
        n += (size_t)snprintf(body + n, cap - n, "%s\"%s%s\"", i ? "," : "", gw.cfg.code_prefix, st->codes[i]);
    n += (size_t)snprintf(body + n, cap - n, "]}");
    ig_info("msg=\"batch issued\" batch=%s size=%u new=%d created=%lld by=%s", st->in.batch_id, st->in.batch_size, st->is_new,
            st->created, st->token->name);
    gw_req_json(rq, st->is_new ? 201 : 200, body, n);
}

static void on_issue_reply(gw_req_t *rq, redisReply *reply, const char *err)
{
    generate_state_t *st = rq->state;
    if (err != NULL || reply->type != REDIS_REPLY_INTEGER) {
        /* Codes written so far stay; re-posting the same request completes the batch. */
        ig_error("msg=\"issuing a batch failed part-way; an identical retry completes it\" batch=%s", st->in.batch_id);
        gw_fail_redis(rq, reply, err);
        return;
    }
    st->created += reply->integer;
    if (--st->pending == 0)
        answer_batch(rq, st);
}

/* Sends one ig_issue per bucket holding codes of the batch. Returns -1 when Redis is not connected. */
static int send_issue_calls(gw_req_t *rq, generate_state_t *st)
{
    size_t n = st->in.batch_size, per_bucket[IG_BUCKETS_MAX] = {0};
    char max[16], exp[24], stream_key[IG_KEY_MAX_BYTES];
    unsigned char(*hashes)[IG_EMAIL_HASH_BYTES] = NULL;
    char(*keys)[IG_KEY_MAX_BYTES] = malloc(n * sizeof(*keys));
    uint8_t *bucket = malloc(n); /* of each code (IG_BUCKETS_MAX is 256) */
    const char **argv = malloc(IG_CALL_ARGC(ISSUE, n) * sizeof(*argv));
    size_t *argvlen = malloc(IG_CALL_ARGC(ISSUE, n) * sizeof(*argvlen));
    int ret = -1;

    if (keys == NULL || bucket == NULL || argv == NULL || argvlen == NULL)
        h2o_fatal("no memory");
    if (st->in.issued_to != NULL) {
        if ((hashes = malloc(n * sizeof(*hashes))) == NULL)
            h2o_fatal("no memory");
        for (size_t i = 0; i != n; ++i)
            ig_email_hash(hashes[i], st->in.issued_to[i].addr, st->in.issued_to[i].len, gw.email_key);
    }
    for (size_t i = 0; i != n; ++i)
        ++per_bucket[bucket[i] = (uint8_t)ig_code_bucket(st->codes[i], gw.cfg.buckets)];
    snprintf(max, sizeof(max), "%u", st->in.max_uses);
    snprintf(exp, sizeof(exp), "%lld", st->expires_at);
    rq->on_reply = on_issue_reply;
    for (unsigned b = 0; b != gw.cfg.buckets; ++b) {
        if (per_bucket[b] == 0)
            continue;
        ig_fcall_t c;
        size_t nkeys = 0;
        ig_key_events(stream_key, b);
        ig_fcall_begin(&c, IG_CALL_ISSUE, per_bucket[b], argv, argvlen, IG_CALL_ARGC(ISSUE, n));
        ig_fcall_str(&c, stream_key);
        for (size_t i = 0; i != n; ++i) {
            if (bucket[i] != b)
                continue;
            ig_key_code_hash(keys[nkeys], b, ig_code_subhash(st->codes[i]));
            ig_fcall_str(&c, keys[nkeys++]);
        }
        const char *fixed[] = {st->in.batch_id, st->in.cohort, max, exp, st->token->name};
        ig_fcall_strs(&c, fixed, sizeof(fixed) / sizeof(fixed[0]));
        for (size_t i = 0; i != n; ++i) {
            if (bucket[i] != b)
                continue;
            ig_fcall_bin(&c, st->codes[i] + 3, IG_CODE_BODY_LEN - 3);
            ig_fcall_bin(&c, st->codes[i], IG_CODE_BODY_LEN);
            ig_fcall_bin(&c, hashes ? st->in.issued_to[i].addr : "", hashes ? st->in.issued_to[i].len : 0);
            ig_fcall_bin(&c, hashes ? (const char *)hashes[i] : "", hashes ? IG_EMAIL_HASH_BYTES : 0);
        }
        if (gw_req_redis(rq, (int)ig_fcall_end(&c), argv, argvlen) != 0)
            goto Exit;
        ++st->pending;
    }
    ret = 0;
Exit:
    free(hashes);
    free(keys);
    free(bucket);
    free(argv);
    free(argvlen);
    return ret;
}

/* Reads the space-separated codes a previous identical request stored. */
static int load_stored_codes(generate_state_t *st, const char *codes, size_t len)
{
    if (len != st->in.batch_size * (IG_CODE_BODY_LEN + 1) - 1)
        return -1;
    for (size_t i = 0; i != st->in.batch_size; ++i) {
        memcpy(st->codes[i], codes + i * (IG_CODE_BODY_LEN + 1), IG_CODE_BODY_LEN);
        st->codes[i][IG_CODE_BODY_LEN] = '\0';
    }
    return 0;
}

static void on_claim_reply(gw_req_t *rq, redisReply *reply, const char *err)
{
    generate_state_t *st = rq->state;
    const char *verdict = gw_take_verdict(rq, reply, err);
    if (verdict == NULL)
        return;
    if (strcmp(verdict, "same") == 0) {
        if (reply->elements < 3 || reply->element[1]->type != REDIS_REPLY_STRING ||
            load_stored_codes(st, reply->element[1]->str, reply->element[1]->len) != 0) {
            gw_fail_redis(rq, reply, NULL);
            return;
        }
        st->expires_at = gw_reply_int(reply, 2);
    } else if (strcmp(verdict, "new") == 0) {
        st->is_new = 1;
    } else {
        gw_fail_redis(rq, reply, NULL);
        return;
    }
    /* Replies of calls that did go out are ignored once the request is answered. */
    if (send_issue_calls(rq, st) != 0)
        gw_req_unavailable(rq);
}

/* Generates the batch's codes and claims its id (the first step). */
static void send_claim(gw_req_t *rq)
{
    generate_state_t *st = rq->state;
    char batch_key[IG_KEY_MAX_BYTES], gate_key[IG_KEY_MAX_BYTES], fp[33], exp[24];
    size_t n = st->in.batch_size;
    char *joined = malloc(n * (IG_CODE_BODY_LEN + 1));
    if ((st->codes = malloc(n * sizeof(*st->codes))) == NULL || joined == NULL)
        h2o_fatal("no memory");
    for (size_t i = 0; i != n; ++i) {
        ig_code_generate(st->codes[i], gw.code_key);
        memcpy(joined + i * (IG_CODE_BODY_LEN + 1), st->codes[i], IG_CODE_BODY_LEN);
        joined[i * (IG_CODE_BODY_LEN + 1) + IG_CODE_BODY_LEN] = ' ';
    }
    st->expires_at = (long long)time(NULL) + (long long)llround(st->in.expires_days * 86400.0);
    fingerprint(fp, &st->in);
    unsigned bucket = ig_bucket_of(st->in.batch_id, strlen(st->in.batch_id), gw.cfg.buckets);
    ig_key_batch(batch_key, bucket, st->in.batch_id);
    ig_key_gate(gate_key, bucket);
    snprintf(exp, sizeof(exp), "%lld", st->expires_at);
    IG_FCALL_LOCAL(c, BATCH_CLAIM, 0);
    ig_fcall_str(&c, batch_key);
    ig_fcall_str(&c, gate_key);
    ig_fcall_str(&c, fp);
    ig_fcall_bin(&c, joined, n * (IG_CODE_BODY_LEN + 1) - 1); /* not NUL-terminated */
    ig_fcall_str(&c, exp);
    gw_fcall(rq, on_claim_reply, &c);
    free(joined);
}

void gw_route_generate(gw_req_t *rq, h2o_iovec_t param)
{
    generate_state_t *st;
    gw_error_t err;
    const ig_admin_token_t *token;
    (void)param;

    if ((token = gw_req_authorize(rq, IG_SCOPE_ISSUE)) == NULL || gw_req_check_body(rq, gw.cfg.admin_body_bytes) != 0)
        return;
    if ((st = calloc(1, sizeof(*st))) == NULL)
        h2o_fatal("no memory");
    rq->state = st;
    rq->free_state = free_generate_state;
    st->token = token;
    if (gw_parse_generate(&st->in, &err, rq->req->entity.base, rq->req->entity.len, gw.cfg.default_expires_days) != 0) {
        gw_req_error(rq, &err, 0);
        return;
    }
    if (gw_idem_begin(rq, token, send_claim) == 0)
        send_claim(rq);
}
