/*
 * The Idempotency-Key header (IETF httpapi idempotency-key-header draft, as
 * Stripe does it) on the routes whose idem column in route_list.h is CALL or
 * ANSWER:
 *
 * - a key is scoped by the admin token's name (admin routes) or by the client
 *   address (public routes); its record lives 24 h in bucket 0 of Redis
 *   (ig_key_idem in ig_keys.h);
 * - a retry with the same key and the same request (fingerprint: method,
 *   path, body; idem_key.h) gets the first answer's status and body again,
 *   byte for byte, with the header Idempotent-Replayed: true, and the change
 *   is not made again;
 * - the same key with another request: 422 idempotency_key_reused;
 * - while a request with the key is being processed by this gateway (its
 *   Redis call is out): 409 idempotency_key_in_use with Retry-After: 1;
 * - answers made before the change (401, 403, 400, 413, 415, 422 of
 *   validation), 5xx (503 unavailable, invites_paused) and 429 are not
 *   recorded, so a retry can succeed.
 *
 * CALL routes: the library function that makes the change checks the key and
 * records its own reply in the same atomic call (lua/invitegate.lua,
 * idem_check and idem_save). A replay is that reply, which the route renders
 * as it did the first time: the answer of such a route must be a function of
 * the reply, the request and the configuration only (times, ids and codes
 * come from the reply, never from the gateway's clock or random numbers).
 *
 * ANSWER routes (generate, revoke: idempotent by themselves, but not one call
 * of bucket 0): the key is looked up before the change (ig_idem_get) and the
 * answer's status and body recorded after it (ig_idem_put). Should that
 * record be lost (Redis unreachable at that moment), a retry makes the
 * idempotent change again and answers as such a retry does without a key.
 */
#ifndef GW_IDEM_H
#define GW_IDEM_H

#include <hiredis/hiredis.h>
#include "idem_key.h"
#include "request.h"

/**
 * At dispatch, before the handler: records the route's mode in rq and reads
 * its Idempotency-Key header, if any, into rq->idem (owned by rq). Returns 0,
 * or -1 after answering 400 invalid_field (a malformed value, or more than
 * one header).
 */
int gw_idem_parse(gw_req_t *rq, gw_idem_mode_t mode);

/**
 * Called by a handler once the request is valid, right before the change:
 * scopes the key by token (admin routes) or by the client address (token
 * NULL) and puts it in the in-flight set. Returns 0 when the handler goes on
 * now: there is no key, or the route is CALL. Returns -1 when the request is
 * answered (409) or continues later: on an ANSWER route the key is looked up
 * first, and proceed(rq) is called if it has no record.
 */
int gw_idem_begin(gw_req_t *rq, const ig_admin_token_t *token, void (*proceed)(gw_req_t *rq));

/**
 * The record's key of a CALL route's library call, its last KEY
 * (IG_KEY_IDEM_NONE without a key; common/ig_calls.h, "idem").
 */
const char *gw_idem_call_key(const gw_req_t *rq);

/** The request's fingerprint, the last ARGV of a CALL route's library call ("" without a key). */
const char *gw_idem_call_fp(const gw_req_t *rq);

/**
 * For a reply to a request with a key: answers 422 for a reused key or the
 * recorded answer of an ANSWER route and returns 1; otherwise returns 0,
 * with *reply replaced by the recorded reply when the call replayed one.
 */
int gw_idem_on_reply(gw_req_t *rq, redisReply **reply);

/** 1 when rq is being answered from a record. */
int gw_idem_replayed(const gw_req_t *rq);

/**
 * Before an answer of rq (which has a key) goes out: marks a replay and
 * takes the key out of the in-flight set. The answer of an ANSWER route that
 * made its change is recorded first: then this returns 1 and sends the
 * answer (with gw_req_json) once the record is written; otherwise 0, and
 * the caller sends it now.
 */
int gw_idem_on_answer(gw_req_t *rq, int status, const char *content_type, const char *body, size_t len);

/** Takes the key out of the in-flight set if it is in, and frees idem (NULL is fine). */
void gw_idem_free(gw_idem_t *idem);

#endif
