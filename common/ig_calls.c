/* The descriptions of the library's calls and the argv builder (ig_calls.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ig_calls.h"

const ig_call_spec_t ig_call_specs[IG_CALL_COUNT] = {
#define IG_CALL_SPEC(ID, name, ro, keys, nkeys, args, nargs, ikeys, nikeys, iargs, niargs, idem, inside, reply)                    \
    [IG_CALL_##ID] = {name, ro, keys, args, nkeys, nargs, ikeys, iargs, nikeys, niargs, idem, inside, reply},
    IG_CALLS(IG_CALL_SPEC)
#undef IG_CALL_SPEC
};

void ig_fcall_begin(ig_fcall_t *c, ig_call_id_t id, size_t items, const char **argv, size_t *lens, size_t cap)
{
    const ig_call_spec_t *s = &ig_call_specs[id];
    size_t keys = s->nkeys + (size_t)s->idem + items * s->nitem_keys;
    /* A call whose arguments do not match its description is a bug of the caller: never sent. */
    if (items != 0 && s->nitem_keys + s->nitem_args == 0)
        abort();
    c->spec = s;
    c->argv = argv;
    c->lens = lens;
    c->cap = cap;
    c->argc = 0;
    c->expected = 3 + keys + s->nargs + (size_t)s->idem + items * s->nitem_args;
    if (c->expected > cap)
        abort();
    snprintf(c->numkeys, sizeof(c->numkeys), "%zu", keys);
    ig_fcall_str(c, s->ro ? "FCALL_RO" : "FCALL"); /* a no-writes function as such: never followed by WAIT (gateway/redis_conn.c) */
    ig_fcall_str(c, s->name);
    ig_fcall_str(c, c->numkeys);
}

void ig_fcall_bin(ig_fcall_t *c, const void *p, size_t len)
{
    if (c->argc >= c->expected)
        abort();
    c->argv[c->argc] = p;
    c->lens[c->argc++] = len;
}

void ig_fcall_str(ig_fcall_t *c, const char *s)
{
    ig_fcall_bin(c, s, strlen(s));
}

void ig_fcall_strs(ig_fcall_t *c, const char *const *s, size_t n)
{
    for (size_t i = 0; i != n; ++i)
        ig_fcall_str(c, s[i]);
}

size_t ig_fcall_end(const ig_fcall_t *c)
{
    if (c->argc != c->expected)
        abort();
    return c->argc;
}
