#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "db.h"
#include "copy.h"

/* "PGCOPY\n\377\r\n\0", then the flags and the header extension length, both 0. */
static const unsigned char COPY_HEADER[19] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0xff, '\r', '\n', 0, 0, 0, 0, 0, 0, 0, 0, 0};

/* Milliseconds from the Unix epoch to PostgreSQL's, 2000-01-01 00:00 UTC. */
#define PG_EPOCH_UNIX_MS 946684800000LL

static void reserve(sync_copy_t *c, size_t more)
{
    size_t need = c->len + more, cap = c->cap == 0 ? 65536 : c->cap;
    unsigned char *p;

    if (need <= c->cap)
        return;
    while (cap < need)
        cap *= 2;
    if ((p = realloc(c->buf, cap)) == NULL)
        abort();
    c->buf = p;
    c->cap = cap;
}

static void put(sync_copy_t *c, const void *p, size_t n)
{
    reserve(c, n);
    memcpy(c->buf + c->len, p, n);
    c->len += n;
}

static void put_be(sync_copy_t *c, uint64_t v, unsigned bytes)
{
    unsigned char b[8];
    for (unsigned i = 0; i != bytes; ++i)
        b[i] = (unsigned char)(v >> (8 * (bytes - 1 - i)));
    put(c, b, bytes);
}

void sync_copy_init(sync_copy_t *c)
{
    memset(c, 0, sizeof(*c));
}

void sync_copy_dispose(sync_copy_t *c)
{
    free(c->buf);
    sync_copy_init(c);
}

void sync_copy_reset(sync_copy_t *c)
{
    c->len = 0;
    c->rows = 0;
    put(c, COPY_HEADER, sizeof(COPY_HEADER));
}

void sync_copy_row(sync_copy_t *c, unsigned fields)
{
    put_be(c, fields, 2);
    ++c->rows;
}

void sync_copy_text(sync_copy_t *c, const char *s, size_t len)
{
    if (s == NULL) {
        put_be(c, 0xffffffffu, 4);
        return;
    }
    put_be(c, len, 4);
    put(c, s, len);
}

void sync_copy_str(sync_copy_t *c, const char *s)
{
    sync_copy_text(c, s, s != NULL ? strlen(s) : 0);
}

void sync_copy_int4(sync_copy_t *c, int32_t v)
{
    put_be(c, 4, 4);
    put_be(c, (uint32_t)v, 4);
}

void sync_copy_int8(sync_copy_t *c, int64_t v)
{
    put_be(c, 8, 4);
    put_be(c, (uint64_t)v, 8);
}

void sync_copy_time_ms(sync_copy_t *c, int64_t unix_ms)
{
    sync_copy_int8(c, (unix_ms - PG_EPOCH_UNIX_MS) * 1000);
}

void sync_copy_uuid(sync_copy_t *c, const unsigned char uuid[16])
{
    put_be(c, 16, 4);
    put(c, uuid, 16);
}

const unsigned char *sync_copy_finish(sync_copy_t *c, size_t *len)
{
    /* The trailer: a field count of -1. Kept out of len so that more rows may follow. */
    reserve(c, 2);
    c->buf[c->len] = 0xff;
    c->buf[c->len + 1] = 0xff;
    *len = c->len + 2;
    return c->buf;
}

int sync_copy_send(sync_copy_t *c, PGconn *conn, const char *sql, const char *what, char *err, size_t err_len)
{
    char desc[SYNC_DB_DESC_BYTES];
    size_t len;
    const unsigned char *data = sync_copy_finish(c, &len);
    PGresult *res = PQexec(conn, sql);
    int done = 0, failed = 0;

    if (PQresultStatus(res) != PGRES_COPY_IN) {
        sync_db_describe(desc, sizeof(desc), conn, res, 1);
        snprintf(err, err_len, "step=%s %s", what, desc);
        PQclear(res);
        return -1;
    }
    PQclear(res);
    if (PQputCopyData(conn, (const char *)data, (int)len) != 1 || PQputCopyEnd(conn, NULL) != 1) {
        sync_db_describe(desc, sizeof(desc), conn, NULL, 1);
        snprintf(err, err_len, "step=%s %s", what, desc);
        /* Drain whatever the server answers so the connection is idle (or broken) again. */
        while ((res = PQgetResult(conn)) != NULL)
            PQclear(res);
        return -1;
    }
    /* The COPY's own result, then NULL; the first failure is the one reported. */
    while ((res = PQgetResult(conn)) != NULL) {
        if (PQresultStatus(res) == PGRES_COMMAND_OK) {
            done = 1;
        } else if (!failed) {
            sync_db_describe(desc, sizeof(desc), conn, res, 1);
            snprintf(err, err_len, "step=%s %s", what, desc);
            failed = 1;
        }
        PQclear(res);
    }
    if (!done && !failed)
        snprintf(err, err_len, "step=%s reason=\"the server sent no result for the COPY\"", what);
    return done && !failed ? 0 : -1;
}
