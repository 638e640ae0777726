/*
 * The systemd notification protocol (sd_notify) without libsystemd: one
 * datagram per message to the socket named by NOTIFY_SOCKET. Everything is a
 * no-op when the daemon is not started by systemd with Type=notify.
 */
#ifndef SYNC_NOTIFY_H
#define SYNC_NOTIFY_H

#include <stdint.h>

/** Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID; call once at start. */
void sync_notify_init(void);

/** Sends msg ("READY=1", "STOPPING=1", "STATUS=...") if systemd listens. Main thread only (the socket opens on first use). */
void sync_notify(const char *msg);

/** Sends WATCHDOG=1 when the watchdog is on, at most every WATCHDOG_USEC / 4. Main thread only. */
void sync_notify_watchdog(void);

/** WATCHDOG_USEC / 4 in milliseconds (how often sync_notify_watchdog pings), or 0 when the watchdog is off. */
uint64_t sync_notify_watchdog_period_ms(void);

#endif
