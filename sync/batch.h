/*
 * A batch: the stream entries (of any bucket) applied to PostgreSQL in one
 * transaction, which also moves each bucket's high-water mark from `from`
 * (the entry before the batch's first) to `to` (its last entry).
 *
 * The batch owns the Redis replies its events were decoded from, because the
 * events borrow their strings; sync_batch_clear frees them and keeps the
 * event array for the next batch.
 */
#ifndef SYNC_BATCH_H
#define SYNC_BATCH_H

#include <stddef.h>
#include <stdint.h>
#include <hiredis/hiredis.h>
#include "event.h"
#include "ig_keys.h"

typedef struct sync_batch_t {
    uint64_t seq;                     /**< batch number since start, for logs */
    int has[IG_BUCKETS_MAX];          /**< entries of the bucket's stream were read into the batch */
    uint64_t from[IG_BUCKETS_MAX][2]; /**< per bucket read: the entry id the batch follows (the mark when it was read) */
    uint64_t to[IG_BUCKETS_MAX][2];   /**< and the id of its last entry */
    size_t entries;                   /**< stream entries in the batch */
    sync_event_t *events;             /**< owned array, num_events used */
    size_t num_events;                /**< events in this batch */
    size_t cap_events;                /**< allocated slots in events */
    redisReply **replies;             /**< owned replies the events borrow from */
    size_t num_replies;               /**< replies held */
    size_t cap_replies;               /**< allocated slots in replies */
} sync_batch_t;

/** Starts an empty batch with no memory. */
void sync_batch_init(sync_batch_t *b);

/** Frees the replies and empties b, keeping the event array; seq is kept. */
void sync_batch_clear(sync_batch_t *b);

/** Frees everything b holds. */
void sync_batch_dispose(sync_batch_t *b);

/** Takes ownership of reply: it is freed by the next sync_batch_clear. Aborts when out of memory. */
void sync_batch_keep(sync_batch_t *b, redisReply *reply);

/**
 * Decodes every element of entries (an array of [id, fields] as XREAD
 * returns them) from bucket's stream and appends its events (one per item
 * of an entry in the items form). after is the id the entries follow (the
 * read position); the bucket's range in b grows to the last entry. The
 * reply holding entries must be kept by b (sync_batch_keep). Returns the
 * number of entries added, or -1 when an entry has no usable id or the ids
 * do not ascend past after (protocol error; nothing of entries is kept
 * then).
 */
long sync_batch_add_entries(sync_batch_t *b, unsigned bucket, const uint64_t after[2], const redisReply *entries);

#endif
