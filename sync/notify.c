#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include "notify.h"
#include "runtime.h"

static struct {
    struct sockaddr_un addr; /**< where systemd listens */
    socklen_t addr_len;      /**< 0 = not under systemd */
    int fd;                  /**< datagram socket, opened on first use */
    uint64_t watchdog_ms;    /**< ping period; 0 = watchdog off */
    uint64_t last_ping_ms;   /**< monotonic time of the last WATCHDOG=1 */
} notify = {.fd = -1};

void sync_notify_init(void)
{
    const char *path = getenv("NOTIFY_SOCKET"), *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
    size_t len;

    if (path == NULL || (path[0] != '/' && path[0] != '@') || (len = strlen(path)) >= sizeof(notify.addr.sun_path))
        return;
    notify.addr.sun_family = AF_UNIX;
    memcpy(notify.addr.sun_path, path, len);
    if (path[0] == '@')
        notify.addr.sun_path[0] = '\0'; /* abstract namespace */
    notify.addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    /* The watchdog belongs to the process systemd started, not to a child. */
    if (usec != NULL && (pid == NULL || strtol(pid, NULL, 10) == (long)getpid()))
        notify.watchdog_ms = strtoull(usec, NULL, 10) / 1000u / 4u;
}

void sync_notify(const char *msg)
{
    if (notify.addr_len == 0)
        return;
    if (notify.fd < 0 && (notify.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
        return;
    (void)sendto(notify.fd, msg, strlen(msg), MSG_NOSIGNAL, (const struct sockaddr *)&notify.addr, notify.addr_len);
}

void sync_notify_watchdog(void)
{
    uint64_t now;

    if (notify.watchdog_ms == 0)
        return;
    now = sync_now_ms();
    if (now - notify.last_ping_ms < notify.watchdog_ms)
        return;
    notify.last_ping_ms = now;
    sync_notify("WATCHDOG=1");
}

uint64_t sync_notify_watchdog_period_ms(void)
{
    return notify.watchdog_ms;
}
