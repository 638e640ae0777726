/* The blocking HTTP/1.1 client of http.h. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include "ig_net.h"
#include "http.h"

#define CLI_HTTP_MAX_RESPONSE_BYTES (16u << 20)

int cli_http_target(cli_http_target_t *t, const char *url)
{
    char host[64];
    const char *p, *colon;
    unsigned long port;
    char *end;

    memset(t, 0, sizeof(*t));
    if (strncmp(url, "http://", 7) != 0)
        return -1;
    p = url + 7;
    if (*p == '[') {
        const char *close = strchr(p, ']');
        if (close == NULL || close[1] != ':' || (size_t)(close - p - 1) >= sizeof(host))
            return -1;
        memcpy(host, p + 1, close - p - 1);
        host[close - p - 1] = '\0';
        colon = close + 1;
    } else {
        if ((colon = strrchr(p, ':')) == NULL || (size_t)(colon - p) >= sizeof(host))
            return -1;
        memcpy(host, p, colon - p);
        host[colon - p] = '\0';
    }
    port = strtoul(colon + 1, &end, 10);
    if (port == 0 || port > 65535 || (*end != '\0' && strcmp(end, "/") != 0))
        return -1;
    if (ig_sockaddr_parse(&t->addr, &t->addr_len, host, (uint16_t)port) != 0)
        return -1;
    snprintf(t->host, sizeof(t->host), "%.*s", (int)(end - p), p);
    return 0;
}

static int wait_fd(int fd, short events, unsigned timeout_ms)
{
    struct pollfd pfd = {.fd = fd, .events = events};
    int n;
    while ((n = poll(&pfd, 1, (int)timeout_ms)) < 0 && errno == EINTR)
        ;
    return n == 1 ? 0 : -1;
}

/* Decodes a chunked body in place; returns its length or -1. */
static long dechunk(char *body, size_t len)
{
    size_t in = 0, out = 0;
    for (;;) {
        char *end;
        unsigned long n = strtoul(body + in, &end, 16);
        char *nl = strstr(end, "\r\n");
        if (nl == NULL)
            return -1;
        in = nl + 2 - body;
        if (n == 0)
            return (long)out;
        if (in + n > len)
            return -1;
        memmove(body + out, body + in, n);
        out += n;
        in += n + 2;
    }
}

/* One request: a POST of a JSON body with a bearer token, or a GET (body and token NULL). */
static int request(const cli_http_target_t *t, const char *path, const char *token, const char *body, unsigned timeout_ms,
                   int *status, char **resp, char *err, size_t err_len)
{
    size_t cap = 8192, len = 0, head_len;
    char *req = NULL, *buf = NULL, *head_end;
    int fd = -1, ret = -1, n;

    *resp = NULL;
    if ((fd = socket(t->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0) {
        snprintf(err, err_len, "socket: %s", strerror(errno));
        goto Exit;
    }
    if (connect(fd, (const struct sockaddr *)&t->addr, t->addr_len) != 0 &&
        (errno != EINPROGRESS || wait_fd(fd, POLLOUT, timeout_ms) != 0)) {
        snprintf(err, err_len, "connect to %s: %s", t->host, errno == EINPROGRESS ? "timed out" : strerror(errno));
        goto Exit;
    }
    int soerr = 0;
    socklen_t sl = sizeof(soerr);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0) {
        snprintf(err, err_len, "connect to %s: %s", t->host, strerror(soerr));
        goto Exit;
    }
    if (body == NULL)
        n = asprintf(&req, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, t->host);
    else
        n = asprintf(&req,
                     "POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                     path, t->host, token, strlen(body), body);
    if (n < 0) {
        req = NULL;
        snprintf(err, err_len, "out of memory");
        goto Exit;
    }
    for (size_t off = 0; off < (size_t)n;) {
        ssize_t w = send(fd, req + off, n - off, MSG_NOSIGNAL);
        if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (wait_fd(fd, POLLOUT, timeout_ms) != 0) {
                snprintf(err, err_len, "send to %s: timed out", t->host);
                goto Exit;
            }
            continue;
        }
        if (w <= 0) {
            snprintf(err, err_len, "send to %s: %s", t->host, strerror(errno));
            goto Exit;
        }
        off += (size_t)w;
    }
    if ((buf = malloc(cap)) == NULL)
        abort();
    for (;;) {
        if (len + 1 == cap) {
            if (cap >= CLI_HTTP_MAX_RESPONSE_BYTES) {
                snprintf(err, err_len, "response from %s too large", t->host);
                goto Exit;
            }
            if ((buf = realloc(buf, cap *= 2)) == NULL)
                abort();
        }
        ssize_t r = recv(fd, buf + len, cap - len - 1, 0);
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (wait_fd(fd, POLLIN, timeout_ms) != 0) {
                snprintf(err, err_len, "response from %s: timed out", t->host);
                goto Exit;
            }
            continue;
        }
        if (r < 0) {
            snprintf(err, err_len, "recv from %s: %s", t->host, strerror(errno));
            goto Exit;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    buf[len] = '\0';
    if (sscanf(buf, "HTTP/1.%*d %d", status) != 1 || (head_end = strstr(buf, "\r\n\r\n")) == NULL) {
        snprintf(err, err_len, "not an HTTP response from %s", t->host);
        goto Exit;
    }
    head_len = head_end + 4 - buf;
    *head_end = '\0';
    int chunked = strcasestr(buf, "\r\ntransfer-encoding: chunked") != NULL;
    len -= head_len;
    memmove(buf, buf + head_len, len + 1);
    if (chunked) {
        long n = dechunk(buf, len);
        if (n < 0) {
            snprintf(err, err_len, "bad chunked body from %s", t->host);
            goto Exit;
        }
        buf[n] = '\0';
    }
    ret = 0;
    *resp = buf;
    buf = NULL;

Exit:
    if (fd >= 0)
        close(fd);
    free(req);
    free(buf);
    return ret;
}

int cli_http_post_json(const cli_http_target_t *t, const char *path, const char *token, const char *body, unsigned timeout_ms,
                       int *status, char **resp, char *err, size_t err_len)
{
    return request(t, path, token, body, timeout_ms, status, resp, err, err_len);
}

int cli_http_get(const cli_http_target_t *t, const char *path, unsigned timeout_ms, int *status, char **resp, char *err,
                 size_t err_len)
{
    return request(t, path, NULL, NULL, timeout_ms, status, resp, err, err_len);
}
