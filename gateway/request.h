/*
 * The life of one HTTP request inside the gateway: routing context, answers
 * (JSON bodies, errors of API.md, metrics) and asynchronous Redis calls.
 *
 * A gw_req_t is heap-allocated and outlives its h2o request when a Redis call
 * is still outstanding (the client went away, or the call timed out): it is
 * freed when both the h2o request is disposed and no call is outstanding, so
 * a late reply never touches freed memory.
 */
#ifndef GW_REQUEST_H
#define GW_REQUEST_H

#include <h2o.h>
#include <hiredis/hiredis.h>
#include "gateway.h"
#include "ig_net.h"
#include "parse.h"
#include "ratelimit.h"

/** Room for a client address in text (IPv6 included). */
#define GW_ADDR_MAX_BYTES 64

typedef struct gw_req_t gw_req_t;
typedef struct gw_idem_t gw_idem_t;

/** Reply to a Redis call made for rq; called only while the request can still be answered. */
typedef void (*gw_req_reply_cb)(gw_req_t *rq, redisReply *reply, const char *err);

struct gw_req_t {
    h2o_req_t *req; /**< NULL once h2o disposed the request */
    gw_thread_t *thread;
    gw_route_id_t route;
    uint64_t start_ns;
    int answered;             /**< a response was started */
    unsigned outstanding;     /**< Redis calls not yet completed */
    gw_req_reply_cb on_reply; /**< for every call of this request */
    size_t batch_index;       /**< this request's item in a call made for many (gw_req_redis_many) */
    void *state;              /**< route state, freed with free_state */
    void (*free_state)(void *state);
    h2o_timeout_entry_t deadline; /**< linked while a deadline is armed (gw_req_arm_deadline) */
    gw_idem_mode_t idem_mode;     /**< the route's idem column (route_list.h) */
    gw_idem_t *idem;              /**< the request's Idempotency-Key (idem.h), or NULL; owned */
    /* Client address and rate limit (gw_req_client, gw_req_limit_*) */
    int client_known;                     /**< client and client_text are derived */
    ig_addr_t client;                     /**< the client address (client.h) */
    char client_text[IG_ADDR_TEXT_BYTES]; /**< its text, "unknown" without a peer address */
    unsigned limit_policies;              /**< GW_LIMIT_* of the route (the dispatcher's); 0 = not limited */
    unsigned limit_checked;               /**< the policies checked so far: their RateLimit items go out */
    gw_ratelimit_result_t limit_addr;     /**< verdict of the address policy */
    gw_ratelimit_result_t limit_email;    /**< verdict of the e-mail policy */
};

/** Creates the context of req (tied to req's pool). */
gw_req_t *gw_req_create(h2o_req_t *req, gw_thread_t *thread, gw_route_id_t route);

/** Answers with a JSON body (copied) and records metrics. */
void gw_req_json(gw_req_t *rq, int status, const char *body, size_t len);

/** Answers with a formatted JSON body. */
void gw_req_jsonf(gw_req_t *rq, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/** Answers with a non-JSON body (copied). */
void gw_req_text(gw_req_t *rq, int status, const char *content_type, const char *body, size_t len);

/** Answers with the error body of API.md; retry_after > 0 adds Retry-After (seconds). */
void gw_req_error(gw_req_t *rq, const gw_error_t *err, unsigned retry_after);

/** Shorthand for gw_req_error with a fixed message. */
void gw_req_fail(gw_req_t *rq, int status, const char *reason, const char *message);

/** Answers 503 unavailable with Retry-After: Redis is unreachable or slow. */
void gw_req_unavailable(gw_req_t *rq);

/**
 * Sends one Redis command on the thread's connection; rq->on_reply gets the
 * answer. Returns 0, or -1 when Redis is not connected (nothing was sent).
 */
int gw_req_redis(gw_req_t *rq, int argc, const char **argv, const size_t *argvlen);

/**
 * Sends one command on behalf of the n requests of rqs (a coalesced call):
 * each request's on_reply gets the whole reply, with rq->batch_index set to
 * its position in rqs. rqs is copied. After the last request has been
 * given the reply, on_done(done_data) is called. Returns 0, or -1 when Redis
 * is not connected (nothing was sent, on_done is not called).
 */
int gw_req_redis_many(gw_req_t *const *rqs, size_t n, int argc, const char **argv, const size_t *argvlen, void (*on_done)(void *),
                      void *done_data);

/** Allocates zeroed route state of size bytes, owned by rq (freed with it). */
void *gw_req_state(gw_req_t *rq, size_t size);

/**
 * Answers rq 503 unavailable when it is still unanswered redis_timeout_ms
 * from now: for requests that wait in a queue before their call goes out,
 * so that the wait and the call share one budget.
 */
void gw_req_arm_deadline(gw_req_t *rq);

/** Keeps rq allocated (not its h2o request) until the matching gw_req_release: for requests waiting in a queue. */
void gw_req_hold(gw_req_t *rq);

/** Drops a hold; frees rq if its h2o request is gone and nothing else holds it. */
void gw_req_release(gw_req_t *rq);

/**
 * Checks the body of a JSON endpoint: size cap, then Content-Type, which must
 * be present and application/json (parameters allowed). Returns 0, or -1
 * after answering 413/415.
 */
int gw_req_check_body(gw_req_t *rq, size_t cap);

/**
 * Checks what h2o does not in the head of an HTTP/1.x request (head.h), before
 * any handler reads the body. Returns 0, or -1 after answering 400
 * bad_request with the connection to be closed after the answer.
 */
int gw_req_check_head(gw_req_t *rq);

/**
 * Checks the bearer token and its scope. Returns the token, or NULL after
 * answering 401/403.
 */
const ig_admin_token_t *gw_req_authorize(gw_req_t *rq, unsigned scope);

/**
 * The client address of rq (client.h): its peer, or what trusted proxies
 * say in X-Forwarded-For. Derived on first use and kept with rq.
 */
const ig_addr_t *gw_req_client(gw_req_t *rq);

/** Writes the client address of rq (gw_req_client) as text to out. */
void gw_req_client_addr(gw_req_t *rq, char *out, size_t cap);

/**
 * Takes one unit of the client address's limit for a route limited per
 * address (rq->limit_policies; a no-op for other routes and when the limit
 * is off). Returns 0, or -1 after answering 429 rate_limited with
 * Retry-After. Every answer of a limited route carries RateLimit-Policy and
 * the RateLimit items of the policies checked.
 */
int gw_req_limit_addr(gw_req_t *rq);

/**
 * Takes one unit of the limit of the e-mail with hash hash8 (ig_email_hash)
 * on a route limited per e-mail; a no-op elsewhere. Returns 0, or -1 after
 * answering 429.
 */
int gw_req_limit_email(gw_req_t *rq, const unsigned char *hash8);

/** Formats a Unix time as 2025-12-27T00:00:00Z into out (21 bytes), or "" when the text would not fit (a year past 9999). */
void gw_format_time(char out[21], long long unix_seconds);

#endif
