/*
 * Synchronous hiredis connections of the harness (seeding, the Redis
 * ceiling, checks, memory). The harness only ever talks to a Redis on
 * 127.0.0.1 or a Unix socket.
 *
 * Against cfg's redis_url it opens the sync daemon's routing
 * (sync/redis_route.h): one connection to a single Redis, or one per master
 * of a Redis Cluster, and each bucket's with sync_route_bucket(). With a
 * single Redis every bucket has the same one connection, so the harness
 * pipelines exactly as on one connection.
 */
#ifndef BENCH_RCONN_H
#define BENCH_RCONN_H

#include <stddef.h>
#include <hiredis/hiredis.h>
#include "ig_config.h"
#include "redis_route.h"

#define BENCH_PERSISTENCE_BYTES 64

/**
 * Connects to cfg's redis_url: r's connections (the caller closes them with
 * sync_route_close). Returns 0 or -1 (printed).
 */
int bench_redis_open(sync_route_t *r, const ig_config_t *cfg);

/**
 * Makes r a routing of every bucket to c (a private Redis the harness
 * connected to by port): r borrows c, so the caller frees c, never
 * sync_route_close(r).
 */
void bench_redis_single(sync_route_t *r, redisContext *c);

/** Connects to 127.0.0.1:port (a private Redis), with a 5 s timeout. Returns the context, or NULL with the reason printed. */
redisContext *bench_redis_connect_port(unsigned port);

/**
 * Reads the next pipelined reply of c. Returns it (the caller frees it), or
 * NULL with the reason printed, naming what.
 */
redisReply *bench_redis_next(redisContext *c, const char *what);

/** Runs one command (argv form). Returns the reply (caller frees) or NULL (printed); an error reply is printed and freed. */
redisReply *bench_redis_argv(redisContext *c, const char *what, int argc, const char **argv, const size_t *argvlen);

/**
 * Reads one numeric field of INFO section (e.g. "cpu", "used_cpu_user"); with
 * inner, the value of "INNER=" within the field's "k=v,..." line (e.g.
 * "commandstats", "cmdstat_fcall", "usec"). Returns 0, 1 when there is no
 * such field (nothing printed), or -1 (printed) when INFO failed.
 */
int bench_redis_info_number(redisContext *c, const char *section, const char *field, const char *inner, double *out);

/** Reads one integer field of INFO section (e.g. "memory", "used_memory"). Returns 0 or -1 (printed). */
int bench_redis_info_int(redisContext *c, const char *section, const char *field, long long *out);

/** Writes "appendonly=yes appendfsync=always" (from CONFIG GET) to out. Returns 0 or -1. */
int bench_redis_persistence(redisContext *c, char out[BENCH_PERSISTENCE_BYTES]);

/**
 * Loads the function library made of the comma-separated files of paths,
 * each followed by a newline, as the gateway embeds them (cmake/embed.cmake):
 * FUNCTION LOAD REPLACE. Returns 0 or -1 (printed).
 */
int bench_redis_load_library(redisContext *c, const char *paths);

/**
 * Empties the event stream of every bucket (XTRIM MAXLEN 0), as the sync
 * daemon leaves them once it has read them. Returns 0 or -1 (printed).
 */
int bench_redis_trim_streams(redisContext *c);

#endif
