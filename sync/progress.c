#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "pgarray.h"
#include "progress.h"
#include "runtime.h"

/*
 * The leases: session-level advisory locks in a class of their own (the
 * two-key form keeps them apart from migrate's single-key lock), one key per
 * bucket. Buckets already leased by another session are left out.
 */
#define SYNC_LEASE_CLASS "1768387449" /* "igsy" */
static const char SQL_LEASE[] = "SELECT b FROM unnest($1::int[]) AS b WHERE pg_try_advisory_lock(" SYNC_LEASE_CLASS ", b)";

/* A bucket's row is created at 0-0 (before any entry) the first time it is leased. */
static const char SQL_CREATE[] = "INSERT INTO sync_progress (bucket) SELECT unnest($1::int[]) ON CONFLICT DO NOTHING";
static const char SQL_LOAD[] = "SELECT bucket, last_ms, last_seq FROM sync_progress WHERE bucket = ANY($1::int[])";

/*
 * The compare-and-set of a batch's marks: each row moves only from where
 * the batch began. The caller compares the rows updated with the buckets.
 */
static const char SQL_ADVANCE[] =
    "UPDATE sync_progress AS p SET last_ms = u.to_ms, last_seq = u.to_seq, updated_at = now() "
    "FROM unnest($1::int[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[]) AS u(bucket, from_ms, from_seq, to_ms, to_seq) "
    "WHERE p.bucket = u.bucket AND p.last_ms = u.from_ms AND p.last_seq = u.from_seq";

void sync_progress_init(sync_progress_t *p, unsigned first, unsigned count)
{
    memset(p, 0, sizeof(*p));
    p->first = first;
    p->count = count;
}

void sync_progress_drop(sync_progress_t *p)
{
    memset(p->held, 0, sizeof(p->held));
    p->next_try_ms = 0;
}

unsigned sync_progress_held(const sync_progress_t *p)
{
    unsigned n = 0;
    for (unsigned b = p->first; b != p->first + p->count; ++b)
        n += p->held[b] != 0;
    return n;
}

/* Runs sql with one int[] parameter; returns the result or NULL with p->errstr set. */
static PGresult *with_buckets(sync_progress_t *p, PGconn *conn, const char *sql, const char *what, const sync_pgarray_t *buckets,
                              ExecStatusType want)
{
    const char *values[1] = {buckets->buf};
    PGresult *res = PQexecParams(conn, sql, 1, NULL, values, NULL, NULL, 0);
    char desc[SYNC_DB_DESC_BYTES];

    if (PQresultStatus(res) == want)
        return res;
    sync_db_describe(desc, sizeof(desc), conn, res, 1);
    snprintf(p->errstr, sizeof(p->errstr), "step=%s %s", what, desc);
    PQclear(res);
    return NULL;
}

int sync_progress_acquire(sync_progress_t *p, PGconn *conn, int force, int gained[IG_BUCKETS_MAX])
{
    sync_pgarray_t want, got;
    PGresult *res = NULL;
    uint64_t now = sync_now_ms();
    int ret = -1;

    memset(gained, 0, IG_BUCKETS_MAX * sizeof(*gained));
    if (sync_progress_held(p) == p->count || (!force && now < p->next_try_ms))
        return 0;
    p->next_try_ms = now + SYNC_LEASE_RETRY_MS;
    sync_pgarray_init(&want);
    sync_pgarray_init(&got);
    for (unsigned b = p->first; b != p->first + p->count; ++b)
        if (!p->held[b])
            sync_pgarray_add_int(&want, b);
    sync_pgarray_finish(&want);
    if ((res = with_buckets(p, conn, SQL_LEASE, "lease", &want, PGRES_TUPLES_OK)) == NULL)
        goto Exit;
    for (int i = 0; i != PQntuples(res); ++i) {
        unsigned b = (unsigned)strtoul(PQgetvalue(res, i, 0), NULL, 10);
        if (b < IG_BUCKETS_MAX)
            gained[b] = p->held[b] = 1;
        sync_pgarray_add_int(&got, b);
    }
    PQclear(res);
    res = NULL;
    if (got.count == 0) {
        ret = 0;
        goto Exit;
    }
    sync_pgarray_finish(&got);
    if ((res = with_buckets(p, conn, SQL_CREATE, "create marks", &got, PGRES_COMMAND_OK)) == NULL)
        goto Exit;
    PQclear(res);
    if ((res = with_buckets(p, conn, SQL_LOAD, "load marks", &got, PGRES_TUPLES_OK)) == NULL)
        goto Exit;
    for (int i = 0; i != PQntuples(res); ++i) {
        unsigned b = (unsigned)strtoul(PQgetvalue(res, i, 0), NULL, 10);
        if (b >= IG_BUCKETS_MAX)
            continue;
        p->applied[b][0] = strtoull(PQgetvalue(res, i, 1), NULL, 10);
        p->applied[b][1] = strtoull(PQgetvalue(res, i, 2), NULL, 10);
    }
    ret = 0;

Exit:
    PQclear(res);
    if (ret != 0)
        sync_progress_drop(p);
    sync_pgarray_dispose(&want);
    sync_pgarray_dispose(&got);
    return ret;
}

int sync_progress_advance(sync_progress_t *p, PGconn *conn, const sync_batch_t *b, int *conflict)
{
    sync_pgarray_t cols[5];
    const char *values[5];
    char desc[SYNC_DB_DESC_BYTES];
    PGresult *res;
    long buckets = 0;
    int ret = -1;

    *conflict = 0;
    for (int i = 0; i != 5; ++i)
        sync_pgarray_init(&cols[i]);
    for (unsigned k = p->first; k != p->first + p->count; ++k) {
        if (!b->has[k])
            continue;
        sync_pgarray_add_int(&cols[0], k);
        sync_pgarray_add_int(&cols[1], (long long)b->from[k][0]);
        sync_pgarray_add_int(&cols[2], (long long)b->from[k][1]);
        sync_pgarray_add_int(&cols[3], (long long)b->to[k][0]);
        sync_pgarray_add_int(&cols[4], (long long)b->to[k][1]);
        ++buckets;
    }
    for (int i = 0; i != 5; ++i)
        values[i] = sync_pgarray_finish(&cols[i]);
    res = PQexecParams(conn, SQL_ADVANCE, 5, NULL, values, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        sync_db_describe(desc, sizeof(desc), conn, res, 1);
        snprintf(p->errstr, sizeof(p->errstr), "step=advance_marks %s", desc);
    } else if (strtol(PQcmdTuples(res), NULL, 10) != buckets) {
        *conflict = 1;
        snprintf(p->errstr, sizeof(p->errstr),
                 "step=advance_marks reason=\"a bucket's mark moved since the batch was read: another daemon applied it\"");
    } else {
        ret = 0;
    }
    PQclear(res);
    for (int i = 0; i != 5; ++i)
        sync_pgarray_dispose(&cols[i]);
    return ret;
}

void sync_progress_committed(sync_progress_t *p, const sync_batch_t *b)
{
    for (unsigned k = p->first; k != p->first + p->count; ++k) {
        if (!b->has[k])
            continue;
        p->applied[k][0] = b->to[k][0];
        p->applied[k][1] = b->to[k][1];
    }
}
