/*
 * Calling the Redis function library for a request and mapping its verdicts
 * to the answers of API.md (library.c).
 */
#ifndef GW_LIBRARY_H
#define GW_LIBRARY_H

#include <hiredis/hiredis.h>
#include "ig_calls.h"
#include "request.h"

/** Lengths of NUL-terminated arguments. */
void gw_str_lens(size_t *lens, const char *const *argv, size_t n);

/**
 * Sends the library call c (built with ig_fcall_*, common/ig_calls.h; its
 * strings only need to live until this returns) for rq with on_reply.
 * Answers 503 when Redis is not connected.
 */
void gw_fcall(gw_req_t *rq, gw_req_reply_cb on_reply, const ig_fcall_t *c);

/** The verdict (first element) of a library reply, or NULL when the reply is not one. */
const char *gw_verdict_of(redisReply *reply);

/** Element i of an array reply as an integer (0 when absent or not an integer). */
long long gw_reply_int(redisReply *reply, size_t i);

/** Element i of an array reply as a string ("" when absent or not a string); its length in *len. */
const char *gw_reply_str(redisReply *reply, size_t i, size_t *len);

/** Answers a transport failure or an unexpected reply: 503, retrying is safe. */
void gw_fail_redis(gw_req_t *rq, redisReply *reply, const char *err);

/** Answers a refusal verdict of the library (404, 409, 410, 403, 503); returns 0 if verdict is not one. */
int gw_answer_refusal(gw_req_t *rq, const char *verdict);

/** Returns a success verdict for the caller to handle; answers failures and refusals itself and returns NULL. */
const char *gw_take_verdict(gw_req_t *rq, redisReply *reply, const char *err);

/**
 * Like gw_take_verdict, but answers not_found with the given message (404)
 * and returns NULL for it.
 */
const char *gw_take_verdict_or_404(gw_req_t *rq, redisReply *reply, const char *err, const char *not_found_message);

#endif
