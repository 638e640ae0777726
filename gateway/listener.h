/*
 * The accepting side of one gateway thread: its SO_REUSEPORT listener.
 *
 * Each accepted connection is first counted against the process's limits
 * (conn_limit.h); a connection over them is closed at once, before h2o sees
 * a byte of it, and counted in /metrics. An admitted one is handed to h2o and
 * uncounted when h2o closes its socket.
 *
 * When accept fails for want of descriptors or kernel memory (EMFILE,
 * ENFILE, ENOBUFS, ENOMEM) the pending connection stays queued and the
 * listener stays readable: accepting again at once would spin. The listener
 * stops reading instead and tries again after GW_LISTENER_BACKOFF_MS, or as
 * soon as one of this thread's connections closes. One warning is logged per
 * episode (from the first failure until the queue is drained), not per
 * failed call.
 */
#ifndef GW_LISTENER_H
#define GW_LISTENER_H

#include <stdint.h>
#include <h2o.h>

#define GW_LISTENER_BACKOFF_MS 100

struct gw_thread_t;

typedef struct gw_listener_t {
    struct gw_thread_t *thread;        /**< the owner: its loop, accept context and metrics */
    h2o_socket_t *sock;                /**< the listening socket; NULL once closed */
    int fd;                            /**< its descriptor */
    int paused;                        /**< reading stopped until the back-off ends or a connection closes */
    uint64_t episode_start_ns;         /**< when accepting first failed in this episode; 0 = accepting normally */
    unsigned episode_failures;         /**< failed accepts in this episode (one per pause) */
    h2o_timeout_t backoff_timeout;     /**< GW_LISTENER_BACKOFF_MS on the thread's loop */
    h2o_timeout_entry_t backoff_entry; /**< linked while paused */
} gw_listener_t;

/**
 * Starts accepting on fd (a bound, listening socket, which the listener now
 * owns) on the loop of thread. Call on that thread.
 */
void gw_listener_start(gw_listener_t *listener, struct gw_thread_t *thread, int fd);

/** Stops accepting and closes the socket (shutdown). Call on the listener's thread. */
void gw_listener_close(gw_listener_t *listener);

/**
 * Raises the process's soft descriptor limit (RLIMIT_NOFILE) up to its hard
 * limit so that max_connections connections fit beside the threads' own
 * descriptors, and warns when the hard limit is too low: then the listeners
 * pause on EMFILE before max_connections is reached. Call before threads start.
 */
void gw_listener_fit_fd_limit(unsigned max_connections, unsigned threads);

#endif
