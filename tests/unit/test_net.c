/* IP addresses and CIDR blocks (common/ig_net.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <cmocka.h>
#include "ig_net.h"

static ig_addr_t addr(const char *s)
{
    ig_addr_t a;
    assert_int_equal(ig_addr_parse(&a, s, strlen(s)), 0);
    return a;
}

static ig_cidr_t cidr(const char *s)
{
    ig_cidr_t c;
    const char *why = NULL;
    assert_int_equal(ig_cidr_parse(&c, &why, s, strlen(s)), 0);
    return c;
}

static void addresses_parse_and_print(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"192.0.2.1", "192.0.2.1"},
        {"0.0.0.0", "0.0.0.0"},
        {"255.255.255.255", "255.255.255.255"},
        {"2001:DB8:0:0:0:0:0:1", "2001:db8::1"},
        {"::1", "::1"},
        {"::", "::"},
        {"::ffff:192.0.2.1", "192.0.2.1"}, /* IPv4-mapped: the IPv4 client */
        {"::ffff:c000:201", "192.0.2.1"},
        {"fe80::1:2:3:4", "fe80::1:2:3:4"},
    };
    char text[IG_ADDR_TEXT_BYTES];
    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        ig_addr_t a = addr(cases[i].in);
        ig_addr_format(text, &a);
        assert_string_equal(text, cases[i].out);
    }
    ig_addr_t v4 = addr("10.1.2.3"), v6 = addr("2001:db8::1");
    assert_true(ig_addr_is_v4(&v4));
    assert_false(ig_addr_is_v4(&v6));
}

static void malformed_addresses_are_refused(void **state)
{
    static const char *const bad[] = {
        "",         "1.2.3",     "1.2.3.4.5",    "256.1.1.1",         "1.2.3.04", " 1.2.3.4",     "1.2.3.4 ",
        "[::1]",    "::1%eth0",  "1.2.3.4:80",   "2001:db8::g",       "unknown",  "2001:db8:::1", "1.2.3.4/32",
        "-1.2.3.4", "0x1.2.3.4", "::ffff:1.2.3", "1:2:3:4:5:6:7:8:9",
    };
    ig_addr_t a;
    for (size_t i = 0; i != sizeof(bad) / sizeof(bad[0]); ++i)
        assert_int_equal(ig_addr_parse(&a, bad[i], strlen(bad[i])), -1);
    /* Lengths are explicit: a NUL inside, or text past len, does not count. */
    assert_int_equal(ig_addr_parse(&a, "1.2.3.4\0", 8), -1);
    assert_int_equal(ig_addr_parse(&a, "1.2.3.4XYZ", 7), 0);
    char longer[100];
    memset(longer, '1', sizeof(longer));
    assert_int_equal(ig_addr_parse(&a, longer, sizeof(longer)), -1);
}

static void from_sockaddr(void **state)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6};
    struct sockaddr other = {.sa_family = AF_UNIX};
    char text[IG_ADDR_TEXT_BYTES];
    ig_addr_t a;
    inet_pton(AF_INET, "198.51.100.4", &sin.sin_addr);
    inet_pton(AF_INET6, "2001:db8::7", &sin6.sin6_addr);
    assert_int_equal(ig_addr_from_sockaddr(&a, (struct sockaddr *)&sin), 0);
    ig_addr_format(text, &a);
    assert_string_equal(text, "198.51.100.4");
    assert_int_equal(ig_addr_from_sockaddr(&a, (struct sockaddr *)&sin6), 0);
    ig_addr_format(text, &a);
    assert_string_equal(text, "2001:db8::7");
    assert_int_equal(ig_addr_from_sockaddr(&a, &other), -1);
}

static void blocks_hold_their_addresses(void **state)
{
    static const struct {
        const char *block, *addr;
        int in;
    } cases[] = {
        {"10.0.0.0/8", "10.255.1.2", 1},
        {"10.0.0.0/8", "11.0.0.0", 0},
        {"10.0.0.0/8", "::ffff:10.1.1.1", 1},
        {"192.168.1.128/25", "192.168.1.128", 1},
        {"192.168.1.128/25", "192.168.1.255", 1},
        {"192.168.1.128/25", "192.168.1.127", 0},
        {"172.16.0.0/12", "172.31.255.255", 1},
        {"172.16.0.0/12", "172.32.0.0", 0},
        {"127.0.0.1", "127.0.0.1", 1},
        {"127.0.0.1", "127.0.0.2", 0},
        {"127.0.0.1/32", "127.0.0.1", 1},
        {"0.0.0.0/0", "203.0.113.9", 1},
        {"0.0.0.0/0", "2001:db8::1", 0}, /* an IPv4 block holds IPv4 addresses only */
        {"::/0", "2001:db8::1", 1},
        {"::/0", "203.0.113.9", 1}, /* ::/0 is everything */
        {"2001:db8::/32", "2001:db8:ffff:ffff::1", 1},
        {"2001:db8::/32", "2001:db9::1", 0},
        {"2001:db8:0:2::/63", "2001:db8:0:3::1", 1},
        {"2001:db8:0:2::/63", "2001:db8:0:1::1", 0},
        {"2001:db8::1/128", "2001:db8::1", 1},
        {"2001:db8::1/128", "2001:db8::2", 0},
        {"::1", "::1", 1},
        {"::1", "127.0.0.1", 0},
    };
    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        ig_cidr_t c = cidr(cases[i].block);
        ig_addr_t a = addr(cases[i].addr);
        if (ig_cidr_contains(&c, &a) != cases[i].in)
            fail_msg("%s in %s: expected %d", cases[i].addr, cases[i].block, cases[i].in);
    }
    ig_cidr_t list[2] = {cidr("10.0.0.0/8"), cidr("2001:db8::/32")};
    ig_addr_t in = addr("2001:db8::5"), out = addr("192.0.2.1"), first = addr("10.0.0.1");
    assert_true(ig_cidr_list_contains(list, 2, &in));
    assert_false(ig_cidr_list_contains(list, 2, &out));
    assert_false(ig_cidr_list_contains(list, 0, &first));
}

static void malformed_blocks_say_why(void **state)
{
    static const char *const bad[] = {"10.0.0.1/8",    "10.0.0.0/33", "2001:db8::/129", "10.0.0.0/", "10.0.0.0/x",   "10.0.0.0/-1",
                                      "10.0.0.0/0008", "/8",          "host/8",         "::1/127",   "10.0.0.0/8/8", ""};
    for (size_t i = 0; i != sizeof(bad) / sizeof(bad[0]); ++i) {
        ig_cidr_t c;
        const char *why = NULL;
        if (ig_cidr_parse(&c, &why, bad[i], strlen(bad[i])) != -1)
            fail_msg("\"%s\" was accepted", bad[i]);
        assert_non_null(why);
    }
    ig_cidr_t c = cidr("10.0.0.0/8");
    assert_int_equal(c.prefix, 96 + 8);
    c = cidr("2001:db8::/32");
    assert_int_equal(c.prefix, 32);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(addresses_parse_and_print),
        cmocka_unit_test(malformed_addresses_are_refused),
        cmocka_unit_test(from_sockaddr),
        cmocka_unit_test(blocks_hold_their_addresses),
        cmocka_unit_test(malformed_blocks_say_why),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
