/*
 * IP addresses and CIDR blocks: parsing, matching and the text form, for the
 * gateway's client addresses and the `trusted_proxies` configuration. Pure
 * (no allocation, no I/O).
 *
 * Every address is held as 16 bytes of IPv6; an IPv4 address is held as its
 * IPv4-mapped form ::ffff:a.b.c.d (RFC 4291, section 2.5.5.2), so that a
 * client reaching a dual-stack listener over IPv4 is the same client as over
 * a plain IPv4 one, and an IPv4 block a.b.c.d/n is the block ::ffff:a.b.c.d/(96+n).
 */
#ifndef IG_NET_H
#define IG_NET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/** Room for the text of any address with its NUL (INET6_ADDRSTRLEN). */
#define IG_ADDR_TEXT_BYTES 46

/** An IPv6 address, or an IPv4 one in its mapped form. */
typedef struct ig_addr_t {
    unsigned char b[16]; /**< network byte order */
} ig_addr_t;

/** A block of addresses: the first prefix bits of addr (the rest are zero). */
typedef struct ig_cidr_t {
    ig_addr_t addr;  /**< the block's first address */
    unsigned prefix; /**< 0..128 bits of the 16 bytes (an IPv4 /n has 96 + n) */
} ig_cidr_t;

/** Whether a is an IPv4 address (mapped). */
int ig_addr_is_v4(const ig_addr_t *a);

/**
 * The client an address stands for, as the gateway's limits count clients:
 * an IPv4 address is itself; an IPv6 address is its /64 (the rest zeroed),
 * since a host gets a /64 and can use any address in it.
 */
void ig_addr_client(ig_addr_t *out, const ig_addr_t *a);

/**
 * Parses a plain IPv4 (dotted decimal) or IPv6 literal of len bytes (not
 * NUL-terminated; no brackets, port or zone). An IPv4-mapped IPv6 literal is
 * the IPv4 address. Returns 0, or -1 when s is not one.
 */
__attribute__((warn_unused_result)) int ig_addr_parse(ig_addr_t *out, const char *s, size_t len);

/** Takes the address of an AF_INET or AF_INET6 socket address. Returns 0, or -1 for another family. */
__attribute__((warn_unused_result)) int ig_addr_from_sockaddr(ig_addr_t *out, const struct sockaddr *sa);

/** Writes the text form of a: dotted decimal for IPv4, RFC 5952 for IPv6. */
void ig_addr_format(char out[IG_ADDR_TEXT_BYTES], const ig_addr_t *a);

/**
 * Parses "ADDRESS/PREFIX" (IPv4 prefixes 0..32, IPv6 0..128) or a lone
 * address (a block of one) of len bytes. The address must be the block's
 * first: "10.0.0.1/8" is refused (did it mean 10.0.0.0/8 or 10.0.0.1/32?).
 * Returns 0, or -1 with a reason in *why (a static string).
 */
__attribute__((warn_unused_result)) int ig_cidr_parse(ig_cidr_t *out, const char **why, const char *s, size_t len);

/** Whether block c holds address a. */
int ig_cidr_contains(const ig_cidr_t *c, const ig_addr_t *a);

/** Whether one of the n blocks of list holds a. */
int ig_cidr_list_contains(const ig_cidr_t *list, size_t n, const ig_addr_t *a);

/**
 * Fills *ss and *len with host (a NUL-terminated IPv4 or IPv6 literal, never
 * a name: no lookup may block) and port, for bind(): the listen addresses
 * of the configuration. Returns 0, or -1 when host is not a literal.
 */
int ig_sockaddr_parse(struct sockaddr_storage *ss, socklen_t *len, const char *host, uint16_t port);

#endif
