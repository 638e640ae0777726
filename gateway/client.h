/*
 * The client address of a request: whom the rate limit counts, what the
 * fraud signals record (the `ip` of redeemed and joined events) and what the
 * logs name. Pure (no h2o), so that unit tests drive it directly; request.c
 * feeds it the peer and the X-Forwarded-For fields of a request.
 *
 * The peer is the TCP peer of the connection, or the source address of the
 * PROXY protocol line a trusted peer opened the connection with (server.c
 * lets h2o read that line only from trusted peers). When the peer is not in
 * `trusted_proxies`, it is the client, whatever the request's headers say.
 * When it is, the hops the proxies recorded in X-Forwarded-For are walked
 * from the right (the nearest) to the left, over all the fields combined in
 * order, skipping trusted addresses: the first untrusted one is the client.
 * Entries on its left were written by the client itself and are never
 * believed. Two ends:
 *
 * - every entry is trusted (or there is none): the left-most trusted hop is
 *   the client (a proxy's own request, a health check);
 * - an entry is not an address (garbage, "unknown", an obfuscated
 *   identifier of RFC 7239): the walk stops and the last trusted hop, the
 *   one on its right that handed it over, is the client. A trusted proxy
 *   that cannot say who its client is gets the limit of one client for all
 *   of them: the safe side, never a free pass.
 *
 * Entries are plain IPv4 or IPv6 literals, optionally with a port
 * ("192.0.2.1:4711", "[2001:db8::1]:4711", "[2001:db8::1]"); blanks around
 * them and empty list elements are ignored (RFC 9110, section 5.6.1).
 * `Forwarded` (RFC 7239) is not read.
 */
#ifndef GW_CLIENT_H
#define GW_CLIENT_H

#include <stddef.h>
#include "ig_net.h"

/**
 * Derives the client address into out from peer, the n X-Forwarded-For
 * field values (values[i] of lens[i] bytes, in the order received) and the
 * trusted blocks (ntrusted of them; none = every peer is its own client).
 */
void gw_client_derive(ig_addr_t *out, const ig_addr_t *peer, const char *const *values, const size_t *lens, size_t n,
                      const ig_cidr_t *trusted, size_t ntrusted);

/**
 * Parses one X-Forwarded-For entry (no surrounding blanks): an address,
 * optionally with a port as above. Returns 0, or -1 when it is not one.
 */
__attribute__((warn_unused_result)) int gw_client_parse_hop(ig_addr_t *out, const char *s, size_t len);

#endif
