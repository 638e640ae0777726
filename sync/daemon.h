/*
 * The sync daemon: lanes (lane.h), each on its own thread with its own share
 * of the event streams, that read a batch, apply it to PostgreSQL in one
 * transaction and acknowledge it after COMMIT, claim the entries of dead
 * consumers and trim the streams on timers. The main thread takes the
 * signals, tells systemd (READY once every lane has reached both stores and
 * every migration of migrations_dir is applied, the watchdog while every
 * lane's loop beats, STATUS: what it waits for or what it does, STOPPING)
 * and writes the summary line.
 *
 * Failure policy: a Redis failure drops the connection (what was read and not
 * acknowledged stays pending and is read again after reconnecting); a
 * PostgreSQL failure retries the same batch on a new connection if needed.
 * Both reconnect with backoff (100 ms doubling to 5 s). Nothing is
 * acknowledged before its COMMIT, so no failure loses or duplicates an event.
 */
#ifndef SYNC_DAEMON_H
#define SYNC_DAEMON_H

#include "ig_config.h"
#include "product.h"

/**
 * Runs with cfg and keys (the subkeys of secret_key; both borrowed) until SIGTERM or SIGINT, each lane finishing the batch it has
 * in PostgreSQL first (unless PostgreSQL is unreachable, in which case it stays pending in Redis). Returns 0 on such a stop, -1
 * when cfg is unusable for the daemon or a lane could not start (logged).
 */
int sync_daemon_run(const ig_config_t *cfg, const sync_keys_t *keys);

#endif
