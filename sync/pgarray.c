#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "pgarray.h"

#define SYNC_PGARRAY_MIN_BYTES 4096

void sync_pgarray_init(sync_pgarray_t *a)
{
    memset(a, 0, sizeof(*a));
}

void sync_pgarray_dispose(sync_pgarray_t *a)
{
    free(a->buf);
    sync_pgarray_init(a);
}

/* Makes room for extra more bytes plus the closing "}" and NUL. */
static void reserve(sync_pgarray_t *a, size_t extra)
{
    size_t need = a->len + extra + 2;
    char *p;

    if (need <= a->cap)
        return;
    size_t cap = a->cap < SYNC_PGARRAY_MIN_BYTES ? SYNC_PGARRAY_MIN_BYTES : a->cap;
    while (cap < need)
        cap *= 2;
    if ((p = realloc(a->buf, cap)) == NULL)
        abort();
    a->buf = p;
    a->cap = cap;
}

void sync_pgarray_reset(sync_pgarray_t *a)
{
    a->len = 0;
    a->count = 0;
}

/* Writes "{" before the first element and "," before the others. */
static void separate(sync_pgarray_t *a)
{
    reserve(a, 1);
    a->buf[a->len++] = a->count++ == 0 ? '{' : ',';
}

void sync_pgarray_add_text(sync_pgarray_t *a, const char *s, size_t len)
{
    separate(a);
    if (s == NULL) {
        reserve(a, 4);
        memcpy(a->buf + a->len, "NULL", 4);
        a->len += 4;
        return;
    }
    /* Worst case every byte needs a backslash, plus the two quotes. */
    reserve(a, len * 2 + 2);
    a->buf[a->len++] = '"';
    for (size_t i = 0; i != len; ++i) {
        if (s[i] == '"' || s[i] == '\\')
            a->buf[a->len++] = '\\';
        a->buf[a->len++] = s[i];
    }
    a->buf[a->len++] = '"';
}

void sync_pgarray_add_str(sync_pgarray_t *a, const char *s)
{
    sync_pgarray_add_text(a, s, s == NULL ? 0 : strlen(s));
}

void sync_pgarray_add_int(sync_pgarray_t *a, long long v)
{
    separate(a);
    reserve(a, 24);
    a->len += (size_t)snprintf(a->buf + a->len, 24, "%lld", v);
}

const char *sync_pgarray_finish(sync_pgarray_t *a)
{
    /* Written past len, so adding more elements after finishing stays valid. */
    if (a->count == 0) {
        reserve(a, 1);
        memcpy(a->buf + a->len, "{}", 3);
        return a->buf;
    }
    /* reserve() always leaves room for these two bytes. */
    a->buf[a->len] = '}';
    a->buf[a->len + 1] = '\0';
    return a->buf;
}
