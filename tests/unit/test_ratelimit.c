/* The gateway's rate limit: GCRA arithmetic on injected times, the bounded table, the header fields (gateway/ratelimit.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "ratelimit.h"

#define SEC 1000000000ull
#define MS 1000000ull

static const unsigned char hash_key[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

static gw_ratelimit_key_t key_of(const char *addr)
{
    gw_ratelimit_key_t k;
    ig_addr_t a;
    assert_int_equal(ig_addr_parse(&a, addr, strlen(addr)), 0);
    gw_ratelimit_addr_key(&k, &a);
    return k;
}

static void burst_then_rate(void **state)
{
    uint64_t tat = 0, t = 10 * SEC;
    gw_ratelimit_result_t r;
    /* burst 3 at 1/s: three at once, each saying what is left. */
    for (unsigned i = 0; i != 3; ++i) {
        r = gw_ratelimit_step(&tat, t, SEC, 3);
        assert_true(r.allowed);
        assert_int_equal(r.remaining, 2 - i);
        assert_int_equal(r.wait_ns, SEC);
    }
    /* The fourth is refused, and says exactly when the next would pass. */
    r = gw_ratelimit_step(&tat, t, SEC, 3);
    assert_false(r.allowed);
    assert_int_equal(r.remaining, 0);
    assert_int_equal(r.wait_ns, SEC);
    assert_int_equal(tat, 13 * SEC); /* a refusal costs nothing */
    r = gw_ratelimit_step(&tat, t + 400 * MS, SEC, 3);
    assert_false(r.allowed);
    assert_int_equal(r.wait_ns, 600 * MS);
    r = gw_ratelimit_step(&tat, t + SEC - 1, SEC, 3);
    assert_false(r.allowed);
    assert_int_equal(r.wait_ns, 1);
    /* One unit a second after that. */
    r = gw_ratelimit_step(&tat, t + SEC, SEC, 3);
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 0);
    assert_false(gw_ratelimit_step(&tat, t + SEC, SEC, 3).allowed);
    r = gw_ratelimit_step(&tat, t + 2 * SEC + 500 * MS, SEC, 3);
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 0);
    assert_int_equal(r.wait_ns, 500 * MS);
    /* Quiet for a while: the whole burst again, never more. */
    r = gw_ratelimit_step(&tat, t + 60 * SEC, SEC, 3);
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 2);
}

static void sustained_rate_is_the_configured_one(void **state)
{
    /* 20/s, burst 40, a request every millisecond for 10 s: 40 + 20 * 10 pass. */
    uint64_t tat = 0, interval = SEC / 20;
    unsigned passed = 0;
    for (uint64_t t = SEC; t < 11 * SEC; t += MS)
        passed += gw_ratelimit_step(&tat, t, interval, 40).allowed;
    assert_in_range(passed, 40 + 199, 40 + 200);
    /* Burst 1: no two requests closer than the interval. */
    tat = 0;
    assert_true(gw_ratelimit_step(&tat, SEC, interval, 1).allowed);
    gw_ratelimit_result_t r = gw_ratelimit_step(&tat, SEC + interval - 1, interval, 1);
    assert_false(r.allowed);
    assert_int_equal(r.wait_ns, 1);
    assert_true(gw_ratelimit_step(&tat, SEC + interval, interval, 1).allowed);
}

static void remaining_grows_back_unit_by_unit(void **state)
{
    uint64_t tat = 0, t = SEC;
    for (unsigned i = 0; i != 5; ++i)
        assert_true(gw_ratelimit_step(&tat, t, 100 * MS, 5).allowed);
    /* 250 ms later two units are back: this request takes one, one is left. */
    gw_ratelimit_result_t r = gw_ratelimit_step(&tat, t + 250 * MS, 100 * MS, 5);
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 1);
    assert_int_equal(r.wait_ns, 50 * MS);
}

static void one_table_for_every_key(void **state)
{
    gw_ratelimit_t *rl = gw_ratelimit_new(1, 2, 1024, hash_key);
    gw_ratelimit_key_t a = key_of("192.0.2.1"), b = key_of("192.0.2.2");
    assert_true(gw_ratelimit_take(rl, &a, SEC).allowed);
    assert_true(gw_ratelimit_take(rl, &a, SEC).allowed);
    assert_false(gw_ratelimit_take(rl, &a, SEC).allowed);
    assert_true(gw_ratelimit_take(rl, &b, SEC).allowed);
    /* An IPv6 client is its /64; IPv4-mapped is the IPv4 client. */
    gw_ratelimit_key_t v6a = key_of("2001:db8:0:7::1"), v6b = key_of("2001:db8:0:7:ffff:ffff:ffff:ffff"),
                       v6c = key_of("2001:db8:0:8::1"), mapped = key_of("::ffff:192.0.2.1");
    assert_true(gw_ratelimit_take(rl, &v6a, SEC).allowed);
    assert_true(gw_ratelimit_take(rl, &v6b, SEC).allowed);
    assert_false(gw_ratelimit_take(rl, &v6a, SEC).allowed);
    assert_true(gw_ratelimit_take(rl, &v6c, SEC).allowed);
    assert_false(gw_ratelimit_take(rl, &mapped, SEC).allowed);
    /* An e-mail is a key of its own kind, even with the same bytes. */
    unsigned char hash8[8] = {0xc0, 0, 2, 1, 0, 0, 0, 0};
    gw_ratelimit_key_t e;
    gw_ratelimit_email_key(&e, hash8);
    assert_true(gw_ratelimit_take(rl, &e, SEC).allowed);
    gw_ratelimit_free(rl);
}

static void a_flood_of_new_keys_keeps_memory_and_refusals(void **state)
{
    /* One set of 8 entries: every key lands in it. */
    gw_ratelimit_t *rl = gw_ratelimit_new(1, 3, 1, hash_key);
    gw_ratelimit_key_t abuser = key_of("198.51.100.1"), k;
    for (unsigned i = 0; i != 3; ++i)
        assert_true(gw_ratelimit_take(rl, &abuser, SEC).allowed);
    /* 100,000 other clients, one request each: each takes the entry with the
     * lowest TAT, which is never the client being refused. */
    for (uint32_t i = 0; i != 100000; ++i) {
        ig_addr_t a = {
            {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, (unsigned char)(i >> 16), (unsigned char)(i >> 8), (unsigned char)i}};
        gw_ratelimit_addr_key(&k, &a);
        assert_true(gw_ratelimit_take(rl, &k, SEC + i).allowed);
    }
    assert_false(gw_ratelimit_take(rl, &abuser, SEC + 100000).allowed);
    gw_ratelimit_free(rl);
}

static void live_entries_go_lowest_first(void **state)
{
    gw_ratelimit_t *rl = gw_ratelimit_new(1, 2, 1, hash_key);
    gw_ratelimit_key_t keys[9];
    char text[32];
    for (unsigned i = 0; i != 9; ++i) {
        snprintf(text, sizeof(text), "192.0.2.%u", i + 1);
        keys[i] = key_of(text);
    }
    /* Keys 0..7 fill the set, key 0 with the lowest TAT (one request, earliest). */
    assert_true(gw_ratelimit_take(rl, &keys[0], SEC).allowed);
    for (unsigned i = 1; i != 8; ++i) {
        assert_true(gw_ratelimit_take(rl, &keys[i], SEC + i).allowed);
        assert_true(gw_ratelimit_take(rl, &keys[i], SEC + i).allowed);
    }
    /* The ninth takes key 0's entry; keys 1..7 keep theirs (still refused). */
    assert_true(gw_ratelimit_take(rl, &keys[8], SEC + 10).allowed);
    for (unsigned i = 1; i != 8; ++i)
        assert_false(gw_ratelimit_take(rl, &keys[i], SEC + 10).allowed);
    /* Key 0 was forgotten: it starts with a full burst. */
    gw_ratelimit_result_t r = gw_ratelimit_take(rl, &keys[0], SEC + 11);
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 1);
    gw_ratelimit_free(rl);
}

typedef struct racer_t {
    gw_ratelimit_t *rl;
    gw_ratelimit_key_t key;
    unsigned passed;
} racer_t;

static void *race(void *arg)
{
    racer_t *r = arg;
    for (unsigned i = 0; i != 1000; ++i)
        r->passed += gw_ratelimit_take(r->rl, &r->key, 5 * SEC).allowed;
    return NULL;
}

static void threads_share_one_burst(void **state)
{
    gw_ratelimit_t *rl = gw_ratelimit_new(20, 40, GW_RATELIMIT_ENTRIES, NULL);
    racer_t racers[4];
    pthread_t tids[4];
    for (unsigned i = 0; i != 4; ++i) {
        racers[i] = (racer_t){rl, key_of("203.0.113.9"), 0};
        assert_int_equal(pthread_create(&tids[i], NULL, race, &racers[i]), 0);
    }
    unsigned total = 0;
    for (unsigned i = 0; i != 4; ++i) {
        pthread_join(tids[i], NULL);
        total += racers[i].passed;
    }
    assert_int_equal(total, 40);
    gw_ratelimit_free(rl);
}

static void header_fields(void **state)
{
    size_t len;
    gw_ratelimit_t *rl = gw_ratelimit_new(20, 40, 8, hash_key);
    assert_string_equal(gw_ratelimit_policy(rl, GW_LIMIT_ADDR, &len), "\"addr\";q=40;w=2");
    assert_int_equal(len, strlen("\"addr\";q=40;w=2"));
    assert_string_equal(gw_ratelimit_policy(rl, GW_LIMIT_ADDR | GW_LIMIT_EMAIL, &len), "\"addr\";q=40;w=2, \"email\";q=40;w=2");
    gw_ratelimit_free(rl);
    rl = gw_ratelimit_new(3, 2, 8, hash_key); /* a burst back within a second still says w=1 */
    assert_string_equal(gw_ratelimit_policy(rl, GW_LIMIT_ADDR, &len), "\"addr\";q=2;w=1");
    gw_ratelimit_free(rl);
    rl = gw_ratelimit_new(1, 40, 8, hash_key);
    assert_string_equal(gw_ratelimit_policy(rl, GW_LIMIT_ADDR, &len), "\"addr\";q=40;w=40");
    gw_ratelimit_free(rl);

    char out[64];
    gw_ratelimit_result_t ok = {1, 39, 50 * MS}, refused = {0, 0, 1500 * MS};
    len = gw_ratelimit_format_item(out, 0, sizeof(out), "addr", &ok);
    assert_string_equal(out, "\"addr\";r=39;t=1");
    len = gw_ratelimit_format_item(out, len, sizeof(out), "email", &refused);
    assert_string_equal(out, "\"addr\";r=39;t=1, \"email\";r=0;t=2");
    assert_int_equal(len, strlen(out));
    assert_int_equal(gw_ratelimit_format_item(out, len, len + 4, "x", &ok), len + 4);
    assert_int_equal(gw_ratelimit_retry_after(&refused), 2);
    gw_ratelimit_result_t tiny = {0, 0, 1};
    assert_int_equal(gw_ratelimit_retry_after(&tiny), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(burst_then_rate),
        cmocka_unit_test(sustained_rate_is_the_configured_one),
        cmocka_unit_test(remaining_grows_back_unit_by_unit),
        cmocka_unit_test(one_table_for_every_key),
        cmocka_unit_test(a_flood_of_new_keys_keeps_memory_and_refusals),
        cmocka_unit_test(live_entries_go_lowest_first),
        cmocka_unit_test(threads_share_one_burst),
        cmocka_unit_test(header_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
