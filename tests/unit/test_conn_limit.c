/* Connection limits: the total, per address (IPv4, IPv6 /64), release, threads. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>
#include "conn_limit.h"

static struct sockaddr_storage addr(const char *text)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    if (inet_pton(AF_INET, text, &((struct sockaddr_in *)&ss)->sin_addr) == 1)
        ss.ss_family = AF_INET;
    else if (inet_pton(AF_INET6, text, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1)
        ss.ss_family = AF_INET6;
    else
        fail_msg("bad address %s", text);
    return ss;
}

static gw_conn_verdict_t acquire(gw_conn_limit_t *limit, uint32_t *ticket, const char *text)
{
    struct sockaddr_storage ss = addr(text);
    return gw_conn_limit_acquire(limit, ticket, (struct sockaddr *)&ss);
}

static void total_limit_without_per_address(void **state)
{
    gw_conn_limit_t *limit = gw_conn_limit_create(3, 0);
    uint32_t t[4];
    assert_non_null(limit);
    for (int i = 0; i != 3; ++i) {
        assert_int_equal(acquire(limit, &t[i], "10.0.0.1"), GW_CONN_ADMITTED);
        assert_int_equal(t[i], GW_CONN_NO_TICKET);
    }
    assert_int_equal(gw_conn_limit_open(limit), 3);
    assert_int_equal(acquire(limit, &t[3], "10.0.0.2"), GW_CONN_OVER_TOTAL);
    assert_int_equal(gw_conn_limit_open(limit), 3);
    gw_conn_limit_release(limit, t[0]);
    assert_int_equal(acquire(limit, &t[3], "10.0.0.2"), GW_CONN_ADMITTED);
    for (int i = 1; i != 4; ++i)
        gw_conn_limit_release(limit, t[i]);
    assert_int_equal(gw_conn_limit_open(limit), 0);
    gw_conn_limit_destroy(limit);
}

static void per_address_limit(void **state)
{
    gw_conn_limit_t *limit = gw_conn_limit_create(100, 2);
    uint32_t a1, a2, a3, b1;
    assert_non_null(limit);
    assert_int_equal(acquire(limit, &a1, "192.0.2.7"), GW_CONN_ADMITTED);
    assert_int_equal(acquire(limit, &a2, "192.0.2.7"), GW_CONN_ADMITTED);
    assert_int_equal(acquire(limit, &a3, "192.0.2.7"), GW_CONN_OVER_ADDRESS);
    assert_int_equal(acquire(limit, &b1, "192.0.2.8"), GW_CONN_ADMITTED);
    assert_int_equal(gw_conn_limit_open(limit), 3); /* the refusal counts nothing */
    gw_conn_limit_release(limit, a1);
    assert_int_equal(acquire(limit, &a3, "192.0.2.7"), GW_CONN_ADMITTED);
    gw_conn_limit_release(limit, a2);
    gw_conn_limit_release(limit, a3);
    gw_conn_limit_release(limit, b1);
    assert_int_equal(gw_conn_limit_open(limit), 0);
    /* The address's entry went back to the pool: a full count again. */
    assert_int_equal(acquire(limit, &a1, "192.0.2.7"), GW_CONN_ADMITTED);
    assert_int_equal(acquire(limit, &a2, "192.0.2.7"), GW_CONN_ADMITTED);
    gw_conn_limit_release(limit, a1);
    gw_conn_limit_release(limit, a2);
    gw_conn_limit_destroy(limit);
}

static void the_total_applies_before_the_address(void **state)
{
    gw_conn_limit_t *limit = gw_conn_limit_create(2, 5);
    uint32_t t[3];
    assert_int_equal(acquire(limit, &t[0], "10.1.1.1"), GW_CONN_ADMITTED);
    assert_int_equal(acquire(limit, &t[1], "10.1.1.2"), GW_CONN_ADMITTED);
    assert_int_equal(acquire(limit, &t[2], "10.1.1.3"), GW_CONN_OVER_TOTAL);
    gw_conn_limit_release(limit, t[0]);
    gw_conn_limit_release(limit, t[1]);
    gw_conn_limit_destroy(limit);
}

static void ipv6_counts_by_64_and_mapped_ipv4_as_ipv4(void **state)
{
    gw_conn_limit_t *limit = gw_conn_limit_create(100, 1);
    uint32_t t[4], refused;
    /* Two addresses of one /64 are one client. */
    assert_int_equal(acquire(limit, &t[0], "2001:db8:1:2::1"), GW_CONN_ADMITTED);
    assert_int_equal(acquire(limit, &refused, "2001:db8:1:2:ffff::9"), GW_CONN_OVER_ADDRESS);
    /* The next /64 is another. */
    assert_int_equal(acquire(limit, &t[1], "2001:db8:1:3::1"), GW_CONN_ADMITTED);
    /* An IPv4 client of a dual-stack listener is its IPv4 address. */
    assert_int_equal(acquire(limit, &t[2], "::ffff:198.51.100.4"), GW_CONN_ADMITTED);
    assert_int_equal(acquire(limit, &refused, "198.51.100.4"), GW_CONN_OVER_ADDRESS);
    assert_int_equal(acquire(limit, &t[3], "::ffff:198.51.100.5"), GW_CONN_ADMITTED);
    for (int i = 0; i != 4; ++i)
        gw_conn_limit_release(limit, t[i]);
    assert_int_equal(gw_conn_limit_open(limit), 0);
    gw_conn_limit_destroy(limit);
}

/* As many distinct addresses as max_total fit, again and again (entries are reused). */
static void distinct_addresses_up_to_the_total(void **state)
{
    enum { MAX = 5000 };
    static uint32_t tickets[MAX];
    gw_conn_limit_t *limit = gw_conn_limit_create(MAX, 3);
    char text[32];
    for (int round = 0; round != 3; ++round) {
        for (int i = 0; i != MAX; ++i) {
            snprintf(text, sizeof(text), "10.%d.%d.%d", round, i / 256, i % 256);
            assert_int_equal(acquire(limit, &tickets[i], text), GW_CONN_ADMITTED);
        }
        assert_int_equal(acquire(limit, &tickets[0], "203.0.113.1"), GW_CONN_OVER_TOTAL);
        assert_int_equal(gw_conn_limit_open(limit), MAX);
        for (int i = 0; i != MAX; ++i)
            gw_conn_limit_release(limit, tickets[i]);
        assert_int_equal(gw_conn_limit_open(limit), 0);
    }
    gw_conn_limit_destroy(limit);
}

enum { THREADS = 4, ROUNDS = 20000, PER_ADDRESS = 3 };

typedef struct worker_t {
    gw_conn_limit_t *limit;
    unsigned seed;
    unsigned over;       /* refusals seen */
    unsigned unexpected; /* other verdicts (cmocka may not fail from this thread) */
} worker_t;

/* Each worker holds up to 8 connections from 16 addresses shared by all workers. */
static void *worker(void *arg)
{
    worker_t *w = arg;
    uint32_t held[8];
    size_t n = 0;
    char text[32];
    for (int r = 0; r != ROUNDS; ++r) {
        w->seed = w->seed * 1103515245u + 12345u;
        if (n == 8 || (n != 0 && (w->seed >> 16) % 2 == 0)) {
            gw_conn_limit_release(w->limit, held[--n]);
            continue;
        }
        snprintf(text, sizeof(text), "172.16.0.%u", (w->seed >> 20) % 16);
        gw_conn_verdict_t v = acquire(w->limit, &held[n], text);
        if (v == GW_CONN_ADMITTED)
            ++n;
        else if (v == GW_CONN_OVER_ADDRESS)
            ++w->over;
        else
            ++w->unexpected;
    }
    while (n != 0)
        gw_conn_limit_release(w->limit, held[--n]);
    return NULL;
}

static void threads_share_the_counts(void **state)
{
    gw_conn_limit_t *limit = gw_conn_limit_create(1000, PER_ADDRESS);
    pthread_t tids[THREADS];
    worker_t workers[THREADS];
    unsigned over = 0;
    for (unsigned i = 0; i != THREADS; ++i) {
        workers[i] = (worker_t){limit, i + 1, 0, 0};
        assert_int_equal(pthread_create(&tids[i], NULL, worker, &workers[i]), 0);
    }
    for (unsigned i = 0; i != THREADS; ++i) {
        pthread_join(tids[i], NULL);
        over += workers[i].over;
        assert_int_equal(workers[i].unexpected, 0);
    }
    /* 16 addresses x 3 slots for up to 32 held connections: some were refused. */
    assert_true(over > 0);
    assert_int_equal(gw_conn_limit_open(limit), 0);
    /* Every address is back to a full count. */
    uint32_t t[PER_ADDRESS], refused;
    for (int i = 0; i != PER_ADDRESS; ++i)
        assert_int_equal(acquire(limit, &t[i], "172.16.0.3"), GW_CONN_ADMITTED);
    assert_int_equal(acquire(limit, &refused, "172.16.0.3"), GW_CONN_OVER_ADDRESS);
    for (int i = 0; i != PER_ADDRESS; ++i)
        gw_conn_limit_release(limit, t[i]);
    gw_conn_limit_destroy(limit);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(total_limit_without_per_address),      cmocka_unit_test(per_address_limit),
        cmocka_unit_test(the_total_applies_before_the_address), cmocka_unit_test(ipv6_counts_by_64_and_mapped_ipv4_as_ipv4),
        cmocka_unit_test(distinct_addresses_up_to_the_total),   cmocka_unit_test(threads_share_the_counts),
    };
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
