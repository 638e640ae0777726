#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "ratelimit.h"

#define NS_PER_SEC 1000000000u

enum { KEY_ADDR = 1, KEY_EMAIL = 2 }; /* first byte of a key; 0 marks an entry never used */

typedef struct entry_t {
    uint64_t tat;                              /**< theoretical arrival time (ns); 0 or past = free */
    unsigned char key[GW_RATELIMIT_KEY_BYTES]; /**< whose */
} entry_t;

struct gw_ratelimit_t {
    uint64_t interval_ns;                              /**< T = 1 s / rate */
    unsigned burst;                                    /**< requests allowed at once */
    size_t set_mask;                                   /**< sets - 1 (a power of two) */
    unsigned char hash_key[crypto_shorthash_KEYBYTES]; /**< keys the set hash */
    pthread_mutex_t locks[GW_RATELIMIT_LOCKS];         /**< set i is guarded by locks[i % GW_RATELIMIT_LOCKS] */
    char policy[4][64];                                /**< RateLimit-Policy per combination of GW_LIMIT_* */
    size_t policy_len[4];
    entry_t entries[]; /**< (set_mask + 1) * GW_RATELIMIT_WAYS */
};

gw_ratelimit_result_t gw_ratelimit_step(uint64_t *tat, uint64_t now_ns, uint64_t interval_ns, unsigned burst)
{
    gw_ratelimit_result_t r = {0, 0, 0};
    uint64_t base = *tat > now_ns ? *tat : now_ns, tolerance = interval_ns * (burst - 1), ahead = base - now_ns;
    assert(burst >= 1 && interval_ns >= 1);
    if (ahead > tolerance) {
        r.wait_ns = ahead - tolerance;
        return r;
    }
    *tat = base + interval_ns;
    /* Units left: how many more requests fit in the tolerance at this instant. */
    uint64_t slack = tolerance - ahead;
    r.allowed = 1;
    r.remaining = (unsigned)(slack / interval_ns);
    r.wait_ns = interval_ns - slack % interval_ns;
    return r;
}

static void format_policies(gw_ratelimit_t *rl, unsigned rate)
{
    unsigned window = (rl->burst + rate - 1) / rate;
    for (unsigned p = 1; p != 4; ++p) {
        int n = 0;
        if (p & GW_LIMIT_ADDR)
            n += snprintf(rl->policy[p] + n, sizeof(rl->policy[p]) - (size_t)n, "\"addr\";q=%u;w=%u", rl->burst, window);
        if (p & GW_LIMIT_EMAIL)
            n += snprintf(rl->policy[p] + n, sizeof(rl->policy[p]) - (size_t)n, "%s\"email\";q=%u;w=%u", n ? ", " : "", rl->burst,
                          window);
        rl->policy_len[p] = (size_t)n;
    }
}

gw_ratelimit_t *gw_ratelimit_new(unsigned rate, unsigned burst, size_t entries, const unsigned char *hash_key)
{
    size_t sets = 1;
    assert(rate >= 1 && rate <= NS_PER_SEC && burst >= 1);
    while (sets * GW_RATELIMIT_WAYS < entries)
        sets *= 2;
    gw_ratelimit_t *rl = calloc(1, sizeof(*rl) + sets * GW_RATELIMIT_WAYS * sizeof(entry_t));
    if (rl == NULL)
        return NULL;
    rl->interval_ns = NS_PER_SEC / rate;
    rl->burst = burst;
    rl->set_mask = sets - 1;
    if (hash_key != NULL)
        memcpy(rl->hash_key, hash_key, sizeof(rl->hash_key));
    else
        crypto_shorthash_keygen(rl->hash_key);
    for (size_t i = 0; i != GW_RATELIMIT_LOCKS; ++i)
        pthread_mutex_init(&rl->locks[i], NULL);
    format_policies(rl, rate);
    return rl;
}

void gw_ratelimit_free(gw_ratelimit_t *rl)
{
    if (rl == NULL)
        return;
    for (size_t i = 0; i != GW_RATELIMIT_LOCKS; ++i)
        pthread_mutex_destroy(&rl->locks[i]);
    free(rl);
}

/*
 * The entry of key in its set: its own, else the one with the lowest TAT,
 * which is a free one (never used, or its TAT passed) when the set has one,
 * else the live key that would have been free soonest (it starts afresh).
 */
static entry_t *entry_of(entry_t *set, const gw_ratelimit_key_t *key)
{
    entry_t *victim = &set[0];
    for (size_t w = 0; w != GW_RATELIMIT_WAYS; ++w) {
        if (memcmp(set[w].key, key->bytes, GW_RATELIMIT_KEY_BYTES) == 0)
            return &set[w];
        if (set[w].tat < victim->tat)
            victim = &set[w];
    }
    memcpy(victim->key, key->bytes, GW_RATELIMIT_KEY_BYTES);
    victim->tat = 0;
    return victim;
}

gw_ratelimit_result_t gw_ratelimit_take(gw_ratelimit_t *rl, const gw_ratelimit_key_t *key, uint64_t now_ns)
{
    unsigned char h[crypto_shorthash_BYTES];
    uint64_t hash = 0;
    crypto_shorthash(h, key->bytes, GW_RATELIMIT_KEY_BYTES, rl->hash_key);
    memcpy(&hash, h, sizeof(hash));
    size_t set = (size_t)hash & rl->set_mask;
    pthread_mutex_t *lock = &rl->locks[set % GW_RATELIMIT_LOCKS];

    pthread_mutex_lock(lock);
    entry_t *e = entry_of(&rl->entries[set * GW_RATELIMIT_WAYS], key);
    gw_ratelimit_result_t r = gw_ratelimit_step(&e->tat, now_ns, rl->interval_ns, rl->burst);
    pthread_mutex_unlock(lock);
    return r;
}

void gw_ratelimit_addr_key(gw_ratelimit_key_t *out, const ig_addr_t *addr)
{
    ig_addr_t client;
    ig_addr_client(&client, addr);
    memset(out, 0, sizeof(*out));
    out->bytes[0] = KEY_ADDR;
    memcpy(out->bytes + 1, client.b, sizeof(client.b));
}

void gw_ratelimit_email_key(gw_ratelimit_key_t *out, const unsigned char hash8[8])
{
    memset(out, 0, sizeof(*out));
    out->bytes[0] = KEY_EMAIL;
    memcpy(out->bytes + 1, hash8, 8);
}

const char *gw_ratelimit_policy(const gw_ratelimit_t *rl, unsigned policies, size_t *len)
{
    assert(policies >= 1 && policies <= 3);
    *len = rl->policy_len[policies];
    return rl->policy[policies];
}

static unsigned whole_seconds(uint64_t ns)
{
    return (unsigned)((ns + NS_PER_SEC - 1) / NS_PER_SEC);
}

size_t gw_ratelimit_format_item(char *out, size_t len, size_t cap, const char *name, const gw_ratelimit_result_t *r)
{
    if (len >= cap)
        return cap;
    int n =
        snprintf(out + len, cap - len, "%s\"%s\";r=%u;t=%u", len != 0 ? ", " : "", name, r->remaining, whole_seconds(r->wait_ns));
    if (n < 0 || (size_t)n >= cap - len) {
        out[len] = '\0';
        return cap;
    }
    return len + (size_t)n;
}

unsigned gw_ratelimit_retry_after(const gw_ratelimit_result_t *r)
{
    unsigned s = whole_seconds(r->wait_ns);
    return s != 0 ? s : 1;
}
