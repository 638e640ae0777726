/*
 * Blocking Redis connections by bucket, for the sync daemon's lanes and
 * jobs: one connection to a single Redis, or, when redis_url names the seed
 * nodes of a Redis Cluster (redis+cluster://), one connection per master,
 * and each bucket's hash tag {B} routed to the master that serves its slot
 * (common/ig_cluster.h).
 *
 * Nothing here follows a redirection: a MOVED, an ASK or a lost connection
 * is an error the caller already handles by dropping its connections and
 * opening them again (sync_route_open reads the slot map afresh), then
 * reading again from PostgreSQL's marks. That is rare (a reshard, a
 * failover) and loses nothing.
 */
#ifndef SYNC_REDIS_ROUTE_H
#define SYNC_REDIS_ROUTE_H

#include <stddef.h>
#include <stdint.h>
#include <hiredis/hiredis.h>
#include "ig_cluster.h"
#include "ig_config.h"
#include "ig_keys.h"

/** Most masters one daemon connects to (a bucket each at most). */
#define SYNC_ROUTE_MAX_NODES IG_BUCKETS_MAX
#define SYNC_ROUTE_ERR_BYTES 256

typedef struct sync_route_t {
    int cluster;                               /**< redis_url names a cluster */
    redisContext *nodes[SYNC_ROUTE_MAX_NODES]; /**< owned; one per master (one in all without a cluster) */
    ig_cluster_addr_t addrs[SYNC_ROUTE_MAX_NODES];
    size_t num_nodes;                     /**< entries of nodes */
    unsigned buckets;                     /**< the install's bucket count (cfg->buckets) */
    redisContext *bucket[IG_BUCKETS_MAX]; /**< borrowed from nodes: the connection of each bucket */
    uint16_t node_of[IG_BUCKETS_MAX];     /**< the index in nodes of each bucket's connection */
    char errstr[SYNC_ROUTE_ERR_BYTES];    /**< why the last open failed */
} sync_route_t;

/**
 * Opens r for cfg: connects (connect_ms for the connect; command_ms, when
 * not 0, for every command after it) and, on a cluster, reads the slot map
 * from the first seed that answers and connects to the master of each
 * bucket. Then compares cfg's bucket count with the one Redis records
 * (sync/layout.h), recording it when none is: a difference ends the process
 * (sync_layout_refuse). Returns 0, or -1 with the reason in r->errstr (r
 * left closed).
 */
int sync_route_open(sync_route_t *r, const ig_config_t *cfg, unsigned connect_ms, unsigned command_ms);

/** Closes every connection of r (r may be closed already). */
void sync_route_close(sync_route_t *r);

/**
 * Makes r a routing of the first buckets buckets to the one connection c,
 * as sync_route_open does for a single Redis: r owns c (sync_route_close
 * frees it) unless the caller frees c and never closes r.
 */
void sync_route_single(sync_route_t *r, redisContext *c, unsigned buckets);

/** The connection that serves bucket (r open). */
static inline redisContext *sync_route_bucket(const sync_route_t *r, unsigned bucket)
{
    return r->bucket[bucket];
}

/** The index in r->nodes of the connection that serves bucket (r open). */
static inline size_t sync_route_node_of(const sync_route_t *r, unsigned bucket)
{
    return r->node_of[bucket];
}

/** Whether r is open. */
static inline int sync_route_is_open(const sync_route_t *r)
{
    return r->num_nodes != 0;
}

/** Whether a connection of r failed (its context has an error): r should be closed and opened again. */
static inline int sync_route_failed(const sync_route_t *r)
{
    for (size_t i = 0; i != r->num_nodes; ++i)
        if (r->nodes[i]->err != 0)
            return 1;
    return 0;
}

/** Sets a timeout for every command on every connection of r. Returns 0 or -1. */
int sync_route_set_timeout(sync_route_t *r, unsigned ms);

#endif
