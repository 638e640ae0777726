/*
 * invitegate rehydrate's people part (rehydrate_people.c): the waitlist,
 * referral codes and counts, and first shares, from PostgreSQL.
 */
#ifndef CLI_REHYDRATE_H
#define CLI_REHYDRATE_H

#include "cli.h"
#include "people.h"

/** What a run found and wrote (or, with --check, would write). */
typedef struct cli_rh_people_t {
    unsigned long long checked;  /**< people compared */
    unsigned long long created;  /**< records written where Redis had none */
    unsigned long long updated;  /**< records moved forward (a referrer's join placed, counts raised, a referral code) */
    unsigned long long kept;     /**< records whose newer state in Redis was kept */
    unsigned long long moved;    /**< people whose join sequence number another join had taken: placed at their class's end */
    unsigned long long shares;   /**< first shares written (--check: missing) */
    unsigned long long counters; /**< waitlist counters raised (--check: behind) */
} cli_rh_people_t;

/**
 * Rebuilds the people of PostgreSQL into redis (write 0: compares only), in
 * one snapshot of pg. The library must be loaded. Returns 0, or -1 after
 * printing why.
 */
int cli_rehydrate_people(cli_ctx_t *ctx, redisContext *redis, PGconn *pg, const sync_keys_t *keys, int write, cli_rh_people_t *c);

#endif
