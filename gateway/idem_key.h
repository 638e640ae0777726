/*
 * The pure parts of the Idempotency-Key header (the request flow is idem.h):
 * its syntax, the fingerprint of a request, the Redis key of a record, and
 * the set of keys whose first request this gateway is still processing.
 * Independent of h2o so that unit tests drive them alone.
 */
#ifndef GW_IDEM_KEY_H
#define GW_IDEM_KEY_H

#include <stddef.h>
#include "ig_keys.h"

/** Longest Idempotency-Key value taken (the IETF draft's and Stripe's limit). */
#define GW_IDEM_KEY_MAX_BYTES 255
/** Digest of a key or a request: 16 bytes of BLAKE2b. */
#define GW_IDEM_DIGEST_BYTES 16
/** A digest in hex, with its NUL. */
#define GW_IDEM_HEX_BYTES (2 * GW_IDEM_DIGEST_BYTES + 1)

/**
 * Checks an Idempotency-Key value: 1 to GW_IDEM_KEY_MAX_BYTES printable ASCII
 * characters (0x20 to 0x7e; the value is opaque, a quoted one included).
 * Returns 0, or -1.
 */
int gw_idem_key_check(const char *key, size_t len);

/**
 * The fingerprint of a request, what must be the same for a retry to be one:
 * method, path (as routed: with its parameter) and body. Each part is hashed
 * with its length, so no two different requests share the input.
 */
void gw_idem_fingerprint(char out[GW_IDEM_HEX_BYTES], const char *method, size_t method_len, const char *path, size_t path_len,
                         const char *body, size_t body_len);

/**
 * The Redis key of the record of key in scope (ig_key_idem, ig_keys.h):
 * scope_kind 't' with a token name, 'a' with a client address. The key is
 * hashed, so that no client bytes go into key names. Returns 0, or -1 when
 * the name would not fit.
 */
int gw_idem_record_key(char out[IG_KEY_MAX_BYTES], char scope_kind, const char *scope, const char *key, size_t key_len);

/**
 * A request in the in-flight set: owned by the caller (embedded in its
 * request state), linked by the set while added.
 */
typedef struct gw_idem_entry_t {
    struct gw_idem_entry_t *next;
    unsigned char digest[GW_IDEM_DIGEST_BYTES]; /**< of the record key */
} gw_idem_entry_t;

/**
 * Adds e for record_key to the set every thread of the gateway shares.
 * Returns 0, or -1 when a request with that record key is in the set
 * already (e is not added).
 */
int gw_idem_inflight_add(gw_idem_entry_t *e, const char *record_key);

/** Removes e, which gw_idem_inflight_add added. */
void gw_idem_inflight_remove(gw_idem_entry_t *e);

#endif
