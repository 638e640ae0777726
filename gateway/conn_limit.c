#include <assert.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "conn_limit.h"
#include "ig_net.h"

#define SHARD_BITS 4
#define NIL UINT32_MAX
#define KEY_BYTES 16
/* Entries a shard holds beyond twice its even share of max_total. */
#define SHARD_SLACK 16

_Static_assert(GW_CONN_SHARDS == 1 << SHARD_BITS, "GW_CONN_SHARDS is 2^SHARD_BITS");

typedef struct entry_t {
    uint8_t key[KEY_BYTES]; /**< the address (IPv4 as ::ffff:a.b.c.d, IPv6 as its /64) */
    uint32_t count;         /**< open connections from it; the entry is in a chain while this is not 0 */
    uint32_t bucket;        /**< the chain it is in */
    uint32_t next;          /**< next entry of that chain, or of the free list; NIL ends both */
} entry_t;

typedef struct shard_t {
    _Alignas(64) pthread_mutex_t lock; /**< guards everything below; a cache line of its own */
    uint32_t *buckets;                 /**< heads of the chains (bucket_mask + 1 of them) */
    entry_t *entries;                  /**< the pool (capacity of them) */
    uint32_t free;                     /**< head of the free list */
} shard_t;

struct gw_conn_limit_t {
    atomic_uint open;                                  /**< admitted and not released, all threads */
    unsigned max_total;                                /**< the limit of open */
    unsigned max_per_address;                          /**< 0 = none; then no shard is allocated */
    uint32_t bucket_mask;                              /**< buckets per shard - 1 */
    unsigned char hash_key[crypto_shorthash_KEYBYTES]; /**< random: clients cannot predict the shard of an address */
    shard_t shards[GW_CONN_SHARDS];
};

static const char *const verdict_names[GW_CONN_VERDICTS] = {"admitted", "max_connections", "per_address", "address_table_full"};

const char *gw_conn_verdict_name(gw_conn_verdict_t verdict)
{
    return verdict_names[verdict];
}

gw_conn_limit_t *gw_conn_limit_create(unsigned max_total, unsigned max_per_address)
{
    gw_conn_limit_t *limit;
    uint32_t capacity, nbuckets = 1;

    assert(max_total >= 1);
    if ((limit = aligned_alloc(_Alignof(gw_conn_limit_t), sizeof(*limit))) == NULL)
        return NULL;
    memset(limit, 0, sizeof(*limit));
    atomic_init(&limit->open, 0);
    limit->max_total = max_total;
    limit->max_per_address = max_per_address;
    randombytes_buf(limit->hash_key, sizeof(limit->hash_key));
    if (max_per_address == 0)
        return limit;

    /* Distinct addresses are at most max_total; with a keyed hash a shard
     * gets far more than twice its share only by astronomical bad luck. */
    capacity = max_total / GW_CONN_SHARDS * 2 + SHARD_SLACK;
    if (capacity > max_total)
        capacity = max_total;
    while (nbuckets < capacity)
        nbuckets <<= 1;
    limit->bucket_mask = nbuckets - 1;
    for (size_t s = 0; s != GW_CONN_SHARDS; ++s) {
        shard_t *shard = &limit->shards[s];
        pthread_mutex_init(&shard->lock, NULL);
        shard->buckets = malloc(nbuckets * sizeof(*shard->buckets));
        shard->entries = calloc(capacity, sizeof(*shard->entries));
        if (shard->buckets == NULL || shard->entries == NULL) {
            gw_conn_limit_destroy(limit);
            return NULL;
        }
        for (uint32_t b = 0; b != nbuckets; ++b)
            shard->buckets[b] = NIL;
        for (uint32_t i = 0; i != capacity; ++i)
            shard->entries[i].next = i + 1 != capacity ? i + 1 : NIL;
        shard->free = 0;
    }
    return limit;
}

void gw_conn_limit_destroy(gw_conn_limit_t *limit)
{
    if (limit == NULL)
        return;
    if (limit->max_per_address != 0) {
        for (size_t s = 0; s != GW_CONN_SHARDS; ++s) {
            free(limit->shards[s].buckets);
            free(limit->shards[s].entries);
            pthread_mutex_destroy(&limit->shards[s].lock);
        }
    }
    free(limit);
}

/* The key an address is counted under: its client (ig_addr_client); zero for a peer that is neither IPv4 nor IPv6. */
static void address_key(uint8_t key[KEY_BYTES], const struct sockaddr *peer)
{
    ig_addr_t addr, client;
    memset(key, 0, KEY_BYTES);
    /* An IPv4 client of a dual-stack listener arrives mapped and counts as that IPv4 address. */
    if (ig_addr_from_sockaddr(&addr, peer) != 0)
        return;
    ig_addr_client(&client, &addr);
    memcpy(key, client.b, KEY_BYTES);
}

gw_conn_verdict_t gw_conn_limit_acquire(gw_conn_limit_t *limit, uint32_t *ticket, const struct sockaddr *peer)
{
    uint8_t key[KEY_BYTES];
    uint64_t hash;
    gw_conn_verdict_t verdict = GW_CONN_ADMITTED;
    uint32_t i;

    if (atomic_fetch_add_explicit(&limit->open, 1, memory_order_relaxed) >= limit->max_total) {
        atomic_fetch_sub_explicit(&limit->open, 1, memory_order_relaxed);
        return GW_CONN_OVER_TOTAL;
    }
    if (limit->max_per_address == 0) {
        *ticket = GW_CONN_NO_TICKET;
        return GW_CONN_ADMITTED;
    }

    address_key(key, peer);
    crypto_shorthash((unsigned char *)&hash, key, sizeof(key), limit->hash_key);
    uint32_t s = (uint32_t)hash & (GW_CONN_SHARDS - 1), bucket = (uint32_t)(hash >> SHARD_BITS) & limit->bucket_mask;
    shard_t *shard = &limit->shards[s];

    pthread_mutex_lock(&shard->lock);
    for (i = shard->buckets[bucket]; i != NIL; i = shard->entries[i].next)
        if (memcmp(shard->entries[i].key, key, sizeof(key)) == 0)
            break;
    if (i == NIL && (i = shard->free) != NIL) {
        entry_t *e = &shard->entries[i];
        shard->free = e->next;
        memcpy(e->key, key, sizeof(key));
        e->count = 0;
        e->bucket = bucket;
        e->next = shard->buckets[bucket];
        shard->buckets[bucket] = i;
    }
    if (i == NIL) {
        verdict = GW_CONN_TABLE_FULL;
    } else if (shard->entries[i].count >= limit->max_per_address) {
        verdict = GW_CONN_OVER_ADDRESS;
    } else {
        ++shard->entries[i].count;
        *ticket = i << SHARD_BITS | s;
    }
    pthread_mutex_unlock(&shard->lock);

    if (verdict != GW_CONN_ADMITTED)
        atomic_fetch_sub_explicit(&limit->open, 1, memory_order_relaxed);
    return verdict;
}

void gw_conn_limit_release(gw_conn_limit_t *limit, uint32_t ticket)
{
    if (ticket != GW_CONN_NO_TICKET) {
        shard_t *shard = &limit->shards[ticket & (GW_CONN_SHARDS - 1)];
        uint32_t i = ticket >> SHARD_BITS;
        entry_t *e = &shard->entries[i];

        pthread_mutex_lock(&shard->lock);
        assert(e->count != 0);
        if (--e->count == 0) {
            uint32_t *link = &shard->buckets[e->bucket];
            while (*link != i)
                link = &shard->entries[*link].next;
            *link = e->next;
            e->next = shard->free;
            shard->free = i;
        }
        pthread_mutex_unlock(&shard->lock);
    }
    unsigned before = atomic_fetch_sub_explicit(&limit->open, 1, memory_order_relaxed);
    assert(before != 0);
    (void)before;
}

size_t gw_conn_limit_open(gw_conn_limit_t *limit)
{
    return atomic_load_explicit(&limit->open, memory_order_relaxed);
}
