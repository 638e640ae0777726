#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "apply.h"

void sync_apply_init(sync_apply_t *a, const ig_config_t *cfg, const sync_keys_t *keys)
{
    memset(a, 0, sizeof(*a));
    sync_invites_init(&a->invites, keys);
    sync_product_init(&a->product, cfg, keys);
}

void sync_apply_dispose(sync_apply_t *a)
{
    sync_invites_dispose(&a->invites);
    sync_product_dispose(&a->product);
    free(a->run);
    a->run = NULL;
    a->cap_run = 0;
}

static double elapsed_ms(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) * 1e3 + (double)(now.tv_nsec - start->tv_nsec) / 1e6;
}

/* Sorts the events of b into the statements of their kind, and counts them. */
static void collect(sync_apply_t *a, const sync_batch_t *b, sync_apply_stats_t *stats)
{
    sync_invites_reset(&a->invites);
    sync_product_reset(&a->product);
    for (size_t i = 0; i != b->num_events; ++i) {
        const sync_event_t *ev = &b->events[i];
        if (ev->type == SYNC_EVENT_MALFORMED)
            ++stats->malformed;
        else if (sync_event_is_product(ev->type))
            ++stats->product;
        else
            sync_invites_collect(&a->invites, ev);
    }
    stats->events = b->num_events;
    stats->issued = a->invites.stats.issued;
    stats->redeemed = a->invites.stats.redeemed;
    stats->revoked = a->invites.stats.revoked;
}

/* Applies the run of joined, clicked and admitted events collected so far, and empties it. */
static int flush_run(sync_apply_t *a, PGconn *conn, size_t *len)
{
    int ret = sync_product_apply_run(&a->product, conn, a->run, *len);
    *len = 0;
    return ret;
}

/*
 * The product events of b in stream order, then the touched users'
 * balances: consecutive joined, clicked and admitted events a run at a
 * time, the others one by one between the runs.
 */
static int apply_product(sync_apply_t *a, PGconn *conn, const sync_batch_t *b, size_t count)
{
    size_t len = 0;

    if (count == 0)
        return 0;
    if (count > a->cap_run) {
        free(a->run);
        if ((a->run = malloc(count * sizeof(*a->run))) == NULL)
            abort();
        a->cap_run = count;
    }
    for (size_t i = 0; i != b->num_events; ++i) {
        const sync_event_t *ev = &b->events[i];
        if (!sync_event_is_product(ev->type))
            continue;
        if (sync_product_in_runs(ev->type)) {
            a->run[len++] = ev;
            continue;
        }
        if (flush_run(a, conn, &len) != 0 || sync_product_apply(&a->product, conn, ev) != 0)
            goto Error;
    }
    if (flush_run(a, conn, &len) != 0 || sync_product_finish(&a->product, conn) != 0)
        goto Error;
    return 0;

Error:
    snprintf(a->errstr, sizeof(a->errstr), "%s", a->product.errstr);
    return -1;
}

int sync_apply_batch(sync_apply_t *a, PGconn *conn, sync_progress_t *progress, const sync_batch_t *b, sync_apply_stats_t *stats,
                     int *conflict)
{
    struct timespec start;
    int ret = -1;

    memset(stats, 0, sizeof(*stats));
    *conflict = 0;
    a->errstr[0] = '\0';
    clock_gettime(CLOCK_MONOTONIC, &start);
    collect(a, b, stats);
    if (sync_db_exec(conn, "BEGIN", "begin", a->errstr, sizeof(a->errstr)) != 0)
        goto Exit;
    if (sync_progress_advance(progress, conn, b, conflict) != 0) {
        snprintf(a->errstr, sizeof(a->errstr), "%s", progress->errstr);
        goto Exit;
    }
    if (sync_invites_apply(&a->invites, conn) != 0) {
        snprintf(a->errstr, sizeof(a->errstr), "%s", a->invites.errstr);
        goto Exit;
    }
    if (apply_product(a, conn, b, stats->product) != 0)
        goto Exit;
    /* COMMIT of a transaction that failed answers ROLLBACK with a success status: check the tag. */
    PGresult *res = PQexec(conn, "COMMIT");
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        char desc[SYNC_DB_DESC_BYTES];
        sync_db_describe(desc, sizeof(desc), conn, res, 1);
        snprintf(a->errstr, sizeof(a->errstr), "step=commit %s", desc);
    } else if (strcmp(PQcmdStatus(res), "COMMIT") != 0) {
        snprintf(a->errstr, sizeof(a->errstr), "step=commit reason=\"the server rolled the transaction back\"");
    }
    PQclear(res);
    if (a->errstr[0] != '\0')
        goto Exit;
    sync_progress_committed(progress, b);
    stats->txn_ms = elapsed_ms(&start);
    ret = 0;

Exit:
    /* Leave the connection idle for the retry; a broken one is replaced by the caller. */
    if (ret != 0 && PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) != PQTRANS_IDLE)
        PQclear(PQexec(conn, "ROLLBACK"));
    return ret;
}
