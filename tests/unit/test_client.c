/* The client address of a request: trusted proxies and X-Forwarded-For (gateway/client.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "client.h"

#define MAX_FIELDS 4

static ig_cidr_t trusted[3];
static const size_t ntrusted = 3;

static int setup(void **state)
{
    static const char *const blocks[] = {"10.0.0.0/8", "127.0.0.1", "2001:db8:ffff::/48"};
    for (size_t i = 0; i != ntrusted; ++i) {
        const char *why;
        if (ig_cidr_parse(&trusted[i], &why, blocks[i], strlen(blocks[i])) != 0)
            return -1;
    }
    return 0;
}

/* The client seen from peer with the given X-Forwarded-For fields (NULL-terminated), as text. */
static const char *derive(const char *peer, const char *const *fields, size_t nt)
{
    static char text[IG_ADDR_TEXT_BYTES];
    const char *values[MAX_FIELDS];
    size_t lens[MAX_FIELDS], n = 0;
    ig_addr_t p, out;
    assert_int_equal(ig_addr_parse(&p, peer, strlen(peer)), 0);
    for (; fields != NULL && fields[n] != NULL; ++n) {
        values[n] = fields[n];
        lens[n] = strlen(fields[n]);
    }
    gw_client_derive(&out, &p, values, lens, n, trusted, nt);
    ig_addr_format(text, &out);
    return text;
}

#define FIELDS(...) ((const char *const[]){__VA_ARGS__, NULL})

static void untrusted_peer_is_the_client(void **state)
{
    assert_string_equal(derive("203.0.113.1", NULL, ntrusted), "203.0.113.1");
    assert_string_equal(derive("203.0.113.1", FIELDS("198.51.100.1"), ntrusted), "203.0.113.1");
    assert_string_equal(derive("2001:db8::1", FIELDS("198.51.100.1"), ntrusted), "2001:db8::1");
    /* No trusted proxies at all: the header is never read. */
    assert_string_equal(derive("127.0.0.1", FIELDS("198.51.100.1"), 0), "127.0.0.1");
    assert_string_equal(derive("10.1.1.1", FIELDS("garbage"), 0), "10.1.1.1");
}

static void right_most_untrusted_entry_is_the_client(void **state)
{
    assert_string_equal(derive("127.0.0.1", FIELDS("198.51.100.1"), ntrusted), "198.51.100.1");
    assert_string_equal(derive("127.0.0.1", FIELDS("203.0.113.9, 198.51.100.1"), ntrusted), "198.51.100.1");
    assert_string_equal(derive("127.0.0.1", FIELDS("203.0.113.9,198.51.100.1,10.0.0.2, 10.3.3.3"), ntrusted), "198.51.100.1");
    /* Fields are one list in the order received. */
    assert_string_equal(derive("127.0.0.1", FIELDS("198.51.100.1", "203.0.113.9"), ntrusted), "203.0.113.9");
    assert_string_equal(derive("127.0.0.1", FIELDS("198.51.100.1", "10.0.0.5", ""), ntrusted), "198.51.100.1");
    /* A client's own entries on the left are never reached. */
    assert_string_equal(derive("10.9.9.9", FIELDS("127.0.0.1, 10.0.0.1, 198.51.100.7"), ntrusted), "198.51.100.7");
    assert_string_equal(derive("10.9.9.9", FIELDS("not an address, 198.51.100.7"), ntrusted), "198.51.100.7");
    /* IPv6, blanks and empty elements. */
    assert_string_equal(derive("127.0.0.1", FIELDS(" 2001:DB8::7 ,\t2001:db8:ffff::1 "), ntrusted), "2001:db8::7");
    assert_string_equal(derive("127.0.0.1", FIELDS(",, 198.51.100.3 ,,"), ntrusted), "198.51.100.3");
    /* An IPv4-mapped entry is the IPv4 client. */
    assert_string_equal(derive("127.0.0.1", FIELDS("::ffff:198.51.100.4"), ntrusted), "198.51.100.4");
    /* A peer reached over IPv6 in the trusted IPv6 block. */
    assert_string_equal(derive("2001:db8:ffff:1::2", FIELDS("198.51.100.5"), ntrusted), "198.51.100.5");
}

static void ports_and_brackets(void **state)
{
    assert_string_equal(derive("127.0.0.1", FIELDS("198.51.100.1:4711"), ntrusted), "198.51.100.1");
    assert_string_equal(derive("127.0.0.1", FIELDS("[2001:db8::9]:4711"), ntrusted), "2001:db8::9");
    assert_string_equal(derive("127.0.0.1", FIELDS("[2001:db8::9]"), ntrusted), "2001:db8::9");
    static const char *const bad[] = {
        "198.51.100.1:",    "198.51.100.1:123456", "198.51.100.1:x", "[2001:db8::9", "[2001:db8::9]4711",         "[2001:db8::9]:",
        "2001:db8::9]",     "\"198.51.100.1\"",    "unknown",        "_hidden",      "198.51.100.1 198.51.100.2", "[]",
        "[198.51.100.1:80]"};
    ig_addr_t a;
    for (size_t i = 0; i != sizeof(bad) / sizeof(bad[0]); ++i)
        if (gw_client_parse_hop(&a, bad[i], strlen(bad[i])) == 0)
            fail_msg("\"%s\" was taken for an address", bad[i]);
}

static void all_trusted_means_the_left_most_hop(void **state)
{
    assert_string_equal(derive("127.0.0.1", NULL, ntrusted), "127.0.0.1");
    assert_string_equal(derive("127.0.0.1", FIELDS(""), ntrusted), "127.0.0.1");
    assert_string_equal(derive("127.0.0.1", FIELDS("10.0.0.1"), ntrusted), "10.0.0.1");
    assert_string_equal(derive("127.0.0.1", FIELDS("10.0.0.2, 10.0.0.1"), ntrusted), "10.0.0.2");
}

static void malformed_entry_means_the_last_trusted_hop(void **state)
{
    assert_string_equal(derive("127.0.0.1", FIELDS("garbage"), ntrusted), "127.0.0.1");
    assert_string_equal(derive("127.0.0.1", FIELDS("198.51.100.1, unknown"), ntrusted), "127.0.0.1");
    assert_string_equal(derive("127.0.0.1", FIELDS("198.51.100.1, 300.1.1.1, 10.0.0.3"), ntrusted), "10.0.0.3");
    assert_string_equal(derive("127.0.0.1", FIELDS("198.51.100.1", "10.0.0.4, garbage"), ntrusted), "127.0.0.1");
    assert_string_equal(derive("127.0.0.1", FIELDS("198.51.100.1 198.51.100.2"), ntrusted), "127.0.0.1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(untrusted_peer_is_the_client),
        cmocka_unit_test(right_most_untrusted_entry_is_the_client),
        cmocka_unit_test(ports_and_brackets),
        cmocka_unit_test(all_trusted_means_the_left_most_hop),
        cmocka_unit_test(malformed_entry_means_the_last_trusted_hop),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
