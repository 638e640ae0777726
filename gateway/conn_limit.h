/*
 * Connection limits of one gateway process, across all its threads: at most
 * max_total open client connections, and at most max_per_address from one
 * client address. An IPv4 address counts as itself, an IPv6 address by its
 * /64 (the allocation of one subscriber, who can pick any address in it).
 *
 * The address is the TCP peer, never a header or a PROXY line a client could
 * choose. A connection is admitted by gw_conn_limit_acquire, which hands out
 * a ticket, and given back by gw_conn_limit_release with that ticket when it
 * closes.
 *
 * The per-address counts live in GW_CONN_SHARDS shards, each behind its own
 * mutex (a lock taken twice per connection, never per request). Shards are
 * chosen by a keyed hash, so a client cannot aim its addresses at one shard,
 * and each holds a fixed pool of entries allocated at creation: memory is
 * bounded by max_total whatever the clients do.
 */
#ifndef GW_CONN_LIMIT_H
#define GW_CONN_LIMIT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define GW_CONN_SHARDS 16

/** What gw_conn_limit_acquire decided; the refusals are the `reason` label in /metrics. */
typedef enum {
    GW_CONN_ADMITTED,     /**< counted; release the ticket when the connection closes */
    GW_CONN_OVER_TOTAL,   /**< max_total connections are open */
    GW_CONN_OVER_ADDRESS, /**< the client's address holds max_per_address connections */
    GW_CONN_TABLE_FULL,   /**< no free entry in the address's shard (sized so that it does not happen) */
    GW_CONN_VERDICTS
} gw_conn_verdict_t;

/** The ticket of a connection counted in the total only (no per-address limit). */
#define GW_CONN_NO_TICKET UINT32_MAX

typedef struct gw_conn_limit_t gw_conn_limit_t;

/**
 * Creates the limits (max_total >= 1; max_per_address 0 = no per-address
 * limit). Returns NULL when out of memory. Needs sodium_init().
 */
gw_conn_limit_t *gw_conn_limit_create(unsigned max_total, unsigned max_per_address);

/** Frees limit (no thread may use it any more). */
void gw_conn_limit_destroy(gw_conn_limit_t *limit);

/**
 * Counts a new connection from peer (AF_INET or AF_INET6; any other family
 * shares one count). On GW_CONN_ADMITTED *ticket is set; on a refusal nothing
 * is counted. Thread-safe.
 */
__attribute__((warn_unused_result)) gw_conn_verdict_t gw_conn_limit_acquire(gw_conn_limit_t *limit, uint32_t *ticket,
                                                                            const struct sockaddr *peer);

/** Uncounts a closed connection by the ticket gw_conn_limit_acquire gave it. Thread-safe. */
void gw_conn_limit_release(gw_conn_limit_t *limit, uint32_t ticket);

/** Connections open now (admitted and not released). */
size_t gw_conn_limit_open(gw_conn_limit_t *limit);

/** The verdict's name as a label value ("max_connections", "per_address", ...). */
const char *gw_conn_verdict_name(gw_conn_verdict_t verdict);

#endif
