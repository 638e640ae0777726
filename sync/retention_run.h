/*
 * The sync daemon's retention schedule: seed 000's rule (retention.h) once
 * SYNC_RETENTION_FIRST_MS after start and then every
 * SYNC_RETENTION_INTERVAL_MS, on a thread of its own with its own
 * connections, while retention_days is above 0. `invitegate retention run`
 * runs the same function on demand.
 */
#ifndef SYNC_RETENTION_RUN_H
#define SYNC_RETENTION_RUN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include "ig_config.h"

/** The first run comes this long after start (the lanes have connected by then). */
#define SYNC_RETENTION_FIRST_MS 5000u
/** Then one run an hour: the rule is in days. */
#define SYNC_RETENTION_INTERVAL_MS 3600000u
/** Connect and command timeout of the job's Redis connection. */
#define SYNC_RETENTION_REDIS_TIMEOUT_MS 5000u

typedef struct sync_retention_job_t {
    const ig_config_t *cfg;   /**< borrowed; outlives the job */
    _Atomic uint64_t beat_ms; /**< heartbeat of the job's thread */
    pthread_t thread;         /**< valid while started */
    int started;              /**< the thread runs */
} sync_retention_job_t;

/**
 * Starts the job's thread for cfg (borrowed), unless retention_days is 0.
 * Returns 0, or -1 when the thread could not be started (logged).
 */
int sync_retention_job_start(sync_retention_job_t *j, const ig_config_t *cfg);

/** Waits for the thread to end (after a stop was requested). */
void sync_retention_job_stop(sync_retention_job_t *j);

#endif
