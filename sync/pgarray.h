/*
 * PostgreSQL array literals in text format, for passing a whole batch as one
 * parameter (`unnest($1::text[], $2::bigint[])`).
 *
 * Every text element is double-quoted with `"` and `\` backslash-escaped, so
 * no content (commas, braces, spaces, the word NULL) can change the shape of
 * the array; SQL NULL is the bare word NULL. Memory is reused across batches:
 * sync_pgarray_reset keeps the buffer.
 */
#ifndef SYNC_PGARRAY_H
#define SYNC_PGARRAY_H

#include <stddef.h>

typedef struct sync_pgarray_t {
    char *buf;    /**< owned; the literal so far ("{a,b" without the closing brace) */
    size_t len;   /**< bytes used in buf */
    size_t cap;   /**< bytes allocated in buf */
    size_t count; /**< elements added since the last reset */
} sync_pgarray_t;

/** Starts an empty array with no memory. */
void sync_pgarray_init(sync_pgarray_t *a);

/** Frees the buffer. */
void sync_pgarray_dispose(sync_pgarray_t *a);

/** Empties a, keeping its buffer for the next batch. */
void sync_pgarray_reset(sync_pgarray_t *a);

/** Appends a text element of len bytes (may be NULL for SQL NULL). Aborts when out of memory. */
void sync_pgarray_add_text(sync_pgarray_t *a, const char *s, size_t len);

/** Appends a text element from a NUL-terminated string, or SQL NULL when s is NULL. */
void sync_pgarray_add_str(sync_pgarray_t *a, const char *s);

/** Appends an integer element. */
void sync_pgarray_add_int(sync_pgarray_t *a, long long v);

/** Closes the literal and returns it; the pointer is owned by a and valid until its next change. */
const char *sync_pgarray_finish(sync_pgarray_t *a);

#endif
