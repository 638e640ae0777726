/*
 * Rows for PostgreSQL's COPY in binary format, the cheapest way to add many
 * rows to a table: the server neither parses text nor plans a statement per
 * batch, and the values travel in their storage form (an int4 is four
 * bytes, a timestamptz eight).
 *
 * The format (PostgreSQL documentation, "COPY", "Binary Format"): a
 * signature and two 32-bit fields, then per row a 16-bit field count and per
 * field a 32-bit length (-1 for NULL) and the bytes, then -1 as the count.
 * Integers are in network byte order; a timestamptz is microseconds since
 * 2000-01-01 00:00 UTC. Each value must have exactly the type of its column
 * (text for text and varchar columns).
 *
 * The buffer is reused from batch to batch: sync_copy_reset keeps it.
 */
#ifndef SYNC_COPY_H
#define SYNC_COPY_H

#include <stddef.h>
#include <stdint.h>
#include <libpq-fe.h>

/** A binary COPY stream being built. */
typedef struct sync_copy_t {
    unsigned char *buf; /**< owned; the stream so far, header included */
    size_t len;         /**< bytes used */
    size_t cap;         /**< bytes allocated */
    size_t rows;        /**< rows added since the last reset */
} sync_copy_t;

/** Starts an empty stream with no memory. */
void sync_copy_init(sync_copy_t *c);

/** Frees the buffer. */
void sync_copy_dispose(sync_copy_t *c);

/** Empties c (the header only), keeping its buffer. */
void sync_copy_reset(sync_copy_t *c);

/** Starts a row of fields values; the next fields calls fill it. Aborts when out of memory, as every call here. */
void sync_copy_row(sync_copy_t *c, unsigned fields);

/** A text (or varchar) value of len bytes; NULL s for SQL NULL. */
void sync_copy_text(sync_copy_t *c, const char *s, size_t len);

/** A text value from a NUL-terminated string, or SQL NULL when s is NULL. */
void sync_copy_str(sync_copy_t *c, const char *s);

/** An int4 value. */
void sync_copy_int4(sync_copy_t *c, int32_t v);

/** An int8 value. */
void sync_copy_int8(sync_copy_t *c, int64_t v);

/** A timestamptz value from Unix milliseconds. */
void sync_copy_time_ms(sync_copy_t *c, int64_t unix_ms);

/** A uuid value from its 16 bytes. */
void sync_copy_uuid(sync_copy_t *c, const unsigned char uuid[16]);

/** The stream with its trailer, ready to send: a pointer into c, valid until c changes; *len set. */
const unsigned char *sync_copy_finish(sync_copy_t *c, size_t *len);

/**
 * Runs sql (a "COPY table (columns) FROM STDIN (FORMAT binary)") on conn,
 * inside the caller's transaction, with the rows of c. Returns 0, or -1 with
 * the reason in err (the transaction is then aborted).
 */
__attribute__((warn_unused_result)) int sync_copy_send(sync_copy_t *c, PGconn *conn, const char *sql, const char *what, char *err,
                                                       size_t err_len);

#endif
