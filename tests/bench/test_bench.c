/*
 * Unit tests of invitegate-bench's pure modules: the latency histogram, the
 * HTTP answer parser, the pool's tickets, the waitlist's people, the
 * workload mixes and their requests, and the CPU account of several Redis
 * processes (a cluster's masters).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <unistd.h>
#include <cmocka.h>
#include <sodium.h>
#include "cpu.h"
#include "hist.h"
#include "http_resp.h"
#include "ig_priority.h"
#include "pool.h"
#include "waitlist.h"
#include "workload.h"

static void test_hist_percentiles(void **state)
{
    bench_hist_t *h = malloc(sizeof(*h));
    (void)state;
    assert_non_null(h);
    bench_hist_reset(h);
    assert_int_equal(bench_hist_percentile(h, 50), 0);
    /* 1..100000 ns: every percentile within the histogram's 1 % precision. */
    for (uint64_t v = 1; v <= 100000; ++v)
        bench_hist_record(h, v);
    assert_int_equal(h->total, 100000);
    assert_int_equal(h->min_ns, 1);
    assert_int_equal(bench_hist_percentile(h, 100), 100000);
    static const double pcts[] = {1, 50, 90, 99, 99.9};
    for (size_t i = 0; i != sizeof(pcts) / sizeof(pcts[0]); ++i) {
        double want = pcts[i] * 1000, got = (double)bench_hist_percentile(h, pcts[i]);
        assert_true(got >= want && got <= want * 1.01);
    }
    /* Huge values land in the last bucket; the exact maximum is kept. */
    bench_hist_record(h, UINT64_MAX / 2);
    assert_int_equal(bench_hist_percentile(h, 100), UINT64_MAX / 2);
    free(h);
}

static void test_http_parse(void **state)
{
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\ncontent-length: 2\r\n\r\n{}HTTP/1.1";
    static const char err[] = "HTTP/1.1 409 Conflict\r\nConnection: close\r\nContent-Length: 46\r\n\r\n"
                              "{\"status\":\"error\",\"error\":\"exhausted\",\"m\":\"x\"}";
    bench_http_resp_t r;
    size_t len;
    const char *reason;
    (void)state;

    assert_int_equal(bench_http_parse(&r, ok, sizeof(ok) - 1), sizeof(ok) - 1 - 8);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.close, 0);
    assert_int_equal(r.body_len, 2);
    /* Incomplete head, incomplete body. */
    assert_int_equal(bench_http_parse(&r, ok, 20), 0);
    assert_int_equal(bench_http_parse(&r, ok, sizeof(ok) - 1 - 9), 0);
    assert_int_equal(bench_http_parse(&r, err, sizeof(err) - 1), sizeof(err) - 1);
    assert_int_equal(r.status, 409);
    assert_int_equal(r.close, 1);
    reason = bench_http_reason(r.body, r.body_len, &len);
    assert_non_null(reason);
    assert_int_equal(len, 9);
    assert_memory_equal(reason, "exhausted", 9);
    assert_null(bench_http_reason("{}", 2, &len));
    /* Chunked and garbage are protocol errors. */
    static const char chunked[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", smtp[] = "SMTP ready\r\n\r\n";
    assert_int_equal(bench_http_parse(&r, chunked, sizeof(chunked) - 1), -1);
    assert_int_equal(bench_http_parse(&r, smtp, sizeof(smtp) - 1), -1);
}

static void test_pool_tickets(void **state)
{
    unsigned char key[IG_CODE_KEY_BYTES] = {1};
    bench_pool_mix_t mix = {.codes = 100, .multi_frac = 0.2, .bound_frac = 0.1, .multi_max = 3};
    bench_pool_t pool;
    bench_ticket_t t;
    size_t bound = 0, uses_of_first_multi = 0;
    (void)state;

    assert_int_equal(bench_pool_generate(&pool, &mix, key), 0);
    assert_int_equal(pool.num_multi, 20);
    assert_int_equal(bench_pool_capacity(&pool), 100 + 20 * 2);
    for (size_t i = 0; i != pool.num_codes; ++i) {
        assert_int_equal(ig_code_verify(pool.codes[i].body, key), 0);
        bound += pool.codes[i].kind == BENCH_CODE_BOUND;
    }
    assert_int_equal(bound, 10);
    const bench_code_t *first_multi = &pool.codes[pool.multi[0]];
    char emails[140][BENCH_EMAIL_BYTES];
    for (size_t i = 0; i != 140; ++i) {
        bench_pool_next_ticket(&pool, &t);
        assert_true(t.expect_ok);
        if (t.code->kind == BENCH_CODE_BOUND) {
            char want[BENCH_EMAIL_BYTES];
            bench_pool_bound_email(want, t.code->body);
            assert_string_equal(t.email, want);
        }
        uses_of_first_multi += t.code == first_multi;
        strcpy(emails[i], t.email);
        for (size_t j = 0; j != i; ++j)
            assert_string_not_equal(emails[i], emails[j]);
    }
    assert_int_equal(uses_of_first_multi, 3);
    bench_pool_next_ticket(&pool, &t);
    assert_false(t.expect_ok);
    bench_pool_dispose(&pool);
}

static void test_mixes(void **state)
{
    bench_mix_t mix;
    bench_rng_t rng;
    unsigned counts[BENCH_OP_COUNT] = {0};
    (void)state;

    assert_int_equal(bench_mix_resolve(&mix, "launch"), 0);
    assert_int_equal(mix.num_ops, 4);
    assert_int_equal(mix.skipped[0], '\0');
    assert_true(bench_mix_has(&mix, BENCH_OP_JOIN) && bench_mix_has(&mix, BENCH_OP_POSITION));
    bench_rng_seed(&rng, 7);
    for (int i = 0; i != 100000; ++i)
        ++counts[bench_mix_pick(&mix, &rng)];
    /* 50 : 30 : 15 : 5. */
    assert_true(counts[BENCH_OP_STATUS] > 49000 && counts[BENCH_OP_STATUS] < 51000);
    assert_true(counts[BENCH_OP_REDEEM] > 29000 && counts[BENCH_OP_REDEEM] < 31000);
    assert_true(counts[BENCH_OP_JOIN] > 14000 && counts[BENCH_OP_JOIN] < 16000);
    assert_true(counts[BENCH_OP_POSITION] > 4500 && counts[BENCH_OP_POSITION] < 5500);
    assert_int_equal(bench_mix_resolve(&mix, "redeem"), 0);
    assert_false(bench_mix_has(&mix, BENCH_OP_JOIN));
    assert_int_equal(bench_mix_resolve(&mix, "join"), 0);
    assert_int_equal(bench_mix_resolve(&mix, "position"), 0);
    assert_int_equal(bench_mix_resolve(&mix, "nonsense"), -1);
}

static void test_waitlist_people(void **state)
{
    bench_waitlist_t wl;
    bench_person_t p;
    size_t long_cases = 0, keyword_cases = 0, gmail = 0, personas = 0;
    (void)state;

    assert_int_equal(bench_waitlist_generate(&wl, 5000), 0);
    assert_int_equal(wl.num, 5000);
    for (size_t i = 0; i != wl.num; ++i) {
        char again[IG_EMAIL_MAX_BYTES + 1];
        assert_int_equal(bench_person(&p, i), 0);
        /* Deterministic, stored in normal form, and normalising it again changes nothing. */
        assert_string_equal(bench_waitlist_email(&wl, i), p.email);
        assert_int_equal(ig_email_normalise(again, p.email, p.email_len), (int)p.email_len);
        assert_string_equal(again, p.email);
        long_cases += ig_priority_word_count(p.use_case, strlen(p.use_case)) > 20;
        keyword_cases += ig_priority_score("other", 5, p.use_case, strlen(p.use_case)) % 10 == 0;
        gmail += strstr(p.email, "@gmail.com") != NULL;
        personas += strcmp(p.persona, "solo_founder") == 0;
        assert_null(strpbrk(p.use_case, "\"\\"));
    }
    /* A mix, not a corner case: long use cases, keywords, free mail, every persona. */
    assert_true(long_cases > 500 && long_cases < 2500);
    assert_true(keyword_cases > 500 && keyword_cases < 4500);
    assert_true(gmail > 1500 && gmail < 2500);
    assert_true(personas > 1200 && personas < 1800);
    /* Unique once normalised (gmail drops dots and tags). */
    for (size_t i = 0; i != wl.num; ++i)
        for (size_t j = i + 1; j < wl.num && j < i + 200; ++j)
            assert_string_not_equal(bench_waitlist_email(&wl, i), bench_waitlist_email(&wl, j));
    bench_waitlist_dispose(&wl);
}

static void test_waitlist_requests(void **state)
{
    unsigned char key[IG_CODE_KEY_BYTES] = {1}, secret[IG_SECRET_KEY_BYTES] = {2};
    bench_pool_mix_t pmix = {.codes = 10, .multi_frac = 0.2, .bound_frac = 0.1, .multi_max = 3};
    bench_pool_t pool;
    bench_waitlist_t wl;
    ig_user_keys_t uk;
    char buf[1024], enc[64];
    size_t referred = 0;
    (void)state;

    assert_int_equal(bench_percent_encode(enc, sizeof(enc), "a.b+c@x.io", 10), 14);
    assert_string_equal(enc, "a.b%2Bc%40x.io");
    assert_int_equal(bench_percent_encode(enc, 8, "a.b+c@x.io", 10), -1);

    ig_user_keys_derive(&uk, secret);
    assert_int_equal(bench_pool_generate(&pool, &pmix, key), 0);
    assert_int_equal(bench_waitlist_generate(&wl, 100), 0);
    bench_req_ctx_t ctx = {.pool = &pool, .wl = &wl, .user_keys = &uk, .code_prefix = "INV-"};
    bench_rng_seed(&ctx.rng, 3);
    for (int i = 0; i != 400; ++i) {
        int n = bench_http_request(buf, sizeof(buf), BENCH_OP_JOIN, &ctx);
        assert_true(n > 0 && (size_t)n < sizeof(buf));
        assert_non_null(strstr(buf, "POST /api/waitlist/join HTTP/1.1\r\n"));
        assert_non_null(strstr(buf, "\"persona\":\""));
        referred += strstr(buf, "\"referral_code\":\"") != NULL;
    }
    /* Each join is a new person after the seeded ones. */
    assert_int_equal(wl.join_cursor, 400);
    assert_true(referred > 30 && referred < 100);
    int n = bench_http_request(buf, sizeof(buf), BENCH_OP_POSITION, &ctx);
    assert_true(n > 0);
    assert_non_null(strstr(buf, "GET /api/waitlist/"));
    assert_non_null(strstr(buf, "%40"));
    assert_non_null(strstr(buf, "/position HTTP/1.1\r\n"));
    /* Position needs seeded entries. */
    bench_waitlist_dispose(&wl);
    assert_int_equal(bench_http_request(buf, sizeof(buf), BENCH_OP_POSITION, &ctx), -1);
    bench_pool_dispose(&pool);
}

/* A procs file naming several Redis processes: each is a shard, and the redis role is their sum. */
static void test_cpu_shards(void **state)
{
    char path[] = "/tmp/test_bench_procs.XXXXXX";
    bench_cpu_sample_t s;
    int fd = mkstemp(path);
    FILE *f;
    (void)state;

    assert_true(fd >= 0);
    assert_non_null(f = fdopen(fd, "w"));
    fprintf(f, "redis1 %d\nredis2 %d\nsync %d\n", (int)getpid(), (int)getpid(), (int)getpid());
    fclose(f);
    assert_int_equal(bench_cpu_read(&s, path), 0);
    assert_int_equal(s.num_shards, 2);
    assert_string_equal(s.shards[0].name, "redis1");
    assert_string_equal(s.shards[1].name, "redis2");
    assert_int_equal(s.shards[1].pid, getpid());
    assert_int_equal(s.pid[BENCH_CPU_REDIS], getpid());
    assert_int_equal(s.us[BENCH_CPU_REDIS], s.shards[0].us + s.shards[1].us);
    assert_int_equal(s.pid[BENCH_CPU_SYNC], getpid());
    assert_int_equal(s.pid[BENCH_CPU_GATEWAY], 0);
    /* "redisx" is no shard and no role. */
    assert_non_null(f = fopen(path, "w"));
    fprintf(f, "redisx %d\n", (int)getpid());
    fclose(f);
    assert_int_equal(bench_cpu_read(&s, path), -1);
    unlink(path);

    /* redis2 restarted between the readings: counted from 0, with its new process's time. */
    bench_cpu_sample_t before = {.num_shards = 2, .at_ns = 1000000000}, after = {.num_shards = 2, .at_ns = 2000000000};
    bench_cpu_account_t a;
    before.shards[0] = (bench_cpu_shard_t){.name = "redis1", .pid = 10, .us = 100};
    before.shards[1] = (bench_cpu_shard_t){.name = "redis2", .pid = 11, .us = 50};
    after.shards[0] = (bench_cpu_shard_t){.name = "redis1", .pid = 10, .us = 400};
    after.shards[1] = (bench_cpu_shard_t){.name = "redis2", .pid = 12, .us = 30};
    before.pid[BENCH_CPU_REDIS] = 10, after.pid[BENCH_CPU_REDIS] = 10;
    bench_cpu_account(&a, &before, &after, 10);
    assert_int_equal(a.num_shards, 2);
    assert_true(a.present[BENCH_CPU_REDIS] && !a.present[BENCH_CPU_GATEWAY]);
    assert_true(a.shards[0].us == 300 && a.shards[1].us == 30);
    assert_true(bench_cpu_per_op(&a, BENCH_CPU_REDIS) == 33);
    assert_true(bench_cpu_cores(&a, a.us[BENCH_CPU_REDIS]) == 330 / 1e6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hist_percentiles), cmocka_unit_test(test_http_parse),
        cmocka_unit_test(test_pool_tickets),     cmocka_unit_test(test_mixes),
        cmocka_unit_test(test_waitlist_people),  cmocka_unit_test(test_waitlist_requests),
        cmocka_unit_test(test_cpu_shards),
    };
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
