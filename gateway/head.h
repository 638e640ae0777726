/*
 * Checks of an HTTP/1.x request head that h2o 2.2.5 leaves to the gateway.
 *
 * While parsing, h2o takes Content-Length out of req->headers and frames the
 * body by the first one it meets, ignoring any other: a request with two
 * different lengths is served with one of them, and the bytes the other
 * length covers are read as a further request on the connection. RFC 9112
 * section 6.3 calls such a message invalid. h2o also takes Host out, and
 * serves an HTTP/1.1 request without one, or with two, as if it had named
 * the default host, where RFC 9112 section 3.2 requires a 400. The gateway therefore
 * reads the head itself, as h2o received it, before any handler looks at
 * the body.
 * Independent of h2o so that it can be unit-tested alone.
 */
#ifndef GW_HEAD_H
#define GW_HEAD_H

#include <stddef.h>

/** What gw_head_check returns when buf does not start with the head it was told of. */
extern const char gw_head_unreadable[];

/**
 * Checks the HTTP/1.x request head at the start of buf[0..len): a request
 * line starting with method, header lines and the empty line, as h2o's
 * parser accepted them (it skips one empty line before the request line).
 * Bytes after the head (the body, pipelined requests) are not looked at.
 *
 * Several Content-Length lines are accepted only when they all carry the
 * same decimal value (RFC 9110 section 8.6 lets a recipient treat those as
 * one); then h2o's framing by the first is the framing by every one.
 * Transfer-Encoding beside Content-Length is refused: RFC 9112 section 6.1
 * frames such a message by Transfer-Encoding, a proxy in front may have
 * framed it by Content-Length, and the difference is a smuggled request.
 * host_required (HTTP/1.1 and later) asks for at least one Host line; an
 * empty value counts (RFC 9112 section 3.2 allows it). More than one Host
 * line is refused in every version (RFC 9112 section 3.2).
 *
 * Returns NULL when the head is acceptable, gw_head_unreadable when buf holds
 * no such head, or else a static sentence saying why the request must be
 * refused with 400.
 */
const char *gw_head_check(const char *buf, size_t len, const char *method, size_t method_len, int host_required);

#endif
