/*
 * Helpers shared by the invite routes (routes_invites.c, routes_redeem.c):
 * where a code lives in Redis, sending library calls, and turning library
 * replies into the answers of API.md.
 */
#ifndef GW_INVITES_H
#define GW_INVITES_H

#include <hiredis/hiredis.h>
#include "ig_code.h"
#include "ig_keys.h"
#include "request.h"

#define GW_ADDR_MAX_BYTES 64

/** Lengths of NUL-terminated arguments. */
void gw_str_lens(size_t *lens, const char *const *argv, size_t n);

/** Sends a command of at most 16 NUL-terminated arguments for rq; answers 503 when Redis is not connected. */
void gw_send_strings(gw_req_t *rq, const char *const *argv, size_t argc);

/** The verdict (first element) of a library reply, or NULL when the reply is not one. */
const char *gw_verdict_of(redisReply *reply);

/** Element i of an array reply as an integer (0 when absent or not an integer). */
long long gw_reply_int(redisReply *reply, size_t i);

/** Answers a transport failure or an unexpected reply: 503, retrying is safe. */
void gw_fail_redis(gw_req_t *rq, redisReply *reply, const char *err);

/** Answers a refusal verdict of the library (404, 409, 410, 403, 429, 503); returns 0 if verdict is not one. */
int gw_answer_refusal(gw_req_t *rq, const char *verdict, long long retry_ms);

/** Returns a success verdict for the caller to handle; answers failures and refusals itself and returns NULL. */
const char *gw_take_verdict(gw_req_t *rq, redisReply *reply, const char *err);

#endif
