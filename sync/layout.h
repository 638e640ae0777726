/*
 * The install's number of buckets (the configuration's buckets), recorded
 * in each store by the first process that finds no record: in Redis as
 * IG_KEY_BUCKETS, in PostgreSQL as the row of table layout (migration 016).
 * Every process compares its configuration with the records it can reach
 * before it works with either store, and whenever it connects again (a
 * Redis that lost its data and was written first by a process configured
 * otherwise is caught at that point): two processes with different counts
 * never run together.
 */
#ifndef SYNC_LAYOUT_H
#define SYNC_LAYOUT_H

#include <stddef.h>
#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include "ig_config.h"

#define SYNC_LAYOUT_ERR_BYTES 256

/**
 * Records buckets in Redis unless a count is recorded there (c: the
 * connection of bucket 0), and compares: a different count ends the process
 * (sync_layout_refuse). Returns 0, or -1 when Redis did not answer (the
 * reason in err).
 */
int sync_layout_redis(redisContext *c, unsigned buckets, char *err, size_t err_len);

/**
 * The same in PostgreSQL. A database without the table of migration 016
 * has nothing to compare yet: 0 (migrate records the count once it
 * applied the migration).
 */
int sync_layout_pg(PGconn *conn, unsigned buckets, char *err, size_t err_len);

/** sync_db_connect to cfg's database, then sync_layout_pg. Returns the connection, or NULL with the reason in err. */
PGconn *sync_layout_connect_pg(const ig_config_t *cfg, char *err, size_t err_len);

/** Logs err as the reason the process refuses to run and exits with IG_BUCKETS_EXIT (common/ig_keys.h). */
__attribute__((noreturn)) void sync_layout_refuse(const char *err);

#endif
