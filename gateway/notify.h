/*
 * The gateway's systemd notifications (common/ig_notify.h), told from the
 * event loops themselves.
 *
 * Each thread's loop calls gw_notify_tick on its housekeeping tick: that
 * stores the loop's heartbeat and, once a second, sends FCALL_RO ig_ready on
 * the thread's own Redis connection (a call into the loaded function
 * library, what GET /ready asks). The main thread waits for SIGTERM/SIGINT in
 * gw_notify_wait and meanwhile sends READY=1 once every thread's call has
 * answered, STATUS with what the gateway waits for or how it serves,
 * WATCHDOG=1 only while every loop has ticked recently (a stuck loop stops
 * the pings, and systemd restarts the gateway), and STOPPING=1 when the
 * signal comes.
 */
#ifndef GW_NOTIFY_H
#define GW_NOTIFY_H

#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>

struct gw_thread_t;

/** One thread's part; its fields are written by that thread's loop and read by the main thread. */
typedef struct gw_notify_thread_t {
    _Atomic uint64_t beat_ms; /**< the loop ticked at this time (monotonic milliseconds) */
    _Atomic int redis_ok;     /**< the last FCALL_RO ig_ready answered */
    int probing;              /**< a probe is in flight (loop only) */
    uint64_t next_probe_ms;   /**< when to probe next (loop only) */
    int started;              /**< the loop ticked once (loop only) */
} gw_notify_thread_t;

/** Called by each thread's loop on every tick: heartbeat, and the readiness probe when due. */
void gw_notify_tick(struct gw_thread_t *thread);

/**
 * Main thread, once the threads run: waits for a signal of set (blocked in
 * every thread) while telling systemd how the gateway is, then sends
 * STOPPING=1 and returns the signal.
 */
int gw_notify_wait(const sigset_t *set);

#endif
