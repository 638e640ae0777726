#include <assert.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sodium.h>
#include "idem_key.h"

int gw_idem_key_check(const char *key, size_t len)
{
    if (len == 0 || len > GW_IDEM_KEY_MAX_BYTES)
        return -1;
    for (size_t i = 0; i != len; ++i)
        if ((unsigned char)key[i] < 0x20 || (unsigned char)key[i] > 0x7e)
            return -1;
    return 0;
}

/* One part of a hashed input: its length (8 bytes, little-endian), then its bytes. */
static void update_part(crypto_generichash_state *h, const char *p, size_t len)
{
    unsigned char n[8];
    for (size_t i = 0; i != sizeof(n); ++i)
        n[i] = (unsigned char)((uint64_t)len >> (8 * i));
    crypto_generichash_update(h, n, sizeof(n));
    crypto_generichash_update(h, (const unsigned char *)p, len);
}

void gw_idem_fingerprint(char out[GW_IDEM_HEX_BYTES], const char *method, size_t method_len, const char *path, size_t path_len,
                         const char *body, size_t body_len)
{
    static const char version[] = "invitegate idempotency fingerprint 1";
    crypto_generichash_state h;
    unsigned char digest[GW_IDEM_DIGEST_BYTES];
    crypto_generichash_init(&h, NULL, 0, sizeof(digest));
    update_part(&h, version, sizeof(version) - 1);
    update_part(&h, method, method_len);
    update_part(&h, path, path_len);
    update_part(&h, body, body_len);
    crypto_generichash_final(&h, digest, sizeof(digest));
    sodium_bin2hex(out, GW_IDEM_HEX_BYTES, digest, sizeof(digest));
}

int gw_idem_record_key(char out[IG_KEY_MAX_BYTES], char scope_kind, const char *scope, const char *key, size_t key_len)
{
    unsigned char digest[GW_IDEM_DIGEST_BYTES];
    char hex[GW_IDEM_HEX_BYTES];
    crypto_generichash(digest, sizeof(digest), (const unsigned char *)key, key_len, NULL, 0);
    sodium_bin2hex(hex, sizeof(hex), digest, sizeof(digest));
    return ig_key_idem(out, scope_kind, scope, hex) < 0 ? -1 : 0;
}

/*
 * The in-flight set: chains of entries under one mutex. It is the one
 * structure the gateway's threads share on the request path, taken only by
 * requests that carry a key, for an insertion or a removal.
 */
#define INFLIGHT_CHAINS 4096

static pthread_mutex_t inflight_lock = PTHREAD_MUTEX_INITIALIZER;
static gw_idem_entry_t *inflight[INFLIGHT_CHAINS];

static gw_idem_entry_t **chain_of(const unsigned char *digest)
{
    return &inflight[((unsigned)digest[0] << 8 | digest[1]) % INFLIGHT_CHAINS];
}

int gw_idem_inflight_add(gw_idem_entry_t *e, const char *record_key)
{
    int ret = 0;
    crypto_generichash(e->digest, sizeof(e->digest), (const unsigned char *)record_key, strlen(record_key), NULL, 0);
    pthread_mutex_lock(&inflight_lock);
    gw_idem_entry_t **chain = chain_of(e->digest);
    for (gw_idem_entry_t *p = *chain; p != NULL; p = p->next) {
        if (memcmp(p->digest, e->digest, sizeof(e->digest)) == 0) {
            ret = -1;
            goto Exit;
        }
    }
    e->next = *chain;
    *chain = e;
Exit:
    pthread_mutex_unlock(&inflight_lock);
    return ret;
}

void gw_idem_inflight_remove(gw_idem_entry_t *e)
{
    pthread_mutex_lock(&inflight_lock);
    gw_idem_entry_t **p = chain_of(e->digest);
    while (*p != e) {
        assert(*p != NULL);
        p = &(*p)->next;
    }
    *p = e->next;
    e->next = NULL;
    pthread_mutex_unlock(&inflight_lock);
}
