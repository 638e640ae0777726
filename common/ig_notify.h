/*
 * The systemd service notifications of both daemons (Type=notify units):
 * READY=1, STATUS=..., WATCHDOG=1 and STOPPING=1, through libsystemd's
 * sd_notify. Every call is a no-op when the process was not started by
 * systemd with a notification socket (NOTIFY_SOCKET unset), so the daemons
 * run the same way under scripts/up, in tests and under systemd.
 *
 * The watchdog: ig_notify_init reads WatchdogSec= (WATCHDOG_USEC, for this
 * process only: WATCHDOG_PID). The daemon pings every quarter of it, and
 * only while its own event loops show they ran recently: a loop that is
 * stuck stops the pings and systemd restarts the service.
 */
#ifndef IG_NOTIFY_H
#define IG_NOTIFY_H

#include <stdint.h>

/** Reads the watchdog settings of this process; call once, before threads start. */
void ig_notify_init(void);

/** Sends one or more newline-separated assignments ("READY=1") when systemd listens. Any thread. */
void ig_notify(const char *state);

/**
 * Sends STATUS=<text> when it differs from the last STATUS sent (so a
 * daemon may call it on every tick). Main thread only.
 */
void ig_notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/** How often to ping the watchdog in milliseconds (a quarter of WatchdogSec=), or 0 when it is off. */
uint64_t ig_notify_watchdog_period_ms(void);

/**
 * Sends WATCHDOG=1 when the watchdog is on and the last ping is a period
 * old; the caller calls it only while its loops are alive. now_ms is the
 * monotonic clock in milliseconds. Main thread only.
 */
void ig_notify_watchdog(uint64_t now_ms);

#endif
