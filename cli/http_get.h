/*
 * A small blocking HTTP/1.0 GET for the operator's checks of a gateway
 * (`/ready`, `/metrics`): plain http:// to an IP literal only (no name is
 * resolved, as everywhere in invitegate), one request per connection.
 */
#ifndef CLI_HTTP_GET_H
#define CLI_HTTP_GET_H

#include <stddef.h>

/** Largest answer read (the gateway's /metrics is a few tens of kilobytes). */
#define CLI_HTTP_MAX_BYTES (1u << 20)
#define CLI_HTTP_ERR_BYTES 256

/** An answer: its status and body (NUL-terminated). */
typedef struct cli_http_reply_t {
    int status; /**< HTTP status */
    char *body; /**< malloc'ed, owned by the reply; freed by cli_http_reply_free */
    size_t len; /**< bytes of body */
} cli_http_reply_t;

/**
 * GETs path from base ("http://IP:PORT", IPv6 in brackets, a trailing slash
 * allowed) within timeout_ms for the connection and for each read. Returns
 * 0 with *out filled (whatever the status), or -1 with a reason in err.
 */
__attribute__((warn_unused_result)) int cli_http_get(cli_http_reply_t *out, const char *base, const char *path, unsigned timeout_ms,
                                                     char err[CLI_HTTP_ERR_BYTES]);

/** Frees what cli_http_get put in r. */
void cli_http_reply_free(cli_http_reply_t *r);

#endif
