#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include "client.h"
#include "head.h"
#include "idem.h"
#include "ig_log.h"
#include "request.h"

static void maybe_free(gw_req_t *rq)
{
    if (rq->req != NULL || rq->outstanding != 0)
        return;
    if (h2o_timeout_is_linked(&rq->deadline))
        h2o_timeout_unlink(&rq->deadline);
    if (rq->free_state != NULL)
        rq->free_state(rq->state);
    gw_idem_free(rq->idem);
    free(rq);
}

/* Pool destructor of the h2o request: the request is over, answered or not. */
static void on_req_dispose(void *p)
{
    gw_req_t *rq = *(gw_req_t **)p;
    --rq->thread->inflight;
    if (!rq->answered) /* the client left before the answer */
        gw_metrics_request(&rq->thread->metrics, rq->route, 499, gw_now_ns() - rq->start_ns);
    rq->req = NULL;
    maybe_free(rq);
}

gw_req_t *gw_req_create(h2o_req_t *req, gw_thread_t *thread, gw_route_id_t route)
{
    gw_req_t *rq = calloc(1, sizeof(*rq));
    if (rq == NULL)
        h2o_fatal("no memory");
    rq->req = req;
    rq->thread = thread;
    rq->route = route;
    rq->start_ns = gw_now_ns();
    gw_req_t **slot = h2o_mem_alloc_shared(&req->pool, sizeof(*slot), on_req_dispose);
    *slot = rq;
    ++thread->inflight;
    return rq;
}

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 302:
        return "Found";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Entity";
    case 429:
        return "Too Many Requests";
    case 503:
        return "Service Unavailable";
    default:
        return "Internal Server Error";
    }
}

/*
 * Every answer leaves through here. A HEAD request (routed like GET) gets
 * the head a GET would get, Content-Length of the body included, and no
 * body: h2o sends whatever it is given, and body bytes after a HEAD answer
 * would be read as the start of the next answer on a kept-alive connection.
 */
static void add_limit_fields(gw_req_t *rq);

static void respond(gw_req_t *rq, int status, const char *content_type, size_t ct_len, const char *body, size_t len)
{
    static h2o_generator_t generator = {NULL, NULL};
    h2o_req_t *req = rq->req;
    assert(!rq->answered);
    if (rq->idem != NULL && gw_idem_on_answer(rq, status, content_type, body, len))
        return; /* sent once it is recorded */
    rq->answered = 1;
    if (h2o_timeout_is_linked(&rq->deadline))
        h2o_timeout_unlink(&rq->deadline);
    if (rq->limit_checked != 0)
        add_limit_fields(rq);
    gw_metrics_request(&rq->thread->metrics, rq->route, status, gw_now_ns() - rq->start_ns);
    req->res.status = status;
    req->res.reason = reason_phrase(status);
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type, ct_len);
    h2o_start_response(req, &generator);
    if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"))) {
        h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
        return;
    }
    h2o_iovec_t buf = h2o_strdup(&req->pool, body, len);
    h2o_send(req, &buf, 1, H2O_SEND_STATE_FINAL);
}

void gw_req_json(gw_req_t *rq, int status, const char *body, size_t len)
{
    respond(rq, status, H2O_STRLIT("application/json"), body, len);
}

void gw_req_jsonf(gw_req_t *rq, int status, const char *fmt, ...)
{
    char small[1024], *body = small;
    va_list args;
    va_start(args, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, args);
    va_end(args);
    if (n >= (int)sizeof(small)) {
        body = h2o_mem_alloc_pool(&rq->req->pool, (size_t)n + 1);
        va_start(args, fmt);
        vsnprintf(body, (size_t)n + 1, fmt, args);
        va_end(args);
    }
    gw_req_json(rq, status, body, (size_t)n);
}

void gw_req_text(gw_req_t *rq, int status, const char *content_type, const char *body, size_t len)
{
    respond(rq, status, content_type, strlen(content_type), body, len);
}

void gw_req_error(gw_req_t *rq, const gw_error_t *err, unsigned retry_after)
{
    char escaped[2 * sizeof(err->message)];
    size_t n = 0;
    /* Messages may quote client input (parser errors): escape for JSON. */
    for (const char *p = err->message; *p != '\0' && n < sizeof(escaped) - 7; ++p) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') {
            escaped[n++] = '\\';
            escaped[n++] = (char)c;
        } else if (c < 0x20 || c >= 0x7f) {
            n += (size_t)snprintf(escaped + n, 7, "\\u%04x", c);
        } else {
            escaped[n++] = (char)c;
        }
    }
    escaped[n] = '\0';
    if (retry_after > 0) {
        char value[16];
        int len = snprintf(value, sizeof(value), "%u", retry_after);
        h2o_add_header(&rq->req->pool, &rq->req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL,
                       h2o_strdup(&rq->req->pool, value, len).base, (size_t)len);
    }
    gw_req_jsonf(rq, err->status, "{\"status\":\"error\",\"error\":\"%s\",\"message\":\"%s\"}", err->reason, escaped);
}

void gw_req_fail(gw_req_t *rq, int status, const char *reason, const char *message)
{
    gw_error_t err = {status, reason, ""};
    snprintf(err.message, sizeof(err.message), "%s", message);
    gw_req_error(rq, &err, 0);
}

void gw_req_unavailable(gw_req_t *rq)
{
    gw_error_t err = {503, "unavailable", "the invite store is unavailable; retry shortly"};
    gw_req_error(rq, &err, 1);
}

void *gw_req_state(gw_req_t *rq, size_t size)
{
    void *st = calloc(1, size);
    if (st == NULL)
        h2o_fatal("no memory");
    rq->state = st;
    rq->free_state = free;
    return st;
}

static void on_deadline(h2o_timeout_entry_t *entry)
{
    gw_req_t *rq = H2O_STRUCT_FROM_MEMBER(gw_req_t, deadline, entry);
    /* A reply that comes later finds rq answered and is dropped (deliver). */
    if (rq->req != NULL && !rq->answered)
        gw_req_unavailable(rq);
}

void gw_req_arm_deadline(gw_req_t *rq)
{
    rq->deadline.cb = on_deadline;
    if (!h2o_timeout_is_linked(&rq->deadline))
        h2o_timeout_link(rq->thread->ctx.loop, &rq->thread->redis_deadline, &rq->deadline);
}

void gw_req_hold(gw_req_t *rq)
{
    ++rq->outstanding;
}

void gw_req_release(gw_req_t *rq)
{
    --rq->outstanding;
    maybe_free(rq);
}

/* Delivers a reply to one request of a call; rq may be freed on return. */
static void deliver(gw_req_t *rq, redisReply *reply, const char *err)
{
    --rq->outstanding;
    if (rq->req == NULL || rq->answered) {
        maybe_free(rq);
        return;
    }
    /* rq may be freed inside on_reply or an answer (h2o can dispose the request while sending). */
    if (rq->idem != NULL && err == NULL && gw_idem_on_reply(rq, &reply))
        return;
    rq->on_reply(rq, reply, err);
}

static void on_redis_reply(void *data, redisReply *reply, const char *err, uint64_t rtt_ns)
{
    gw_req_t *rq = data;
    gw_metrics_redis(&rq->thread->metrics, rtt_ns, err != NULL);
    if (err != NULL)
        ig_warn("msg=\"redis call failed\" route=%d err=%s", (int)rq->route, err);
    deliver(rq, reply, err);
}

/* The requests a coalesced call answers. */
typedef struct many_t {
    gw_metrics_t *metrics;
    void (*on_done)(void *);
    void *done_data;
    size_t n;
    gw_req_t *rqs[];
} many_t;

static void on_redis_reply_many(void *data, redisReply *reply, const char *err, uint64_t rtt_ns)
{
    many_t *many = data;
    gw_metrics_redis(many->metrics, rtt_ns, err != NULL);
    if (err != NULL)
        ig_warn("msg=\"redis call failed\" requests=%zu err=%s", many->n, err);
    for (size_t i = 0; i != many->n; ++i) {
        many->rqs[i]->batch_index = i;
        deliver(many->rqs[i], reply, err);
    }
    many->on_done(many->done_data);
    free(many);
}

int gw_req_redis_many(gw_req_t *const *rqs, size_t n, int argc, const char **argv, const size_t *argvlen, void (*on_done)(void *),
                      void *done_data)
{
    many_t *many = malloc(sizeof(*many) + n * sizeof(many->rqs[0]));
    if (many == NULL)
        h2o_fatal("no memory");
    many->metrics = &rqs[0]->thread->metrics;
    many->on_done = on_done;
    many->done_data = done_data;
    many->n = n;
    memcpy(many->rqs, rqs, n * sizeof(rqs[0]));
    if (gw_redis_call(rqs[0]->thread->redis, on_redis_reply_many, many, argc, argv, argvlen) != 0) {
        free(many);
        return -1;
    }
    for (size_t i = 0; i != n; ++i)
        ++rqs[i]->outstanding;
    return 0;
}

int gw_req_redis(gw_req_t *rq, int argc, const char **argv, const size_t *argvlen)
{
    if (gw_redis_call(rq->thread->redis, on_redis_reply, rq, argc, argv, argvlen) != 0)
        return -1;
    ++rq->outstanding;
    return 0;
}

int gw_req_check_body(gw_req_t *rq, size_t cap)
{
    h2o_req_t *req = rq->req;
    ssize_t i;
    if (req->entity.len > cap) {
        gw_error_t err;
        gw_error_set(&err, 413, "too_large", "the body is over the limit of %zu bytes", cap);
        gw_req_error(rq, &err, 0);
        return -1;
    }
    /* No Content-Type is no media type: refused like any other (README). Parameters such as charset are allowed. */
    if ((i = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1)) == -1) {
        gw_req_fail(rq, 415, "unsupported_media_type", "the body must be sent with Content-Type: application/json");
        return -1;
    }
    h2o_iovec_t ct = req->headers.entries[i].value;
    static const char json[] = "application/json";
    size_t n = sizeof(json) - 1;
    if (!(ct.len >= n && strncasecmp(ct.base, json, n) == 0 && (ct.len == n || ct.base[n] == ';' || ct.base[n] == ' '))) {
        gw_req_fail(rq, 415, "unsupported_media_type", "the body must be application/json");
        return -1;
    }
    return 0;
}

int gw_req_check_head(gw_req_t *rq)
{
    h2o_req_t *req = rq->req;
    const char *why;

    /* HTTP/2 frames its messages itself. */
    if (req->version >= 0x200)
        return 0;
    /* h2o 2.2.5 consumes an HTTP/1 request from the socket's input only once
     * its response is sent: until then the head is at the start of it. */
    h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
    assert(sock != NULL);
    if ((why = gw_head_check(sock->input->bytes, sock->input->size, req->input.method.base, req->input.method.len,
                             req->version >= 0x101)) == NULL)
        return 0;
    if (why == gw_head_unreadable)
        ig_error("msg=\"request head not found in the connection's input; refused\" route=%d", (int)rq->route);
    /* The bytes after this request cannot be framed with confidence: close the connection after the answer. */
    req->http1_is_persistent = 0;
    gw_req_fail(rq, 400, "bad_request", why);
    return -1;
}

const ig_admin_token_t *gw_req_authorize(gw_req_t *rq, unsigned scope)
{
    h2o_req_t *req = rq->req;
    const ig_admin_token_t *token = NULL;
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    if (i != -1) {
        h2o_iovec_t v = req->headers.entries[i].value;
        if (v.len > 7 && strncasecmp(v.base, "Bearer ", 7) == 0)
            token = ig_config_find_token(&gw.cfg, v.base + 7, v.len - 7);
    }
    if (token == NULL) {
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL, H2O_STRLIT("Bearer"));
        gw_req_fail(rq, 401, "unauthorized", "a valid admin bearer token is required");
        return NULL;
    }
    if ((token->scopes & scope) == 0) {
        gw_req_fail(rq, 403, "forbidden", "the token lacks the scope this endpoint needs");
        return NULL;
    }
    return token;
}

/* ---- Client address and rate limit -------------------------------------- */

/*
 * The peer is what h2o says: the TCP peer, or the source of the PROXY line
 * that a trusted peer opened the connection with (server.c).
 */
const ig_addr_t *gw_req_client(gw_req_t *rq)
{
    if (rq->client_known)
        return &rq->client;
    h2o_req_t *req = rq->req;
    struct sockaddr_storage ss;
    ig_addr_t peer;
    rq->client_known = 1;
    if (req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss) == 0 ||
        ig_addr_from_sockaddr(&peer, (struct sockaddr *)&ss) != 0) {
        memset(&rq->client, 0, sizeof(rq->client));
        strcpy(rq->client_text, "unknown");
        return &rq->client;
    }
    /* The X-Forwarded-For fields in the order received, read only behind a trusted peer. */
    size_t n = 0;
    const char **values = NULL;
    size_t *lens = NULL;
    if (gw.cfg.num_trusted_proxies != 0) {
        for (ssize_t i = -1; (i = h2o_find_header(&req->headers, H2O_TOKEN_X_FORWARDED_FOR, i)) != -1;)
            ++n;
        values = h2o_mem_alloc_pool(&req->pool, (n + 1) * sizeof(*values));
        lens = h2o_mem_alloc_pool(&req->pool, (n + 1) * sizeof(*lens));
        n = 0;
        for (ssize_t i = -1; (i = h2o_find_header(&req->headers, H2O_TOKEN_X_FORWARDED_FOR, i)) != -1; ++n) {
            values[n] = req->headers.entries[i].value.base;
            lens[n] = req->headers.entries[i].value.len;
        }
    }
    gw_client_derive(&rq->client, &peer, values, lens, n, gw.cfg.trusted_proxies, gw.cfg.num_trusted_proxies);
    ig_addr_format(rq->client_text, &rq->client);
    return &rq->client;
}

void gw_req_client_addr(gw_req_t *rq, char *out, size_t cap)
{
    gw_req_client(rq);
    snprintf(out, cap, "%s", rq->client_text);
}

/* Records a verdict of policy; answers 429 when it refuses. */
static int limit_verdict(gw_req_t *rq, unsigned policy, const gw_ratelimit_result_t *r)
{
    *(policy == GW_LIMIT_ADDR ? &rq->limit_addr : &rq->limit_email) = *r;
    rq->limit_checked |= policy;
    if (r->allowed)
        return 0;
    gw_error_t err = {429, "rate_limited", ""};
    snprintf(err.message, sizeof(err.message), "too many requests %s; retry later",
             policy == GW_LIMIT_ADDR ? "from this address" : "for this e-mail address");
    gw_req_error(rq, &err, gw_ratelimit_retry_after(r));
    return -1;
}

int gw_req_limit_addr(gw_req_t *rq)
{
    gw_ratelimit_key_t key;
    if (gw.ratelimit == NULL || (rq->limit_policies & GW_LIMIT_ADDR) == 0)
        return 0;
    gw_ratelimit_addr_key(&key, gw_req_client(rq));
    gw_ratelimit_result_t r = gw_ratelimit_take(gw.ratelimit, &key, gw_now_ns());
    return limit_verdict(rq, GW_LIMIT_ADDR, &r);
}

int gw_req_limit_email(gw_req_t *rq, const unsigned char *hash8)
{
    gw_ratelimit_key_t key;
    if (gw.ratelimit == NULL || (rq->limit_policies & GW_LIMIT_EMAIL) == 0)
        return 0;
    gw_ratelimit_email_key(&key, hash8);
    gw_ratelimit_result_t r = gw_ratelimit_take(gw.ratelimit, &key, gw_now_ns());
    return limit_verdict(rq, GW_LIMIT_EMAIL, &r);
}

/* RateLimit-Policy of the route and RateLimit (draft-ietf-httpapi-ratelimit-headers-10) of the policies checked. */
static void add_limit_fields(gw_req_t *rq)
{
    h2o_req_t *req = rq->req;
    size_t plen, len = 0, cap = 128;
    const char *policy = gw_ratelimit_policy(gw.ratelimit, rq->limit_policies, &plen);
    char *value = h2o_mem_alloc_pool(&req->pool, cap);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("RateLimit-Policy"), 0, NULL, policy, plen);
    if (rq->limit_checked & GW_LIMIT_ADDR)
        len = gw_ratelimit_format_item(value, len, cap, "addr", &rq->limit_addr);
    if (rq->limit_checked & GW_LIMIT_EMAIL)
        len = gw_ratelimit_format_item(value, len, cap, "email", &rq->limit_email);
    assert(len < cap);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("RateLimit"), 0, NULL, value, len);
}

void gw_format_time(char out[21], long long unix_seconds)
{
    time_t t = (time_t)unix_seconds;
    struct tm tm;
    /* strftime leaves out undefined when the text does not fit (a year past 9999): send "" rather than those bytes. */
    if (gmtime_r(&t, &tm) == NULL || strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        out[0] = '\0';
}
