/*
 * Calling the Redis function library for a request and mapping its verdicts
 * to the answers of API.md (library.c).
 */
#ifndef GW_LIBRARY_H
#define GW_LIBRARY_H

#include <hiredis/hiredis.h>
#include "request.h"

/** Lengths of NUL-terminated arguments. */
void gw_str_lens(size_t *lens, const char *const *argv, size_t n);

/** gw_call with rq->on_reply and NUL-terminated arguments only. */
void gw_send_strings(gw_req_t *rq, const char *const *argv, size_t argc);

/**
 * Calls the library for rq with on_reply: the arguments are NUL-terminated
 * strings, except those that are the pointers hash8 or hash8_2 (NULL =
 * none), which are 8-byte e-mail hashes. On a route whose idem column is
 * CALL (route_list.h) the Idempotency-Key's record and the request's
 * fingerprint follow them ("" and "" without a key; idem.h). Answers 503
 * when Redis is not connected.
 */
void gw_call(gw_req_t *rq, gw_req_reply_cb on_reply, const char *const *argv, size_t argc, const unsigned char *hash8,
             const unsigned char *hash8_2);

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
