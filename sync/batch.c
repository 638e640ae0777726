#include <stdlib.h>
#include <string.h>
#include "batch.h"

void sync_batch_init(sync_batch_t *b)
{
    memset(b, 0, sizeof(*b));
}

void sync_batch_clear(sync_batch_t *b)
{
    for (size_t i = 0; i != b->num_replies; ++i)
        freeReplyObject(b->replies[i]);
    b->num_replies = 0;
    b->num_events = 0;
    b->entries = 0;
    memset(b->has, 0, sizeof(b->has));
}

void sync_batch_dispose(sync_batch_t *b)
{
    sync_batch_clear(b);
    free(b->events);
    free(b->replies);
    sync_batch_init(b);
}

/* Grows *arr (of elem_size items) so that it holds at least need of them. */
static void grow(void **arr, size_t *cap, size_t need, size_t elem_size)
{
    size_t n = *cap == 0 ? 64 : *cap;
    void *p;

    if (need <= *cap)
        return;
    while (n < need)
        n *= 2;
    if ((p = realloc(*arr, n * elem_size)) == NULL)
        abort();
    *arr = p;
    *cap = n;
}

void sync_batch_keep(sync_batch_t *b, redisReply *reply)
{
    grow((void **)&b->replies, &b->cap_replies, b->num_replies + 1, sizeof(*b->replies));
    b->replies[b->num_replies++] = reply;
}

/* Whether entry id a comes before b. */
static int id_before(const uint64_t a[2], const uint64_t b[2])
{
    return a[0] < b[0] || (a[0] == b[0] && a[1] < b[1]);
}

long sync_batch_add_entries(sync_batch_t *b, unsigned bucket, const uint64_t after[2], const redisReply *entries)
{
    size_t start = b->num_events, need = start;
    uint64_t last[2] = {after[0], after[1]};

    if (entries->type != REDIS_REPLY_ARRAY)
        return -1;
    for (size_t i = 0; i != entries->elements; ++i) {
        long n = sync_event_count(entries->element[i]);
        if (n < 0)
            return -1;
        need += (size_t)n;
    }
    grow((void **)&b->events, &b->cap_events, need, sizeof(*b->events));
    for (size_t i = 0; i != entries->elements; ++i) {
        sync_event_t *ev = &b->events[b->num_events];
        long n = sync_event_decode(ev, bucket, entries->element[i]);
        /* The high-water mark relies on the stream's order: ids ascend, each past the mark. */
        if (n < 0 || !id_before(last, ev->entry)) {
            b->num_events = start;
            return -1;
        }
        last[0] = ev->entry[0];
        last[1] = ev->entry[1];
        b->num_events += (size_t)n;
    }
    if (entries->elements != 0) {
        if (!b->has[bucket]) {
            b->has[bucket] = 1;
            b->from[bucket][0] = after[0];
            b->from[bucket][1] = after[1];
        }
        b->to[bucket][0] = last[0];
        b->to[bucket][1] = last[1];
        b->entries += entries->elements;
    }
    return (long)entries->elements;
}
