/*
 * A gateway thread's view of a Redis Cluster (redis_url = redis+cluster://).
 *
 * The thread holds one connection (redis_conn.c, same event loop and
 * adapter) per master, each loading the Lua library after it connects, and
 * one more connection without the library that asks a node for the slot map
 * (CLUSTER SLOTS): at start, after a MOVED, on CLUSTERDOWN, when a master
 * cannot be reached, and every few seconds, so that a promoted replica gets
 * its slots' traffic without a restart.
 *
 * Each call goes to the master of its first key's slot. What a call that was
 * not run may be retried on, within the one redis_timeout_ms budget of the
 * call: MOVED (the map is updated, the call sent to the new owner), ASK
 * (ASKING and the call sent once to the importing node, the map kept),
 * TRYAGAIN and CLUSTERDOWN, and a master not connected at send time. A call
 * sent and then lost (timeout, connection dropped) completes with an error
 * and is never sent again: it may have been applied.
 */
#ifndef GW_REDIS_CLUSTER_H
#define GW_REDIS_CLUSTER_H

#include <h2o.h>
#include "ig_config.h"
#include "metrics.h"
#include "redis_conn.h"

typedef struct gw_cluster_t gw_cluster_t;

/**
 * Creates the cluster router of one thread and starts asking cfg's seed
 * nodes for the slot map. Every master's connection is set up as setup
 * (copied; its lua borrowed, must outlive the object) says. metrics (the
 * thread's, borrowed) counts the calls sent again, by reason.
 */
gw_cluster_t *gw_cluster_create(h2o_loop_t *loop, const ig_config_t *cfg, const gw_redis_setup_t *setup, gw_metrics_t *metrics);

/** Closes every connection and frees c; pending calls complete with "unavailable". */
void gw_cluster_destroy(gw_cluster_t *c);

/** 1 when every slot has a master whose connection is ready; otherwise asks for a fresh map. */
int gw_cluster_is_ready(gw_cluster_t *c);

/** gw_redis_call on a cluster (redis_conn.h): 0 and cb called once, or -1 (no slot map yet; cb not called). */
int gw_cluster_call(gw_cluster_t *c, gw_redis_cb cb, void *data, int argc, const char **argv, const size_t *argvlen);

#endif
