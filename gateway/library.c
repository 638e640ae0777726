/*
 * Calling the Redis function library (lua/) on behalf of a request and
 * turning its replies into the answers of API.md. A library reply is an array
 * whose first element names the verdict ('ok', 'not_found', 'exhausted',
 * ...); transport failures and replies of another shape are 503, which a
 * client may retry: every library call is safe to repeat.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ig_log.h"
#include "library.h"

/* Lengths of NUL-terminated arguments. */
void gw_str_lens(size_t *lens, const char *const *argv, size_t n)
{
    for (size_t i = 0; i != n; ++i)
        lens[i] = strlen(argv[i]);
}

/* A reply of the library is an array whose first element names the verdict. */
const char *gw_verdict_of(redisReply *reply)
{
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements >= 1 && reply->element[0]->type == REDIS_REPLY_STRING)
        return reply->element[0]->str;
    return NULL;
}

long long gw_reply_int(redisReply *reply, size_t i)
{
    return i < reply->elements && reply->element[i]->type == REDIS_REPLY_INTEGER ? reply->element[i]->integer : 0;
}

/* Answers a Redis failure: transport errors and unexpected replies are 503 (retry is safe). */
void gw_fail_redis(gw_req_t *rq, redisReply *reply, const char *err)
{
    if (err == NULL)
        ig_error("msg=\"unexpected reply from the Lua library\" route=%d type=%d err=\"%s\"", (int)rq->route, reply->type,
                 reply->type == REDIS_REPLY_ERROR ? reply->str : "-");
    gw_req_unavailable(rq);
}

/* The verdicts shared by redeem and status that are not a success. */
int gw_answer_refusal(gw_req_t *rq, const char *verdict)
{
    const struct {
        const char *verdict;
        int status;
        const char *message;
    } refusals[] = {
        {"not_found", 404, "no such invite code"},
        {"revoked", 410, "this invite code was revoked"},
        {"expired", 410, "this invite code has expired"},
        {"wrong_account", 403, "this invite code was issued to another e-mail address"},
        {"exhausted", 409, "this invite code has no uses left"},
        {"invites_paused", 503, "invites are paused; try again later"},
        {"conflict", 409, "this batch_id exists with a different request"},
    };
    for (size_t i = 0; i != sizeof(refusals) / sizeof(refusals[0]); ++i) {
        if (strcmp(verdict, refusals[i].verdict) == 0) {
            gw_req_fail(rq, refusals[i].status, refusals[i].verdict, refusals[i].message);
            return 1;
        }
    }
    return 0;
}

/*
 * Returns the verdict of a library reply when it is a success for the caller
 * to handle; answers failures and refusals itself and returns NULL.
 */
const char *gw_take_verdict(gw_req_t *rq, redisReply *reply, const char *err)
{
    const char *verdict;
    if (err != NULL || (verdict = gw_verdict_of(reply)) == NULL) {
        gw_fail_redis(rq, reply, err);
        return NULL;
    }
    return gw_answer_refusal(rq, verdict) ? NULL : verdict;
}

void gw_fcall(gw_req_t *rq, gw_req_reply_cb on_reply, const ig_fcall_t *c)
{
    size_t argc = ig_fcall_end(c);
    rq->on_reply = on_reply;
    if (gw_req_redis(rq, (int)argc, c->argv, c->lens) != 0)
        gw_req_unavailable(rq);
}

const char *gw_reply_str(redisReply *reply, size_t i, size_t *len)
{
    if (i < reply->elements && reply->element[i]->type == REDIS_REPLY_STRING) {
        *len = reply->element[i]->len;
        return reply->element[i]->str;
    }
    *len = 0;
    return "";
}

const char *gw_take_verdict_or_404(gw_req_t *rq, redisReply *reply, const char *err, const char *not_found_message)
{
    const char *verdict = err == NULL ? gw_verdict_of(reply) : NULL;
    if (verdict != NULL && strcmp(verdict, "not_found") == 0) {
        gw_req_fail(rq, 404, "not_found", not_found_message);
        return NULL;
    }
    return gw_take_verdict(rq, reply, err);
}
