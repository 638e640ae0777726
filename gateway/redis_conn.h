/*
 * One asynchronous Redis connection per gateway thread, on that thread's
 * event loop. Requests of the thread share it: hiredis pipelines them.
 *
 * The connection loads the Lua library (FUNCTION LOAD REPLACE) first thing
 * after every connect, so a restarted or flushed Redis gets it back before
 * any FCALL that follows in the pipeline. When the connection drops it is
 * re-established with exponential backoff; calls made meanwhile fail at once
 * so the caller can answer 503.
 */
#ifndef GW_REDIS_CONN_H
#define GW_REDIS_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <h2o.h>
#include <hiredis/hiredis.h>

typedef struct gw_redis_t gw_redis_t;
typedef struct gw_redis_call_t gw_redis_call_t;

/**
 * Completion of a call: exactly one of reply (borrowed, valid during the
 * callback) and err ("timeout", "unavailable") is non-NULL. rtt_ns is the
 * time from send to completion.
 */
typedef void (*gw_redis_cb)(void *data, redisReply *reply, const char *err, uint64_t rtt_ns);

/** Creates the connection object and starts connecting. lua is borrowed and must outlive the object. */
gw_redis_t *gw_redis_create(h2o_loop_t *loop, const char *host, uint16_t port, const char *unix_path, unsigned timeout_ms,
                            const char *lua, size_t lua_len);

/** Disconnects and frees; pending calls complete with "unavailable". */
void gw_redis_destroy(gw_redis_t *r);

/** 1 when connected and the library load was acknowledged. */
int gw_redis_is_ready(const gw_redis_t *r);

/**
 * Sends one command. On success returns a handle and cb will be called
 * exactly once, unless the handle is cancelled first. Returns NULL when not
 * ready, i.e. not connected or the library load not yet acknowledged (cb is
 * not called).
 */
gw_redis_call_t *gw_redis_call(gw_redis_t *r, gw_redis_cb cb, void *data, int argc, const char **argv, const size_t *argvlen);

/** Guarantees cb of call will not be called (the reply is discarded when it comes). */
void gw_redis_cancel(gw_redis_call_t *call);

#endif
