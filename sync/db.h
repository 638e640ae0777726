/*
 * PostgreSQL helpers shared by the daemon (apply.c, product.c) and the
 * migration runner (migrate.c).
 */
#ifndef SYNC_DB_H
#define SYNC_DB_H

#include <stddef.h>
#include <libpq-fe.h>
#include "pgarray.h"

/** A sync_db_describe text: sqlstate and a message of up to 255 bytes. */
#define SYNC_DB_DESC_BYTES 320
/** An error with its context (step, batch) around a description. */
#define SYNC_DB_ERR_BYTES 512

/**
 * Connects with conninfo (a libpq connection string or URI). Adds
 * application_name=invitegate-sync and a connect timeout unless conninfo sets
 * them. Returns the connection (the caller owns it: PQfinish), or NULL with
 * the reason in err.
 */
PGconn *sync_db_connect(const char *conninfo, char *err, size_t err_len);

/**
 * Writes a one-line description of a failed call to out: `sqlstate=XXXXX
 * reason="..."` (quotes in the message become single quotes). With
 * withhold_data, the message of a data exception (SQLSTATE class 22) is left
 * out, because PostgreSQL quotes the offending value there and in a batch it
 * may be an e-mail address or a code. res may be NULL (then the connection's
 * error is used).
 */
void sync_db_describe(char *out, size_t out_len, PGconn *conn, const PGresult *res, int withhold_data);

/**
 * Runs sql (no parameters) and expects PGRES_COMMAND_OK or PGRES_TUPLES_OK.
 * Returns 0, or -1 with `step=what sqlstate=... reason="..."` in err (data withheld).
 */
int sync_db_exec(PGconn *conn, const char *sql, const char *what, char *err, size_t err_len);

/*
 * The periodic jobs every daemon runs a thread for, of which one daemon at a
 * time does the work: the trust gate's evaluation (its hysteresis state is
 * one, and its history one series) and the retention run. A job's lease is
 * a session-level advisory lock, in a class of its own, on the connection
 * the job works with: it dies with the connection, so a daemon killed or cut
 * off from PostgreSQL hands the job over at once, and the others try it at
 * their next tick.
 */
typedef enum sync_job_t {
    SYNC_JOB_GATE = 1,
    SYNC_JOB_RETENTION = 2,
} sync_job_t;

/**
 * Takes job's lease on conn unless another session holds it. Returns 1 held
 * (also when conn held it already), 0 held by another daemon, -1 with the
 * reason in err.
 */
int sync_db_job_lease(PGconn *conn, sync_job_t job, char *err, size_t err_len);

/** Most array parameters one statement takes (sync_db_exec_arrays). */
#define SYNC_DB_MAX_PARAMS 64

/**
 * Runs sql with the array literals arrays[cols[0..n-1]] (finished here) as
 * its parameters $1..$n, n <= SYNC_DB_MAX_PARAMS. Returns the result, whatever
 * its status: the caller checks it and clears it.
 */
PGresult *sync_db_exec_arrays(PGconn *conn, const char *sql, sync_pgarray_t *arrays, const int *cols, int n);

#endif
