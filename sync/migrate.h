/*
 * `invitegate-sync -c FILE migrate [DIR]`: applies the schema migrations.
 *
 * DIR holds plain SQL files named NNN_name.sql (NNN a decimal version; other
 * files are ignored). They are applied in numeric order, each in its own
 * transaction together with its row in schema_migrations (version, file name,
 * SHA-256 of the file), so a failed file leaves nothing behind and is retried
 * whole by the next run. A file must therefore not contain transaction
 * control or statements that cannot run in a transaction (CREATE INDEX
 * CONCURRENTLY).
 *
 * Runs hold a session advisory lock, so two of them (two hosts deploying at
 * once) apply each file once: the second waits and then finds nothing to do.
 * An applied file whose checksum changed stops the run before anything is
 * applied: the database no longer matches the file, and that needs a person.
 */
#ifndef SYNC_MIGRATE_H
#define SYNC_MIGRATE_H

#include <stddef.h>
#include <libpq-fe.h>
#include "ig_config.h"

/**
 * Applies the migrations of dir not yet recorded in the database of
 * cfg->database_url, printing one line per applied file on stdout. Returns 0
 * (also when there was nothing to do) or -1 (reason logged).
 */
int sync_migrate_run(const ig_config_t *cfg, const char *dir);

/**
 * Whether the database of conn holds every migration of dir, unchanged (what
 * the daemon waits for before it tells systemd it is ready). Returns the
 * number of migrations not applied yet (0: the schema is current), with the
 * first one's file name in first; or -1 with the reason in err (dir
 * unreadable, an applied file changed since, PostgreSQL failed). Logs
 * nothing, so it may be called again and again while waiting.
 */
int sync_migrate_pending(PGconn *conn, const char *dir, char *first, size_t first_len, char *err, size_t err_len);

/**
 * migrations_dir left at its built-in default means the migrations installed
 * with the running binary when there are some (PREFIX/share/invitegate/
 * migrations beside PREFIX/bin, wherever the installation was moved), else
 * `migrations` in the working directory (a source tree). Rewrites
 * cfg->migrations_dir accordingly; any other value is kept.
 */
void sync_migrate_default_dir(ig_config_t *cfg);

#endif
