/*
 * The Redis setting the gateway checks at start: maxmemory-policy. Under any
 * policy but noeviction, Redis at its memory limit deletes keys to make room,
 * and an evicted code record is a lost code (its uses, its binding, its
 * revocation): the gateway warns in its log.
 */
#ifndef GW_REDIS_POLICY_H
#define GW_REDIS_POLICY_H

#include "redis_conn.h"

/** Asks r for CONFIG GET maxmemory-policy and logs a warning unless it is noeviction (r must be ready). */
void gw_redis_check_policy(gw_redis_t *r);

#endif
