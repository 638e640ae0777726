/*
 * Redis Cluster routing, the pure part: which slot a key belongs to, which
 * master serves a slot (from a CLUSTER SLOTS reply), and what a MOVED or ASK
 * redirection says. No I/O: the gateway's connection layer
 * (gateway/redis_cluster.c) and, later, the sync daemon drive it.
 *
 * Slots and hash tags follow the Redis Cluster specification: the slot of a
 * key is CRC16 (XMODEM) of the key modulo 16384, where a key holding a
 * non-empty "{...}" hashes only what is between the first '{' and the '}'
 * after it.
 */
#ifndef IG_CLUSTER_H
#define IG_CLUSTER_H

#include <stddef.h>
#include <stdint.h>
#include <hiredis/hiredis.h>

/** Number of hash slots of a Redis Cluster. */
#define IG_CLUSTER_SLOTS 16384
/** Room for a node's IP literal (as redis_host). */
#define IG_CLUSTER_HOST_BYTES 64
/** Most seed nodes in a redis+cluster:// URL. */
#define IG_CLUSTER_MAX_SEEDS 16

/** A node's address: IP literal and port. */
typedef struct ig_cluster_addr_t {
    char host[IG_CLUSTER_HOST_BYTES]; /**< IPv4 or IPv6 literal, without brackets */
    uint16_t port;                    /**< TCP port */
} ig_cluster_addr_t;

/** Slots first..last (inclusive) are served by master. */
typedef struct ig_cluster_range_t {
    uint16_t first;           /**< first slot of the range */
    uint16_t last;            /**< last slot of the range, inclusive */
    ig_cluster_addr_t master; /**< the master serving the range */
} ig_cluster_range_t;

/** The slot map of a cluster as one CLUSTER SLOTS reply describes it. */
typedef struct ig_cluster_map_t {
    ig_cluster_range_t *ranges; /**< owned; NULL when empty */
    size_t num_ranges;          /**< entries of ranges */
} ig_cluster_map_t;

/** What an error reply asks for. */
typedef enum ig_cluster_redirect_t {
    IG_CLUSTER_NOT_REDIRECT = 0, /**< another error: the call ran, or failed for another reason */
    IG_CLUSTER_MOVED,            /**< the slot lives elsewhere now: update the map, send there */
    IG_CLUSTER_ASK,              /**< the slot is migrating: send ASKING + the call there once, keep the map */
} ig_cluster_redirect_t;

/** The hash slot (0..16383) of a key of len bytes, hash tags honoured. */
unsigned ig_cluster_keyslot(const char *key, size_t len);

/**
 * The slot a command is routed by: that of its first key, which for FCALL,
 * FCALL_RO, EVAL and EVALSHA is argv[3] when numkeys (argv[2]) is not 0, and
 * for other commands argv[1]. Returns -1 for a command without a key
 * (numkeys 0; CONFIG, PING, INFO, FUNCTION, CLUSTER, COMMAND, ...): any
 * master may serve it. Only the first key counts: a call whose keys share
 * one hash tag lives in one slot, and Redis refuses the others (CROSSSLOT).
 */
int ig_cluster_command_slot(int argc, const char *const *argv, const size_t *argvlen);

/**
 * Parses "IP:PORT" of len bytes (the last ':' separates the port, so an IPv6
 * literal needs no brackets; "[::1]:7000" is accepted too). An empty IP is
 * allowed: Redis sends one when it does not know its own address, meaning
 * "the node you asked". Returns 0, or -1 on a malformed address.
 */
int ig_cluster_addr_parse(ig_cluster_addr_t *out, const char *text, size_t len);

/**
 * Parses the text of an error reply: "MOVED 3999 127.0.0.1:6381" or "ASK
 * 3999 127.0.0.1:6381". Returns the kind of redirection with *slot and *addr
 * filled, or IG_CLUSTER_NOT_REDIRECT (outputs untouched) for every other
 * error, a malformed redirection included. addr->host may be empty (see
 * ig_cluster_addr_parse).
 */
ig_cluster_redirect_t ig_cluster_parse_redirect(unsigned *slot, ig_cluster_addr_t *addr, const char *err, size_t len);

/**
 * Parses a CLUSTER SLOTS reply into map (which must be empty: zeroed or
 * freed). A master announced with an empty IP gets asked_host, the node the
 * reply came from. Returns 0, or -1 when the reply is not a well-formed
 * CLUSTER SLOTS reply (map left empty). On success the caller owns
 * map->ranges and frees it with ig_cluster_map_free.
 */
int ig_cluster_parse_slots(ig_cluster_map_t *map, const redisReply *reply, const char *asked_host);

/** Frees the ranges of map and leaves it empty. */
void ig_cluster_map_free(ig_cluster_map_t *map);

/** 1 when every slot 0..16383 belongs to some range of map. */
int ig_cluster_map_covers_all(const ig_cluster_map_t *map);

#endif
