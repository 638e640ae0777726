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
    b->source = NULL;
    b->first_delivery = 0;
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

long sync_batch_add_entries(sync_batch_t *b, unsigned bucket, const redisReply *entries)
{
    size_t start = b->num_events, need = start;

    if (entries->type != REDIS_REPLY_ARRAY)
        return -1;
    for (size_t i = 0; i != entries->elements; ++i) {
        long n = sync_event_count(entries->element[i]);
        if (n < 0)
            return -1;
        need += (size_t)n;
    }
    grow((void **)&b->events, &b->cap_events, need, sizeof(*b->events));
    for (size_t i = 0; i != entries->elements; ++i)
        b->num_events += (size_t)sync_event_decode(&b->events[b->num_events], bucket, entries->element[i]);
    return (long)entries->elements;
}
