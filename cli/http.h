/*
 * A small blocking HTTP/1.1 client for the gateway's admin API: one request
 * per connection (Connection: close) to an IP literal, so that `invites
 * issue` goes through the very code that serves POST /api/invites/generate
 * (one owner of the contract) without a new dependency.
 */
#ifndef CLI_HTTP_H
#define CLI_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct cli_http_target_t {
    struct sockaddr_storage addr;
    socklen_t addr_len;
    char host[80]; /**< for the Host header */
} cli_http_target_t;

/**
 * Parses "http://IP:PORT" (IPv6 in brackets; no path). Returns 0, or -1 when
 * the URL is not of that form.
 */
int cli_http_target(cli_http_target_t *t, const char *url);

/**
 * POSTs the JSON body to path with `Authorization: Bearer token`, waiting at
 * most timeout_ms for each step. On 0 *status is the HTTP status and *resp a
 * NUL-terminated body the caller frees; -1 on a transport failure (reason in
 * err).
 */
int cli_http_post_json(const cli_http_target_t *t, const char *path, const char *token, const char *body, unsigned timeout_ms,
                       int *status, char **resp, char *err, size_t err_len);

/** GETs path (as cli_http_post_json, without a body or token): the gateway's /ready and /metrics. */
int cli_http_get(const cli_http_target_t *t, const char *path, unsigned timeout_ms, int *status, char **resp, char *err,
                 size_t err_len);

#endif
