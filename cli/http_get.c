/* The operator's blocking HTTP GET (http_get.h). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include "ig_net.h"
#include "http_get.h"

/* Splits "http://HOST:PORT[/]" into a socket address and the Host field. Returns 0 or -1. */
static int parse_base(struct sockaddr_storage *ss, socklen_t *sslen, char *host_field, size_t host_len, const char *base)
{
    char host[IG_ADDR_TEXT_BYTES];
    const char *p = base, *end, *colon;
    char *stop;
    unsigned long port;
    size_t n;

    if (strncmp(p, "http://", 7) != 0)
        return -1;
    p += 7;
    if (*p == '[') {
        if ((end = strchr(p, ']')) == NULL || end[1] != ':')
            return -1;
        n = (size_t)(end - p - 1);
        if (n == 0 || n >= sizeof(host))
            return -1;
        memcpy(host, p + 1, n);
        colon = end + 1;
    } else {
        if ((colon = strchr(p, ':')) == NULL)
            return -1;
        n = (size_t)(colon - p);
        if (n == 0 || n >= sizeof(host))
            return -1;
        memcpy(host, p, n);
    }
    host[n] = '\0';
    errno = 0;
    port = strtoul(colon + 1, &stop, 10);
    if (errno != 0 || stop == colon + 1 || port == 0 || port > 65535 || (*stop != '\0' && strcmp(stop, "/") != 0))
        return -1;
    if (ig_sockaddr_parse(ss, sslen, host, (uint16_t)port) != 0)
        return -1;
    snprintf(host_field, host_len, "%.*s", (int)(stop - p), p);
    return 0;
}

static int connect_within(int fd, const struct sockaddr *sa, socklen_t len, unsigned timeout_ms)
{
    struct pollfd pfd = {.fd = fd, .events = POLLOUT};
    int flags = fcntl(fd, F_GETFL), soerr = 0;
    socklen_t errlen = sizeof(soerr);

    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0)
        return -1;
    if (connect(fd, sa, len) != 0) {
        if (errno != EINPROGRESS)
            return -1;
        if (poll(&pfd, 1, (int)timeout_ms) != 1) {
            errno = ETIMEDOUT;
            return -1;
        }
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &errlen) != 0 || soerr != 0) {
            errno = soerr != 0 ? soerr : errno;
            return -1;
        }
    }
    return fcntl(fd, F_SETFL, flags);
}

int cli_http_get(cli_http_reply_t *out, const char *base, const char *path, unsigned timeout_ms, char err[CLI_HTTP_ERR_BYTES])
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    char host[128], req[512];
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    char *buf = NULL, *body;
    size_t len = 0;
    int fd = -1, ret = -1, n;

    memset(out, 0, sizeof(*out));
    if (parse_base(&ss, &sslen, host, sizeof(host), base) != 0) {
        snprintf(err, CLI_HTTP_ERR_BYTES, "not an http://IP:PORT address");
        return -1;
    }
    if ((buf = malloc(CLI_HTTP_MAX_BYTES + 1)) == NULL)
        abort();
    if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
        connect_within(fd, (struct sockaddr *)&ss, sslen, timeout_ms) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0) {
        snprintf(err, CLI_HTTP_ERR_BYTES, "connect: %s", strerror(errno));
        goto Exit;
    }
    n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: invitegate\r\n\r\n", path, host);
    if (n < 0 || (size_t)n >= sizeof(req) || send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
        snprintf(err, CLI_HTTP_ERR_BYTES, "send: %s", strerror(errno));
        goto Exit;
    }
    while (len < CLI_HTTP_MAX_BYTES) {
        ssize_t r = recv(fd, buf + len, CLI_HTTP_MAX_BYTES - len, 0);
        if (r == 0)
            break;
        if (r < 0) {
            if (errno == EINTR)
                continue;
            snprintf(err, CLI_HTTP_ERR_BYTES, "read: %s", errno == EAGAIN ? "timed out" : strerror(errno));
            goto Exit;
        }
        len += (size_t)r;
    }
    buf[len] = '\0';
    if (sscanf(buf, "HTTP/1.%*1[01] %3d", &out->status) != 1 || (body = strstr(buf, "\r\n\r\n")) == NULL) {
        snprintf(err, CLI_HTTP_ERR_BYTES, "not an HTTP answer");
        goto Exit;
    }
    body += 4;
    out->len = len - (size_t)(body - buf);
    memmove(buf, body, out->len + 1);
    out->body = buf;
    buf = NULL;
    ret = 0;
Exit:
    if (fd >= 0)
        close(fd);
    free(buf);
    return ret;
}

void cli_http_reply_free(cli_http_reply_t *r)
{
    free(r->body);
    r->body = NULL;
}
