/* HTTP/1.1 answer parsing (http_resp.h). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "http_resp.h"

/* Longest header block accepted. */
#define HEADERS_MAX_BYTES 8192

static int header_is(const char *line, size_t len, const char *name, const char **value, size_t *value_len)
{
    size_t n = strlen(name);
    if (len <= n || line[n] != ':' || strncasecmp(line, name, n) != 0)
        return 0;
    const char *v = line + n + 1, *end = line + len;
    while (v != end && (*v == ' ' || *v == '\t'))
        ++v;
    while (end != v && (end[-1] == ' ' || end[-1] == '\t'))
        --end;
    *value = v;
    *value_len = (size_t)(end - v);
    return 1;
}

ssize_t bench_http_parse(bench_http_resp_t *out, const char *buf, size_t len)
{
    const char *end = memmem(buf, len, "\r\n\r\n", 4), *line, *value;
    size_t value_len, content_length = 0;
    int have_length = 0;

    if (end == NULL)
        return len > HEADERS_MAX_BYTES ? -1 : 0;
    if ((size_t)(end - buf) < 12 || memcmp(buf, "HTTP/1.", 7) != 0 || buf[8] != ' ')
        return -1;
    out->status = atoi(buf + 9);
    if (out->status < 100 || out->status > 599)
        return -1;
    out->close = buf[7] == '0';
    line = memchr(buf, '\n', (size_t)(end - buf)) + 1;
    while (line < end) {
        const char *eol = memmem(line, (size_t)(end + 2 - line), "\r\n", 2);
        size_t llen = (size_t)(eol - line);
        if (header_is(line, llen, "content-length", &value, &value_len)) {
            char num[24];
            if (value_len == 0 || value_len >= sizeof(num))
                return -1;
            memcpy(num, value, value_len);
            num[value_len] = '\0';
            content_length = strtoul(num, NULL, 10);
            have_length = 1;
        } else if (header_is(line, llen, "connection", &value, &value_len)) {
            out->close = value_len == 5 && strncasecmp(value, "close", 5) == 0;
        } else if (header_is(line, llen, "transfer-encoding", &value, &value_len)) {
            return -1;
        }
        line = eol + 2;
    }
    if (!have_length && !(out->status == 204 || out->status == 304 || out->status < 200))
        return -1;
    size_t head = (size_t)(end + 4 - buf);
    if (len < head + content_length)
        return 0;
    out->body = end + 4;
    out->body_len = content_length;
    return (ssize_t)(head + content_length);
}

const char *bench_http_reason(const char *body, size_t body_len, size_t *len)
{
    static const char key[] = "\"error\":\"";
    const char *p = memmem(body, body_len, key, sizeof(key) - 1), *q;
    *len = 0;
    if (p == NULL)
        return NULL;
    p += sizeof(key) - 1;
    if ((q = memchr(p, '"', (size_t)(body + body_len - p))) == NULL)
        return NULL;
    *len = (size_t)(q - p);
    return p;
}
