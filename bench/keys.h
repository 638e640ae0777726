/*
 * Every Redis key of one code that the harness needs to call the Lua
 * functions directly (Redis ceiling, seeding, checks): the record's keys
 * from ig_code_keys (common/ig_keys.h, shared with the gateway) and the
 * per-bucket keys beside them.
 */
#ifndef BENCH_KEYS_H
#define BENCH_KEYS_H

#include <stdio.h>
#include <string.h>
#include "ig_keys.h"

#define BENCH_FIELD_BYTES (IG_CODE_BODY_LEN - 3 + 1)

typedef struct bench_code_keys_t {
    unsigned bucket;               /**< ig_code_bucket(body, buckets) */
    char hash[IG_KEY_MAX_BYTES];   /**< ig_key_code_hash, the small hash holding the record */
    char field[BENCH_FIELD_BYTES]; /**< body[3..16], the record's field */
    char set[IG_KEY_MAX_BYTES];    /**< ig_key_redeemers, redeemers of a multi-use code */
    char gate[IG_KEY_MAX_BYTES];   /**< ig_key_gate */
    char stream[IG_KEY_MAX_BYTES]; /**< ig_key_events */
} bench_code_keys_t;

/** Fills k for the code body (16 characters) among buckets. */
static inline void bench_code_keys(bench_code_keys_t *k, const char *body, unsigned buckets)
{
    ig_code_keys_t ck;
    ig_code_keys(&ck, body, buckets);
    k->bucket = ck.bucket;
    memcpy(k->hash, ck.hash, sizeof(k->hash));
    memcpy(k->field, ck.field, sizeof(k->field));
    ig_key_redeemers(k->set, k->bucket, body);
    ig_key_gate(k->gate, k->bucket);
    ig_key_events(k->stream, k->bucket);
}

#endif
