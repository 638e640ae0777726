/* The pure parts of Idempotency-Key (gateway/idem_key.c): syntax, fingerprint, record key, in-flight set. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "idem_key.h"

static int check(const char *key)
{
    return gw_idem_key_check(key, strlen(key));
}

static void keys_are_1_to_255_printable_ascii_characters(void **state)
{
    char key[GW_IDEM_KEY_MAX_BYTES + 2];
    assert_int_equal(check("a"), 0);
    assert_int_equal(check("8e03978e-40d5-43e8-bc93-6894a57f9324"), 0);
    assert_int_equal(check("\"quoted, as a structured field\""), 0);
    assert_int_equal(check("with inner spaces ~!@#$%^&*()"), 0);
    memset(key, 'k', GW_IDEM_KEY_MAX_BYTES);
    key[GW_IDEM_KEY_MAX_BYTES] = '\0';
    assert_int_equal(check(key), 0);
    key[GW_IDEM_KEY_MAX_BYTES] = 'k', key[GW_IDEM_KEY_MAX_BYTES + 1] = '\0';
    assert_int_equal(check(key), -1);
    assert_int_equal(check(""), -1);
    assert_int_equal(check("tab\there"), -1);
    assert_int_equal(check("del\x7f"), -1);
    assert_int_equal(check("caf\xc3\xa9"), -1);
    assert_int_equal(gw_idem_key_check("nul\0inside", 10), -1);
}

static void fp(char out[GW_IDEM_HEX_BYTES], const char *method, const char *path, const char *body)
{
    gw_idem_fingerprint(out, method, strlen(method), path, strlen(path), body, strlen(body));
}

static void a_fingerprint_changes_with_every_part_of_the_request(void **state)
{
    char a[GW_IDEM_HEX_BYTES], b[GW_IDEM_HEX_BYTES];
    fp(a, "POST", "/api/waitlist/admit", "{\"count\": 2}");
    assert_int_equal(strlen(a), 32);
    fp(b, "POST", "/api/waitlist/admit", "{\"count\": 2}");
    assert_string_equal(a, b);
    fp(b, "POST", "/api/waitlist/admit", "{\"count\": 3}");
    assert_string_not_equal(a, b);
    fp(b, "PUT", "/api/waitlist/admit", "{\"count\": 2}");
    assert_string_not_equal(a, b);
    fp(b, "POST", "/api/points/a%40b.io/spend", "{\"count\": 2}");
    assert_string_not_equal(a, b);
    /* Parts are hashed with their lengths: moving bytes from one part to the next is another request. */
    fp(a, "POST", "/api/x", "y");
    fp(b, "POST", "/api/xy", "");
    assert_string_not_equal(a, b);
    fp(a, "POST", "", "");
    fp(b, "POS", "T", "");
    assert_string_not_equal(a, b);
}

static void record_keys_live_in_bucket_0_by_scope_and_hash(void **state)
{
    char a[IG_KEY_MAX_BYTES], b[IG_KEY_MAX_BYTES];
    assert_int_equal(gw_idem_record_key(a, 't', "ops", "k-1", 3), 0);
    assert_int_equal(strncmp(a, "ig:{0}:idem:t:ops:", 18), 0);
    assert_int_equal(strlen(a), 18 + 32);
    /* No byte of the client's key in the name. */
    assert_null(strstr(a, "k-1"));
    assert_int_equal(gw_idem_record_key(b, 't', "ops", "k-1", 3), 0);
    assert_string_equal(a, b);
    assert_int_equal(gw_idem_record_key(b, 't', "ops", "k-2", 3), 0);
    assert_string_not_equal(a, b);
    assert_int_equal(gw_idem_record_key(b, 't', "ci", "k-1", 3), 0);
    assert_string_not_equal(a, b);
    assert_int_equal(gw_idem_record_key(b, 'a', "127.0.0.1", "k-1", 3), 0);
    assert_int_equal(strncmp(b, "ig:{0}:idem:a:127.0.0.1:", 24), 0);
    /* The longest scopes fit: a 64-byte token name, an IPv6 address. */
    char name[65];
    memset(name, 'n', 64);
    name[64] = '\0';
    assert_int_equal(gw_idem_record_key(b, 't', name, "k", 1), 0);
    assert_int_equal(gw_idem_record_key(b, 'a', "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", "k", 1), 0);
    char huge[IG_KEY_MAX_BYTES];
    memset(huge, 'h', sizeof(huge) - 1);
    huge[sizeof(huge) - 1] = '\0';
    assert_int_equal(gw_idem_record_key(b, 't', huge, "k", 1), -1);
}

static void a_key_is_in_flight_once_until_removed(void **state)
{
    gw_idem_entry_t first, second, other;
    assert_int_equal(gw_idem_inflight_add(&first, "ig:{0}:idem:t:ops:aa"), 0);
    assert_int_equal(gw_idem_inflight_add(&second, "ig:{0}:idem:t:ops:aa"), -1);
    assert_int_equal(gw_idem_inflight_add(&other, "ig:{0}:idem:t:ci:aa"), 0);
    gw_idem_inflight_remove(&first);
    assert_int_equal(gw_idem_inflight_add(&second, "ig:{0}:idem:t:ops:aa"), 0);
    assert_int_equal(gw_idem_inflight_add(&first, "ig:{0}:idem:t:ci:aa"), -1);
    gw_idem_inflight_remove(&other);
    gw_idem_inflight_remove(&second);
}

#define RACERS 4
#define ROUNDS 2000

static int wins[RACERS];

/* Each round, every thread tries the same key; the winner removes it when all have tried. */
static pthread_barrier_t tried, removed;

static void *race(void *arg)
{
    int me = (int)(intptr_t)arg;
    for (int round = 0; round != ROUNDS; ++round) {
        gw_idem_entry_t e;
        char key[64];
        snprintf(key, sizeof(key), "ig:{0}:idem:a:race:%d", round);
        int won = gw_idem_inflight_add(&e, key) == 0;
        wins[me] += won;
        pthread_barrier_wait(&tried);
        if (won)
            gw_idem_inflight_remove(&e);
        pthread_barrier_wait(&removed);
    }
    return NULL;
}

static void threads_racing_for_a_key_get_it_once(void **state)
{
    pthread_t t[RACERS];
    pthread_barrier_init(&tried, NULL, RACERS);
    pthread_barrier_init(&removed, NULL, RACERS);
    for (int i = 0; i != RACERS; ++i)
        pthread_create(&t[i], NULL, race, (void *)(intptr_t)i);
    int total = 0;
    for (int i = 0; i != RACERS; ++i) {
        pthread_join(t[i], NULL);
        total += wins[i];
    }
    assert_int_equal(total, ROUNDS);
    pthread_barrier_destroy(&tried);
    pthread_barrier_destroy(&removed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(keys_are_1_to_255_printable_ascii_characters),
        cmocka_unit_test(a_fingerprint_changes_with_every_part_of_the_request),
        cmocka_unit_test(record_keys_live_in_bucket_0_by_scope_and_hash),
        cmocka_unit_test(a_key_is_in_flight_once_until_removed),
        cmocka_unit_test(threads_racing_for_a_key_get_it_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
