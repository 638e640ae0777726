/* Operational endpoints: liveness, readiness and Prometheus metrics. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "routes.h"

void gw_route_health(gw_req_t *rq, h2o_iovec_t param)
{
    char ts[21];
    gw_format_time(ts, (long long)time(NULL));
    gw_req_jsonf(rq, 200, "{\"status\":\"healthy\",\"service\":\"gateway\",\"timestamp\":\"%s\"}", ts);
}

static void on_ready_reply(gw_req_t *rq, redisReply *reply, const char *err)
{
    if (err == NULL && reply->type == REDIS_REPLY_STRING)
        gw_req_jsonf(rq, 200, "{\"status\":\"ready\",\"redis\":\"ok\",\"library\":\"%.*s\"}", (int)reply->len, reply->str);
    else
        gw_req_fail(rq, 503, "unavailable", err != NULL ? "Redis did not answer" : "the Redis function library is not loaded");
}

/* Ready means: this thread's Redis connection answers a call into the library. */
void gw_route_ready(gw_req_t *rq, h2o_iovec_t param)
{
    static const char *argv[] = {"FCALL_RO", "ig_ready", "0"};
    static const size_t argvlen[] = {8, 8, 1};
    rq->on_reply = on_ready_reply;
    if (!gw_redis_is_ready(rq->thread->redis) || gw_req_redis(rq, 3, argv, argvlen) != 0)
        gw_req_fail(rq, 503, "unavailable", "Redis is not connected");
}

void gw_route_metrics(gw_req_t *rq, h2o_iovec_t param)
{
    gw_metrics_t *all[256];
    size_t len;
    unsigned n = gw.num_threads < 256 ? gw.num_threads : 256;
    for (unsigned i = 0; i != n; ++i)
        all[i] = &gw.threads[i].metrics;
    gw_metrics_gauges_t gauges = {gw_redis_is_ready(rq->thread->redis), gw.num_threads, gw_conn_limit_open(gw.conns)};
    char *text = gw_metrics_render(&len, all, n, &gauges);
    gw_req_text(rq, 200, "text/plain; version=0.0.4", text, len);
    free(text);
}
