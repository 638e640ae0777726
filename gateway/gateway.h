/*
 * The gateway process: its immutable global state and its threads. Each
 * thread owns one event loop, one h2o context, one listener (SO_REUSEPORT),
 * one Redis connection and one metrics block; nothing on the request path is
 * shared between threads.
 */
#ifndef GW_GATEWAY_H
#define GW_GATEWAY_H

#include <pthread.h>
#include <stdatomic.h>
#include <h2o.h>
#include "clock.h"
#include "ig_config.h"
#include "ig_user.h"
#include "conn_limit.h"
#include "listener.h"
#include "metrics.h"
#include "notify.h"
#include "redis_conn.h"

typedef struct gw_thread_t {
    unsigned index; /**< 0..num_threads-1 */
    pthread_t tid;
    h2o_context_t ctx; /**< this thread's h2o context (owns the loop) */
    h2o_accept_ctx_t accept_ctx;
    h2o_accept_ctx_t proxy_accept_ctx;       /**< accept_ctx expecting a PROXY line: for trusted peers (proxy_protocol) */
    int listen_fd;                           /**< bound before the thread starts */
    gw_listener_t listener;                  /**< accepts on listen_fd; closed for shutdown */
    gw_redis_t *redis;                       /**< this thread's Redis connection */
    gw_metrics_t metrics;                    /**< written by this thread only */
    struct gw_coalescer_t *redeem_coalescer; /**< redemptions waiting for their round (routes_redeem.c) */
    struct gw_coalescer_t *join_coalescer;   /**< joins waiting for their round (routes_waitlist.c) */
    size_t inflight;                         /**< requests not yet disposed */
    int draining;                            /**< shutdown requested on this thread */
    uint64_t drain_deadline_ns;              /**< give up on slow requests after this */
    int done;                                /**< leave the loop */
    h2o_timeout_t tick_timeout;              /**< housekeeping tick (shutdown checks) */
    h2o_timeout_t redis_deadline;            /**< redis_timeout_ms: the budget of a queued request (gw_req_arm_deadline) */
    h2o_timeout_entry_t tick_entry;
    gw_notify_thread_t notify; /**< heartbeat and readiness probe, for systemd (notify.h) */
} gw_thread_t;

typedef struct gw_t {
    ig_config_t cfg;             /**< immutable once threads start */
    unsigned char code_key[32];  /**< derived: code check */
    unsigned char email_key[32]; /**< derived: e-mail hashes in Redis */
    ig_user_keys_t user_keys;    /**< derived: user ids and referral codes */
    h2o_globalconf_t h2o;
    gw_thread_t *threads;
    unsigned num_threads;
    gw_conn_limit_t *conns;           /**< open connections of all threads, by client address */
    atomic_int shutdown;              /**< set by the signal thread */
    struct gw_ratelimit_t *ratelimit; /**< the rate limit of the public endpoints, shared by the threads; NULL = off */
    const char *lua;                  /**< the Redis function library */
    size_t lua_len;
} gw_t;

extern gw_t gw;

/** The thread that owns an h2o context. */
static inline gw_thread_t *gw_thread_of(h2o_context_t *ctx)
{
    return H2O_STRUCT_FROM_MEMBER(gw_thread_t, ctx, ctx);
}

/** Registers the router on hostconf and prepares listeners and threads; see server.c. */
int gw_server_run(void);

#endif
