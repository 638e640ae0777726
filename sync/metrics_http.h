/*
 * The sync daemon's metrics server: one thread with a plain listening socket
 * (the daemon needs no HTTP library for this), answering GET /metrics with
 * the Prometheus text of metrics.h, one request per connection. It reads the
 * stream gauges from Redis on a connection of its own, so a scrape never
 * waits for a lane.
 *
 * sync_metrics_listen sets the address (loopback by default; empty or "off":
 * no server). The socket is bound before the thread starts: a taken port is
 * logged as an error at start, and the daemon runs on without metrics (its
 * work matters more than its gauges; a scraper sees the target down).
 */
#ifndef SYNC_METRICS_HTTP_H
#define SYNC_METRICS_HTTP_H

#include <pthread.h>
#include <hiredis/hiredis.h>
#include "redis_route.h"
#include "ig_config.h"

typedef struct sync_metrics_server_t {
    const ig_config_t *cfg; /**< borrowed; outlives the server */
    int fd;                 /**< the listening socket; -1 when off */
    sync_route_t route;     /**< owned by the thread; closed while disconnected */
    pthread_t thread;       /**< valid while started */
    int started;            /**< the thread runs */
} sync_metrics_server_t;

/**
 * Binds sync_metrics_listen of cfg (borrowed) and starts the server's thread
 * (with SIGTERM and SIGINT blocked in it). Returns 0 when it serves, 1 when
 * it is off or could not start (logged); the daemon goes on either way.
 */
int sync_metrics_server_start(sync_metrics_server_t *s, const ig_config_t *cfg);

/** Waits for the thread to end (after a stop was requested) and closes the socket and the connection. */
void sync_metrics_server_stop(sync_metrics_server_t *s);

#endif
