/*
 * The one way the sync daemon's jobs (trust gate, retention, metrics scrapes)
 * and the operator tool open a blocking Redis connection from the
 * configuration: TCP or Unix socket, with the same timeout for the connect
 * and for every command after it.
 */
#ifndef SYNC_REDIS_CONNECT_H
#define SYNC_REDIS_CONNECT_H

#include <stddef.h>
#include <hiredis/hiredis.h>
#include "ig_config.h"

/**
 * Connects to cfg's Redis with timeout_ms for the connect and each command.
 * Returns the context (the caller frees it with redisFree), or NULL with the
 * reason in err.
 */
redisContext *sync_redis_connect(const ig_config_t *cfg, unsigned timeout_ms, char *err, size_t err_len);

#endif
