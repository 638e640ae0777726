/*
 * Parsing of HTTP/1.1 answers on a keep-alive connection: status, body by
 * Content-Length, `Connection: close`, and the `error` reason of invitegate's
 * JSON error bodies. The gateway always sets Content-Length; chunked answers
 * are refused as a protocol error.
 */
#ifndef BENCH_HTTP_RESP_H
#define BENCH_HTTP_RESP_H

#include <stddef.h>
#include <sys/types.h>

typedef struct bench_http_resp_t {
    int status;       /**< e.g. 200 */
    const char *body; /**< inside the parsed buffer */
    size_t body_len;
    int close; /**< the server will close the connection */
} bench_http_resp_t;

/**
 * Parses the answer at the start of buf (len bytes). Returns its total length
 * when it is complete, 0 when more bytes are needed, -1 when it is malformed.
 */
ssize_t bench_http_parse(bench_http_resp_t *out, const char *buf, size_t len);

/**
 * Finds `"error":"REASON"` in a JSON body. Returns a pointer to REASON
 * inside body and its length in *len, or NULL (with *len = 0).
 */
const char *bench_http_reason(const char *body, size_t body_len, size_t *len);

#endif
