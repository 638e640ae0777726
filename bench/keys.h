/*
 * Redis keys of one code, built as gateway/routes_invites.c builds them for
 * ig_redeem and ig_status (layout in common/ig_keys.h). The gateway keeps
 * its builder private; this is the same few lines for the harness, which
 * calls the Lua functions directly (Redis ceiling, seeding, checks).
 */
#ifndef BENCH_KEYS_H
#define BENCH_KEYS_H

#include <stdio.h>
#include <string.h>
#include "ig_keys.h"

#define BENCH_FIELD_BYTES (IG_CODE_BODY_LEN - 3 + 1)

typedef struct bench_code_keys_t {
    unsigned bucket;               /**< ig_code_bucket(body) */
    char hash[IG_KEY_MAX_BYTES];   /**< ig:{B}:c:S, the small hash holding the record */
    char field[BENCH_FIELD_BYTES]; /**< body[3..16], the record's field */
    char set[IG_KEY_MAX_BYTES];    /**< ig:{B}:r:CODE, redeemers of a multi-use code */
    char gate[IG_KEY_MAX_BYTES];   /**< ig:{B}:gate */
    char stream[IG_KEY_MAX_BYTES]; /**< ig:{B}:events */
    char rl[IG_KEY_MAX_BYTES];     /**< ig:{B}:rl:ADDR, the GCRA key of client address addr */
} bench_code_keys_t;

/** Fills k for the code body (16 characters) and the client address addr. */
static inline void bench_code_keys(bench_code_keys_t *k, const char *body, const char *addr)
{
    k->bucket = ig_code_bucket(body);
    snprintf(k->hash, sizeof(k->hash), "ig:{%u}:c:%u", k->bucket, ig_code_subhash(body));
    memcpy(k->field, body + 3, BENCH_FIELD_BYTES - 1);
    k->field[BENCH_FIELD_BYTES - 1] = '\0';
    snprintf(k->set, sizeof(k->set), "ig:{%u}:r:%.*s", k->bucket, IG_CODE_BODY_LEN, body);
    snprintf(k->gate, sizeof(k->gate), "ig:{%u}:gate", k->bucket);
    snprintf(k->stream, sizeof(k->stream), "ig:{%u}:events", k->bucket);
    snprintf(k->rl, sizeof(k->rl), "ig:{%u}:rl:%s", k->bucket, addr);
}

#endif
