/*
 * Adaptive coalescing of requests into one Redis call per lane (a lane is a
 * hash-tag bucket for redemptions; the waitlist has one).
 *
 * Each thread keeps at most one round of calls in flight per coalescer.
 * Requests that arrive while a round is out wait in their lane's queue; when
 * the round's replies are in (or at the end of the loop turn when nothing is
 * out) every non-empty lane goes out as one call. At low load a request is
 * sent at once; under load the batches grow with the load and the fixed
 * cost of a Redis function call (and of a round trip) is shared by the whole
 * batch, while each call still touches one cluster slot. The Lua side
 * applies the items in order, exactly as separate calls would.
 *
 * A queued request is answered 503 redis_timeout_ms after it was queued if
 * no reply came by then, whether it still waits for its round (Redis hung
 * on the round in flight) or its call is out.
 */
#ifndef GW_COALESCE_H
#define GW_COALESCE_H

#include "request.h"

/** Most requests in one call; a full lane is sent at once. */
#define GW_COALESCE_MAX_ITEMS 64

typedef struct gw_coalescer_t gw_coalescer_t;

/**
 * Sends the n live requests of lane as one call, with
 * gw_req_redis_many(live, n, ..., gw_coalesce_done, c). Returns what
 * gw_req_redis_many returned (-1: not sent).
 */
typedef int (*gw_coalesce_send_fn)(gw_coalescer_t *c, unsigned lane, gw_req_t *const *live, size_t n);

/** A coalescer of thread with lanes queues; lives as long as the thread. */
gw_coalescer_t *gw_coalescer_new(gw_thread_t *thread, unsigned lanes, gw_coalesce_send_fn send);

/** Queues rq (its on_reply and state set) on lane; it is sent with its lane's next call. */
void gw_coalesce_enqueue(gw_coalescer_t *c, gw_req_t *rq, unsigned lane);

/** The on_done of every call a send function makes: the round is over when all are in. */
void gw_coalesce_done(void *data);

#endif
