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

#include "ig_config.h"

/**
 * Applies the migrations of dir not yet recorded in the database of
 * cfg->database_url, printing one line per applied file on stdout. Returns 0
 * (also when there was nothing to do) or -1 (reason logged).
 */
int sync_migrate_run(const ig_config_t *cfg, const char *dir);

#endif
