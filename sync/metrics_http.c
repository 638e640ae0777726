#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include "ig_net.h"
#include "ig_log.h"
#include "metrics.h"
#include "metrics_http.h"
#include "runtime.h"

/* How long the accept loop sleeps between looks at the stop flag. */
#define SYNC_METRICS_POLL_MS 200
/* A scraper gets this long to send its request, and to take the answer. */
#define SYNC_METRICS_IO_TIMEOUT_S 2
/* The request head is read up to this size (a scrape sends a few hundred bytes). */
#define SYNC_METRICS_REQUEST_BYTES 4096
/* Redis calls of a scrape give up after this long. */
#define SYNC_METRICS_REDIS_TIMEOUT_MS 1000

static int open_listener(const char *host, uint16_t port)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int fd, on = 1;

    if (ig_sockaddr_parse(&ss, &len, host, port) != 0) {
        errno = EINVAL;
        return -1;
    }
    if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
        return -1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 || bind(fd, (struct sockaddr *)&ss, len) != 0 ||
        listen(fd, 16) != 0) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    return fd;
}

static void send_all(int fd, const char *data, size_t len)
{
    while (len != 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            return;
        }
        data += n;
        len -= (size_t)n;
    }
}

static void answer(int fd, const char *status, const char *extra_headers, const char *type, const char *body, size_t len,
                   int head_only)
{
    char head[512];
    int n = snprintf(head, sizeof(head), "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%sConnection: close\r\n\r\n",
                     status, type, len, extra_headers);
    send_all(fd, head, (size_t)n);
    if (!head_only)
        send_all(fd, body, len);
}

/* Connects the scrape's Redis connection if needed. */
static void ensure_redis(sync_metrics_server_t *s)
{
    if (!sync_route_is_open(&s->route))
        (void)sync_route_open(&s->route, s->cfg, SYNC_METRICS_REDIS_TIMEOUT_MS, SYNC_METRICS_REDIS_TIMEOUT_MS);
}

/* Reads one request head from fd and answers it. */
static void serve(sync_metrics_server_t *s, int fd)
{
    char req[SYNC_METRICS_REQUEST_BYTES + 1];
    size_t got = 0, path_len;
    int head_only;

    for (;;) {
        ssize_t n = recv(fd, req + got, sizeof(req) - 1 - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        got += (size_t)n;
        req[got] = '\0';
        if (strstr(req, "\r\n\r\n") != NULL || strstr(req, "\n\n") != NULL)
            break;
        if (got == sizeof(req) - 1) {
            answer(fd, "431 Request Header Fields Too Large", "", "text/plain", "request head too large\n", 23, 0);
            return;
        }
    }
    head_only = strncmp(req, "HEAD ", 5) == 0;
    if (strncmp(req, "GET ", 4) != 0 && !head_only) {
        answer(fd, "405 Method Not Allowed", "Allow: GET, HEAD\r\n", "text/plain", "only GET and HEAD\n", 18, 0);
        return;
    }
    char *path = req + (head_only ? 5 : 4);
    path_len = strcspn(path, " ?\r\n");
    if (!(path_len == 8 && memcmp(path, "/metrics", 8) == 0)) {
        answer(fd, "404 Not Found", "", "text/plain", "not found: the metrics are at /metrics\n", 39, head_only);
        return;
    }
    ensure_redis(s);
    int redis_failed = 0;
    size_t len = 0;
    char *text = sync_metrics_render(&len, &s->route, &redis_failed);
    if (redis_failed)
        sync_route_close(&s->route);
    if (text == NULL) {
        answer(fd, "500 Internal Server Error", "", "text/plain", "out of memory\n", 14, head_only);
        return;
    }
    answer(fd, "200 OK", "", "text/plain; version=0.0.4; charset=utf-8", text, len, head_only);
    free(text);
}

static void *server_main(void *arg)
{
    sync_metrics_server_t *s = arg;
    struct timeval io = {SYNC_METRICS_IO_TIMEOUT_S, 0};

    pthread_setname_np(pthread_self(), "sync-metrics");
    while (!sync_stop_requested()) {
        struct pollfd pfd = {s->fd, POLLIN, 0};
        int fd;
        if (poll(&pfd, 1, SYNC_METRICS_POLL_MS) <= 0)
            continue;
        if ((fd = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC)) < 0)
            continue;
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &io, sizeof(io));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &io, sizeof(io));
        serve(s, fd);
        close(fd);
    }
    return NULL;
}

int sync_metrics_server_start(sync_metrics_server_t *s, const ig_config_t *cfg)
{
    int err;

    memset(s, 0, sizeof(*s));
    s->cfg = cfg;
    s->fd = -1;
    if (cfg->sync_metrics_listen[0] == '\0') {
        ig_info("msg=\"metrics off\" reason=\"sync_metrics_listen is empty\"");
        return 1;
    }
    if ((s->fd = open_listener(cfg->sync_metrics_host, cfg->sync_metrics_port)) < 0) {
        ig_error("msg=\"cannot serve metrics; running without them\" listen=%s reason=\"%s\"", cfg->sync_metrics_listen,
                 strerror(errno));
        return 1;
    }
    if ((err = sync_thread_start(&s->thread, server_main, s)) != 0) {
        ig_error("msg=\"cannot start the metrics server; running without it\" reason=\"%s\"", strerror(err));
        close(s->fd);
        s->fd = -1;
        return 1;
    }
    s->started = 1;
    ig_info("msg=\"serving metrics\" listen=%s path=/metrics", cfg->sync_metrics_listen);
    return 0;
}

void sync_metrics_server_stop(sync_metrics_server_t *s)
{
    if (s->started)
        pthread_join(s->thread, NULL);
    s->started = 0;
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    sync_route_close(&s->route);
}
