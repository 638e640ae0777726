#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "idem.h"
#include "ig_log.h"
#include "library.h"

struct gw_idem_t {
    gw_idem_entry_t entry; /**< in the in-flight set while held */
    gw_idem_mode_t mode;
    int held;        /**< entry is in the in-flight set */
    int fresh;       /**< ANSWER route: no record was found; the answer is to be recorded */
    int replayed;    /**< the answer is a replay */
    int held_status; /**< ANSWER route: the answer waiting for its record to be written */
    char *held_body; /**< its body (malloc'ed) */
    size_t held_len;
    void (*proceed)(gw_req_t *rq); /**< ANSWER route: the change, once the lookup found nothing */
    char fp[GW_IDEM_HEX_BYTES];    /**< the request's fingerprint */
    char record[IG_KEY_MAX_BYTES]; /**< the record's Redis key (set by gw_idem_begin) */
    size_t key_len;                /**< the header's value, in key */
    char key[GW_IDEM_KEY_MAX_BYTES];
};

int gw_idem_parse(gw_req_t *rq, gw_idem_mode_t mode)
{
    h2o_req_t *req = rq->req;
    rq->idem_mode = mode;
    if (mode == GW_IDEM_NO)
        return 0;
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("idempotency-key"), -1);
    if (i == -1)
        return 0;
    h2o_iovec_t v = req->headers.entries[i].value;
    if (h2o_find_header_by_str(&req->headers, H2O_STRLIT("idempotency-key"), i) != -1 || gw_idem_key_check(v.base, v.len) != 0) {
        gw_req_fail(rq, 400, "invalid_field", "Idempotency-Key must be one header of 1 to 255 printable ASCII characters");
        return -1;
    }
    gw_idem_t *idem = calloc(1, sizeof(*idem));
    if (idem == NULL)
        h2o_fatal("no memory");
    idem->mode = mode;
    memcpy(idem->key, v.base, v.len);
    idem->key_len = v.len;
    /* The path as routed (router.c): a trailing '/' names the same resource. */
    h2o_iovec_t path = req->path_normalized;
    if (path.len > 1 && path.base[path.len - 1] == '/')
        --path.len;
    gw_idem_fingerprint(idem->fp, req->method.base, req->method.len, path.base, path.len, req->entity.base, req->entity.len);
    rq->idem = idem;
    return 0;
}

static void on_lookup_reply(gw_req_t *rq, redisReply *reply, const char *err)
{
    gw_idem_t *idem = rq->idem;
    const char *verdict = err == NULL ? gw_verdict_of(reply) : NULL;
    /* A replay or a reused key was answered by gw_idem_on_reply. */
    if (verdict == NULL || strcmp(verdict, "none") != 0) {
        gw_fail_redis(rq, reply, err);
        return;
    }
    idem->fresh = 1;
    idem->proceed(rq);
}

int gw_idem_begin(gw_req_t *rq, const ig_admin_token_t *token, void (*proceed)(gw_req_t *rq))
{
    gw_idem_t *idem = rq->idem;
    char addr[GW_ADDR_MAX_BYTES];
    int fits;

    if (idem == NULL)
        return 0;
    if (token != NULL) {
        fits = gw_idem_record_key(idem->record, 't', token->name, idem->key, idem->key_len) == 0;
    } else {
        gw_req_client_addr(rq, addr, sizeof(addr));
        fits = gw_idem_record_key(idem->record, 'a', addr, idem->key, idem->key_len) == 0;
    }
    /* Token names and addresses are short enough by construction (ig_config.h, GW_ADDR_MAX_BYTES). */
    assert(fits);
    (void)fits;
    if (gw_idem_inflight_add(&idem->entry, idem->record) != 0) {
        gw_error_t err = {409, "idempotency_key_in_use",
                          "a request with this Idempotency-Key is still being processed; retry shortly"};
        gw_req_error(rq, &err, 1);
        return -1;
    }
    idem->held = 1;
    if (idem->mode == GW_IDEM_CALL)
        return 0;
    idem->proceed = proceed;
    IG_FCALL_LOCAL(c, IDEM_GET, 0);
    ig_fcall_str(&c, idem->record);
    ig_fcall_str(&c, idem->fp);
    gw_fcall(rq, on_lookup_reply, &c);
    return -1;
}

const char *gw_idem_call_key(const gw_req_t *rq)
{
    const gw_idem_t *idem = rq->idem;
    /* A call carries the key only after gw_idem_begin scoped it. */
    assert(idem == NULL || idem->held);
    return idem != NULL ? idem->record : IG_KEY_IDEM_NONE;
}

const char *gw_idem_call_fp(const gw_req_t *rq)
{
    const gw_idem_t *idem = rq->idem;
    assert(idem == NULL || idem->held);
    return idem != NULL ? idem->fp : "";
}

int gw_idem_on_reply(gw_req_t *rq, redisReply **reply)
{
    gw_idem_t *idem = rq->idem;
    const char *verdict = gw_verdict_of(*reply);
    if (verdict == NULL)
        return 0;
    if (strcmp(verdict, "idempotency_key_reused") == 0) {
        gw_req_fail(rq, 422, "idempotency_key_reused", "this Idempotency-Key was used with another request; use a new key");
        return 1;
    }
    if (strcmp(verdict, "replay") != 0)
        return 0;
    redisReply *stored = (*reply)->elements == 2 ? (*reply)->element[1] : NULL;
    if (stored == NULL || stored->type != REDIS_REPLY_ARRAY) {
        gw_fail_redis(rq, *reply, NULL);
        return 1;
    }
    idem->replayed = 1;
    /* An ANSWER route's record: {'answer', status, body}. */
    if (idem->mode == GW_IDEM_ANSWER) {
        size_t len;
        const char *body = gw_reply_str(stored, 2, &len);
        long long status = gw_reply_int(stored, 1);
        const char *kind = gw_verdict_of(stored);
        if (kind == NULL || strcmp(kind, "answer") != 0 || status < 200 || status > 499)
            gw_fail_redis(rq, stored, NULL);
        else
            gw_req_json(rq, (int)status, body, len);
        return 1;
    }
    *reply = stored;
    return 0;
}

int gw_idem_replayed(const gw_req_t *rq)
{
    return rq->idem != NULL && rq->idem->replayed;
}

static void release(gw_idem_t *idem)
{
    if (idem->held) {
        gw_idem_inflight_remove(&idem->entry);
        idem->held = 0;
    }
}

/* The record of an ANSWER route's answer is written (or could not be): the key leaves the in-flight set, the answer goes out. */
static void on_put_reply(gw_req_t *rq, redisReply *reply, const char *err)
{
    gw_idem_t *idem = rq->idem;
    if (err != NULL || reply->type != REDIS_REPLY_INTEGER)
        ig_warn("msg=\"idempotency record not written; a retry makes the change again\" route=%d", (int)rq->route);
    release(idem);
    gw_req_json(rq, idem->held_status, idem->held_body, idem->held_len);
}

int gw_idem_on_answer(gw_req_t *rq, int status, const char *content_type, const char *body, size_t len)
{
    gw_idem_t *idem = rq->idem;
    if (idem->replayed)
        h2o_add_header_by_str(&rq->req->pool, &rq->req->res.headers, H2O_STRLIT("idempotent-replayed"), 0, NULL,
                              H2O_STRLIT("true"));
    if (idem->fresh && status < 500 && status != 429 && strcmp(content_type, "application/json") == 0) {
        char code[16];
        snprintf(code, sizeof(code), "%d", status);
        IG_FCALL_LOCAL(c, IDEM_PUT, 0);
        ig_fcall_str(&c, idem->record);
        ig_fcall_str(&c, idem->fp);
        ig_fcall_str(&c, code);
        ig_fcall_bin(&c, body, len);
        idem->fresh = 0;
        /* The answer waits for its record, so that a retry sent after the answer finds the record. */
        rq->on_reply = on_put_reply;
        if (gw_req_redis(rq, (int)ig_fcall_end(&c), c.argv, c.lens) == 0) {
            if ((idem->held_body = malloc(len + 1)) == NULL)
                h2o_fatal("no memory");
            memcpy(idem->held_body, body, len);
            idem->held_status = status, idem->held_len = len;
            return 1;
        }
        ig_warn("msg=\"idempotency record not written: redis not connected\" route=%d", (int)rq->route);
    }
    release(idem);
    return 0;
}

void gw_idem_free(gw_idem_t *idem)
{
    if (idem == NULL)
        return;
    release(idem);
    free(idem->held_body);
    free(idem);
}
