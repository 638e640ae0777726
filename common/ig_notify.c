#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include "ig_notify.h"

/* Longest STATUS= text; systemd shows it in `systemctl status`. */
#define IG_NOTIFY_STATUS_BYTES 256

static struct {
    uint64_t watchdog_ms;                         /**< ping period; 0 = watchdog off */
    uint64_t last_ping_ms;                        /**< monotonic time of the last WATCHDOG=1 */
    int pinged;                                   /**< at least one ping was sent */
    char last_status[IG_NOTIFY_STATUS_BYTES + 8]; /**< the last STATUS= line sent */
} notify;

void ig_notify_init(void)
{
    uint64_t usec = 0;

    /* > 0 only when WatchdogSec= is set and WATCHDOG_PID (if any) names this process. */
    if (sd_watchdog_enabled(0, &usec) > 0 && usec >= 4000)
        notify.watchdog_ms = usec / 1000 / 4;
}

void ig_notify(const char *state)
{
    (void)sd_notify(0, state);
}

void ig_notify_status(const char *fmt, ...)
{
    char line[sizeof(notify.last_status)];
    va_list args;
    int n = snprintf(line, sizeof(line), "STATUS=");

    va_start(args, fmt);
    vsnprintf(line + n, IG_NOTIFY_STATUS_BYTES, fmt, args);
    va_end(args);
    if (strcmp(line, notify.last_status) == 0)
        return;
    memcpy(notify.last_status, line, sizeof(line));
    ig_notify(line);
}

uint64_t ig_notify_watchdog_period_ms(void)
{
    return notify.watchdog_ms;
}

void ig_notify_watchdog(uint64_t now_ms)
{
    if (notify.watchdog_ms == 0 || (notify.pinged && now_ms - notify.last_ping_ms < notify.watchdog_ms))
        return;
    notify.pinged = 1;
    notify.last_ping_ms = now_ms;
    ig_notify("WATCHDOG=1");
}
