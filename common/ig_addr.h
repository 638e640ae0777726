/* Socket addresses from the IP literals of the configuration (listen, sync_metrics_listen). */
#ifndef IG_ADDR_H
#define IG_ADDR_H

#include <stdint.h>
#include <sys/socket.h>

/**
 * Fills *ss and *len with host (an IPv4 or IPv6 literal, never a name: no
 * lookup may block) and port. Returns 0, or -1 when host is not a literal.
 */
int ig_addr_parse(struct sockaddr_storage *ss, socklen_t *len, const char *host, uint16_t port);

#endif
