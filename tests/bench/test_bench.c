/*
 * Unit tests of invitegate-bench's pure modules: the latency histogram, the
 * HTTP answer parser, the pool's tickets and the workload mixes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>
#include "hist.h"
#include "http_resp.h"
#include "pool.h"
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
    assert_int_equal(mix.num_ops, 2);
    assert_non_null(strstr(mix.skipped, "join 15%"));
    assert_non_null(strstr(mix.skipped, "position 5%"));
    bench_rng_seed(&rng, 7);
    for (int i = 0; i != 80000; ++i)
        ++counts[bench_mix_pick(&mix, &rng)];
    /* 50 : 30 once join and position are skipped. */
    assert_true(counts[BENCH_OP_STATUS] > 49000 && counts[BENCH_OP_STATUS] < 51000);
    assert_true(counts[BENCH_OP_REDEEM] > 29000 && counts[BENCH_OP_REDEEM] < 31000);
    assert_int_equal(bench_mix_resolve(&mix, "redeem"), 0);
    assert_int_equal(mix.skipped[0], '\0');
    assert_int_equal(bench_mix_resolve(&mix, "join"), -1);
    assert_int_equal(bench_mix_resolve(&mix, "nonsense"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hist_percentiles),
        cmocka_unit_test(test_http_parse),
        cmocka_unit_test(test_pool_tickets),
        cmocka_unit_test(test_mixes),
    };
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
