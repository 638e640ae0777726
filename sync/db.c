#include <assert.h>
#include <stdio.h>
#include <string.h>
#include "db.h"

PGconn *sync_db_connect(const char *conninfo, char *err, size_t err_len)
{
    /*
     * Entries before "dbname" are defaults: the expanded connection string
     * overrides them (libpq processes the arrays in order, the last value wins).
     */
    static const char *const keywords[] = {"connect_timeout", "fallback_application_name", "dbname", NULL};
    const char *values[] = {"10", "invitegate-sync", conninfo, NULL};
    PGconn *conn = PQconnectdbParams(keywords, values, 1);

    if (conn == NULL) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        sync_db_describe(err, err_len, conn, NULL, 1);
        PQfinish(conn);
        return NULL;
    }
    return conn;
}

void sync_db_describe(char *out, size_t out_len, PGconn *conn, const PGresult *res, int withhold_data)
{
    const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    char clean[256];
    size_t n = 0;

    if (msg == NULL)
        msg = res != NULL && PQresultErrorMessage(res)[0] != '\0' ? PQresultErrorMessage(res) : PQerrorMessage(conn);
    if (withhold_data && state != NULL && strncmp(state, "22", 2) == 0)
        msg = "data exception (message withheld: it may quote a value)";
    /* One log line: no newlines, no double quotes. */
    for (const char *p = msg; *p != '\0' && n + 1 < sizeof(clean); ++p)
        clean[n++] = *p == '"' ? '\'' : (unsigned char)*p < 0x20 ? ' ' : *p;
    while (n > 0 && clean[n - 1] == ' ')
        --n;
    clean[n] = '\0';
    snprintf(out, out_len, "sqlstate=%s reason=\"%s\"", state != NULL ? state : "none", clean);
}

int sync_db_exec(PGconn *conn, const char *sql, const char *what, char *err, size_t err_len)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    int ret = 0;

    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        char desc[SYNC_DB_DESC_BYTES];
        sync_db_describe(desc, sizeof(desc), conn, res, 1);
        snprintf(err, err_len, "step=%s %s", what, desc);
        ret = -1;
    }
    PQclear(res);
    return ret;
}

/* The class of the jobs' advisory locks: the bytes of "igjb" (the buckets' leases are "igsy", migrate's "igmigrat"). */
#define SYNC_JOB_LEASE_CLASS 1768385122

int sync_db_job_lease(PGconn *conn, sync_job_t job, char *err, size_t err_len)
{
    char sql[96];
    PGresult *res;
    int ret;

    snprintf(sql, sizeof(sql), "SELECT pg_try_advisory_lock(%d, %d)", SYNC_JOB_LEASE_CLASS, (int)job);
    res = PQexec(conn, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        char desc[SYNC_DB_DESC_BYTES];
        sync_db_describe(desc, sizeof(desc), conn, res, 1);
        snprintf(err, err_len, "step=job_lease %s", desc);
        ret = -1;
    } else
        ret = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    return ret;
}

PGresult *sync_db_exec_arrays(PGconn *conn, const char *sql, sync_pgarray_t *arrays, const int *cols, int n)
{
    const char *values[SYNC_DB_MAX_PARAMS];
    assert(n >= 0 && n <= SYNC_DB_MAX_PARAMS);
    for (int i = 0; i != n; ++i)
        values[i] = sync_pgarray_finish(&arrays[cols[i]]);
    return PQexecParams(conn, sql, n, NULL, values, NULL, NULL, 0);
}
