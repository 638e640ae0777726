/*
 * The rate limit of the public endpoints: GCRA (the generic cell rate
 * algorithm) per client address and per e-mail, in a table of this gateway
 * process shared by its threads and checked before any Redis call.
 *
 * GCRA keeps one time per key, the theoretical arrival time (TAT): a
 * request at `now` passes when TAT - now <= (burst - 1) * T, where T =
 * 1 s / rate, and then moves TAT to max(TAT, now) + T. So a client that was
 * quiet may send `burst` requests at once, and `rate` per second for as
 * long as it likes after that. A key whose TAT is in the past is in the
 * same state as a key never seen: its entry is free.
 *
 * The table has a fixed number of entries (memory does not grow with the
 * number of clients): GW_RATELIMIT_WAYS entries per set, the set chosen by a
 * keyed hash of the key (SipHash, with a key drawn at start, so that a
 * client cannot aim its addresses at another client's set). A new key takes
 * a free entry of its set, else the one with the lowest TAT: the key that
 * would have been free soonest, never a client that is being refused (its
 * TAT is the highest). Each set is guarded by one of GW_RATELIMIT_LOCKS
 * mutexes, held for a scan of one set: the only lock on the request path.
 */
#ifndef GW_RATELIMIT_H
#define GW_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>
#include "ig_net.h"

/** Entries per set of the table. */
#define GW_RATELIMIT_WAYS 8
/** Mutexes guarding the sets (set i uses lock i % GW_RATELIMIT_LOCKS). */
#define GW_RATELIMIT_LOCKS 64
/**
 * Entries of the gateway's table (32 bytes each, 8 MiB). An entry is in use
 * only while its TAT is ahead, at most burst / rate seconds (2 s by default)
 * after the key's last request: this holds 131,072 new clients a second at
 * the default limit before a set has to give up a live entry.
 */
#define GW_RATELIMIT_ENTRIES (1u << 18)
/** Bytes of a key: a kind, then 16 bytes (an address, or an e-mail hash). */
#define GW_RATELIMIT_KEY_BYTES 17

/** The policies a route is limited by (bit flags). */
enum {
    GW_LIMIT_ADDR = 1 << 0,  /**< per client address (an IPv6 client per /64) */
    GW_LIMIT_EMAIL = 1 << 1, /**< per e-mail named by the request */
};

typedef struct gw_ratelimit_t gw_ratelimit_t;

/** What a key is limited under: one per policy. */
typedef struct gw_ratelimit_key_t {
    unsigned char bytes[GW_RATELIMIT_KEY_BYTES];
} gw_ratelimit_key_t;

/** The verdict on one request for one key. */
typedef struct gw_ratelimit_result_t {
    int allowed;        /**< the request passes (and took one unit) */
    unsigned remaining; /**< units the key may still spend right now */
    uint64_t wait_ns;   /**< until one more unit is available: a refused request may pass after it */
} gw_ratelimit_result_t;

/**
 * One GCRA step on *tat for a request at now_ns, interval_ns = 1 s / rate
 * apart, with the given burst (>= 1). *tat = 0 is a key never seen. Pure:
 * the table's arithmetic, exposed for unit tests.
 */
gw_ratelimit_result_t gw_ratelimit_step(uint64_t *tat, uint64_t now_ns, uint64_t interval_ns, unsigned burst);

/**
 * Creates a table of about `entries` entries (rounded up to a power of two
 * sets of GW_RATELIMIT_WAYS) for rate requests per second (>= 1) with the
 * given burst (>= 1). hash_key (16 bytes) keys the set hash; NULL draws one
 * at random (tests pass one to place keys). Free with gw_ratelimit_free.
 */
gw_ratelimit_t *gw_ratelimit_new(unsigned rate, unsigned burst, size_t entries, const unsigned char *hash_key);

/** Frees a table of gw_ratelimit_new (NULL is a no-op). */
void gw_ratelimit_free(gw_ratelimit_t *rl);

/** Takes one unit of key at now_ns (a monotonic clock). Thread-safe. */
gw_ratelimit_result_t gw_ratelimit_take(gw_ratelimit_t *rl, const gw_ratelimit_key_t *key, uint64_t now_ns);

/** The key of a client address: an IPv4 address whole, an IPv6 address by its /64. */
void gw_ratelimit_addr_key(gw_ratelimit_key_t *out, const ig_addr_t *addr);

/** The key of an e-mail by its 8-byte keyed hash (ig_email_hash). */
void gw_ratelimit_email_key(gw_ratelimit_key_t *out, const unsigned char hash8[8]);

/**
 * The RateLimit-Policy field value for the policies (GW_LIMIT_* bits) of a
 * route, for example `"addr";q=40;w=2, "email";q=40;w=2`: q is the burst, w
 * the seconds a full burst takes to come back (burst / rate, rounded up).
 * Owned by rl.
 */
const char *gw_ratelimit_policy(const gw_ratelimit_t *rl, unsigned policies, size_t *len);

/**
 * Writes one item of the RateLimit field for a verdict, `"NAME";r=R;t=T`
 * (T: wait_ns in whole seconds, rounded up), after ", " when the output
 * already holds one. Returns the length now in out, or cap when out is too
 * small (nothing written then).
 */
size_t gw_ratelimit_format_item(char *out, size_t len, size_t cap, const char *name, const gw_ratelimit_result_t *r);

/** Seconds to wait, rounded up, at least 1: Retry-After for a refused request. */
unsigned gw_ratelimit_retry_after(const gw_ratelimit_result_t *r);

#endif
