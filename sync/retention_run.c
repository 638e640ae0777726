#include <string.h>
#include <sodium.h>
#include "layout.h"
#include "db.h"
#include "ig_log.h"
#include "retention.h"
#include "retention_run.h"
#include "runtime.h"

/* One run with fresh connections (an hourly job keeps none open). Returns 0, or -1 after logging why. */
static int run_once(const ig_config_t *cfg)
{
    char err[SYNC_RETENTION_ERR_BYTES];
    sync_retention_result_t r;
    ig_user_keys_t keys;
    sync_route_t route = {0};
    PGconn *pg = NULL;
    int ret = -1;

    if ((pg = sync_layout_connect_pg(cfg, err, sizeof(err))) == NULL) {
        ig_warn("msg=\"retention not run; next attempt in an hour\" reason=\"%s\"", err);
        goto Exit;
    }
    if (sync_route_open(&route, cfg, SYNC_RETENTION_REDIS_TIMEOUT_MS, SYNC_RETENTION_REDIS_TIMEOUT_MS) != 0) {
        ig_warn("msg=\"retention not run; next attempt in an hour\" reason=\"%s\"", route.errstr);
        goto Exit;
    }
    /* One daemon runs it (its lease is released with the session at the end of the run). */
    if ((ret = sync_db_job_lease(pg, SYNC_JOB_RETENTION, err, sizeof(err))) <= 0) {
        if (ret < 0)
            ig_warn("msg=\"retention not run; next attempt in an hour\" reason=\"%s\"", err);
        else
            ig_info("msg=\"retention not run here: another daemon is running it\"");
        ret = ret < 0 ? -1 : 0;
        goto Exit;
    }
    ig_user_keys_derive(&keys, cfg->secret_key);
    ret = sync_retention_run(&r, pg, &route, &keys, cfg->retention_days, sync_clock_ms(cfg->sync_clock_offset_s), 0, err,
                             sizeof(err));
    sodium_memzero(&keys, sizeof(keys));
    if (ret != 0)
        ig_warn("msg=\"retention not run; next attempt in an hour\" reason=\"%s\"", err);
    else if (r.eligible != 0)
        ig_info("msg=\"retention applied\" days=%u eligible=%llu anonymised=%llu swept=%llu in_flight=%llu", cfg->retention_days,
                r.eligible, r.anonymised, r.swept, r.in_flight);
Exit:
    sync_route_close(&route);
    if (pg != NULL)
        PQfinish(pg);
    return ret;
}

static void *retention_main(void *arg)
{
    sync_retention_job_t *j = arg;

    pthread_setname_np(pthread_self(), "sync-retention");
    sync_heartbeat_attach(&j->beat_ms);
    ig_info("msg=\"retention schedule starting\" days=%u interval_ms=%u", j->cfg->retention_days, SYNC_RETENTION_INTERVAL_MS);
    sync_sleep_ms(SYNC_RETENTION_FIRST_MS);
    while (!sync_stop_requested()) {
        run_once(j->cfg);
        sync_sleep_ms(SYNC_RETENTION_INTERVAL_MS);
    }
    sync_heartbeat_attach(NULL);
    return NULL;
}

int sync_retention_job_start(sync_retention_job_t *j, const ig_config_t *cfg)
{
    int err;

    memset(j, 0, sizeof(*j));
    j->cfg = cfg;
    if (cfg->retention_days == 0) {
        ig_info("msg=\"retention schedule off\" reason=\"retention_days is 0\"");
        return 0;
    }
    if (!cfg->has_secret_key) {
        ig_warn("msg=\"retention schedule off\" reason=\"no secret_key: addresses are replaced by their keyed user id\"");
        return 0;
    }
    if ((err = sync_thread_start(&j->thread, retention_main, j)) != 0) {
        ig_error("msg=\"cannot start the retention schedule\" reason=\"%s\"", strerror(err));
        return -1;
    }
    j->started = 1;
    return 0;
}

void sync_retention_job_stop(sync_retention_job_t *j)
{
    if (j->started)
        pthread_join(j->thread, NULL);
    j->started = 0;
}
