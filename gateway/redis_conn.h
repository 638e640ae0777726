/*
 * One asynchronous Redis connection per gateway thread, on that thread's
 * event loop. Requests of the thread share it: hiredis pipelines them.
 *
 * The connection loads the Lua library (FUNCTION LOAD REPLACE) first thing
 * after every connect, so a restarted or flushed Redis gets it back before
 * any FCALL that follows in the pipeline. When the connection drops it is
 * re-established with exponential backoff; calls made meanwhile fail at once
 * so the caller can answer 503.
 *
 * With a redis+cluster:// URL the same object routes each call to the master
 * of its slot over one such connection per master (redis_cluster.c).
 */
#ifndef GW_REDIS_CONN_H
#define GW_REDIS_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <h2o.h>
#include <hiredis/hiredis.h>
#include "ig_config.h"

typedef struct gw_redis_t gw_redis_t;
typedef struct gw_redis_call_t gw_redis_call_t;
struct gw_metrics_t;

/**
 * Completion of a call: exactly one of reply (borrowed, valid during the
 * callback) and err ("timeout", "unavailable", "not_replicated") is non-NULL. rtt_ns is the
 * time from send to completion.
 */
typedef void (*gw_redis_cb)(void *data, redisReply *reply, const char *err, uint64_t rtt_ns);

/**
 * Creates the thread's Redis from the configuration: one connection
 * (redis:// or unix://), or the connections to a Redis Cluster's masters
 * (redis+cluster://, redis_cluster.h) behind the same calls. lua is borrowed
 * and must outlive the object; so is metrics (the thread's), where a
 * cluster counts the calls it sent again.
 */
gw_redis_t *gw_redis_create(h2o_loop_t *loop, const ig_config_t *cfg, const char *lua, size_t lua_len,
                            struct gw_metrics_t *metrics);

/** How a connection is set up after every connect, and how its calls go out. */
typedef struct gw_redis_setup_t {
    const char *lua; /**< the library source (borrowed, must outlive the connection); NULL = none to load */
    size_t lua_len;
    unsigned timeout_ms; /**< per-call deadline */
    /**
     * The install's bucket count, compared after the library load with the
     * one Redis records, and recorded when none is (SET NX; a cluster master
     * that does not serve bucket 0 answers MOVED and has nothing to
     * compare): a different count ends the process with status
     * IG_BUCKETS_EXIT, for no gateway may serve with a layout other than the
     * data's.
     */
    unsigned buckets;
    /**
     * 0, or each call into a writing library function (FCALL, not FCALL_RO)
     * is followed on its connection by WAIT wait_replicas timeout_ms/2, and
     * completes only once that many replicas acknowledged it; fewer
     * completes with err "not_replicated" (the write happened on the master;
     * the caller answers 503 and a client's retry is safe). A failover then
     * cannot lose what was answered. Redis holds the connection's later
     * commands, reads included, behind each WAIT.
     */
    unsigned wait_replicas;
} gw_redis_setup_t;

/**
 * Creates one connection and starts connecting; after every connect it is
 * set up as setup (copied) says. With setup->lua NULL the connection is
 * ready once connected (for commands outside the library).
 */
gw_redis_t *gw_redis_connect(h2o_loop_t *loop, const char *host, uint16_t port, const char *unix_path,
                             const gw_redis_setup_t *setup);

/** Disconnects and frees; pending calls complete with "unavailable". */
void gw_redis_destroy(gw_redis_t *r);

/**
 * 1 when calls can go out: connected and the library load acknowledged; for
 * a cluster, every slot has a master whose connection is so.
 */
int gw_redis_is_ready(gw_redis_t *r);

/**
 * Sends one command. Returns 0 and cb will be called exactly once, or -1
 * when not ready (cb is not called): not connected or the library load not
 * yet acknowledged; for a cluster, no slot map yet. argv is copied.
 *
 * On a cluster the call goes to the master of its first key's slot
 * (ig_cluster_command_slot); a redirection (MOVED, ASK) or a refusal that
 * means "not run" (CLUSTERDOWN, TRYAGAIN, the master unreachable before the
 * send) is retried within the same timeout_ms. A call sent and then lost
 * (timeout, connection dropped) is never sent again: it completes with err.
 */
int gw_redis_call(gw_redis_t *r, gw_redis_cb cb, void *data, int argc, const char **argv, const size_t *argvlen);

/**
 * Sends a command already in the protocol's form (cmd of len bytes, copied
 * into the connection's buffer) on one connection. Returns a handle and cb
 * (may be NULL: the reply is dropped) will be called exactly once unless the
 * handle is cancelled first, or NULL when not ready (cb is not called).
 */
gw_redis_call_t *gw_redis_send(gw_redis_t *r, gw_redis_cb cb, void *data, const char *cmd, size_t len);

/** Whether cmd (the protocol's form) calls a library function that may write (FCALL, not FCALL_RO). */
int gw_redis_is_library_write(const char *cmd, size_t len);

/** Guarantees cb of call will not be called (the reply is discarded when it comes). */
void gw_redis_cancel(gw_redis_call_t *call);

/** The address of a connection, "IP:PORT" or the socket's path, for logs. */
const char *gw_redis_name(const gw_redis_t *r);

#endif
