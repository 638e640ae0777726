/* Redis Cluster routing: key slots, CLUSTER SLOTS replies, MOVED/ASK (common/ig_cluster.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "ig_cluster.h"

static unsigned slot_of(const char *key)
{
    return ig_cluster_keyslot(key, strlen(key));
}

static void key_slots_follow_the_cluster_spec(void **state)
{
    /* Values from the Redis documentation of CLUSTER KEYSLOT and the spec's CRC16 check value. */
    assert_int_equal(slot_of("somekey"), 11058);
    assert_int_equal(slot_of("foo{hash_tag}"), 2515);
    assert_int_equal(slot_of("123456789"), 0x31c3);
    assert_int_equal(slot_of(""), 0);
    /* Only the first {...} counts, and only when it is not empty. */
    assert_int_equal(slot_of("{user1000}.following"), slot_of("{user1000}.followers"));
    assert_int_equal(slot_of("foo{hash_tag}"), slot_of("hash_tag"));
    assert_int_equal(slot_of("a{b}{c}"), slot_of("b"));
    assert_int_equal(slot_of("foo{}{bar}"), slot_of("foo{}{bar}"));
    assert_int_not_equal(slot_of("foo{}{bar}"), slot_of("bar"));
    assert_int_equal(slot_of("foo{{bar}}zap"), slot_of("{bar"));
    assert_int_equal(slot_of("foo{bar"), ig_cluster_keyslot("foo{bar", 7));
    /* Every key of a bucket shares its slot: what lets one FCALL touch several keys. */
    assert_int_equal(slot_of("ig:{7}:c:12"), slot_of("ig:{7}:events"));
    assert_int_equal(slot_of("ig:{7}:c:12"), slot_of("7"));
    /* Binary keys: the length counts, not a NUL. */
    assert_int_equal(ig_cluster_keyslot("a\0b", 3), ig_cluster_keyslot("a\0b", 3));
    assert_int_not_equal(ig_cluster_keyslot("a\0b", 3), ig_cluster_keyslot("a", 1));
}

static int command_slot(int argc, const char *const *argv)
{
    size_t lens[8];
    for (int i = 0; i != argc; ++i)
        lens[i] = strlen(argv[i]);
    return ig_cluster_command_slot(argc, argv, lens);
}

static void commands_route_by_their_first_key(void **state)
{
    const char *fcall[] = {"FCALL", "ig_status", "1", "ig:{7}:c:12", "field"};
    assert_int_equal(command_slot(5, fcall), slot_of("7"));
    const char *two[] = {"fcall", "ig_revoke", "2", "ig:{3}:c:1", "ig:{3}:events", "f"};
    assert_int_equal(command_slot(6, two), slot_of("3"));
    const char *ro[] = {"FCALL_RO", "ig_ready", "0"};
    assert_int_equal(command_slot(3, ro), -1);
    const char *eval[] = {"EVAL", "return 1", "1", "somekey"};
    assert_int_equal(command_slot(4, eval), 11058);
    const char *get[] = {"GET", "somekey"};
    assert_int_equal(command_slot(2, get), 11058);
    const char *config[] = {"CONFIG", "GET", "maxmemory-policy"};
    assert_int_equal(command_slot(3, config), -1);
    const char *ping[] = {"PING"};
    assert_int_equal(command_slot(1, ping), -1);
    /* Malformed numkeys or too few arguments: keyless, and Redis answers the error. */
    const char *bad1[] = {"FCALL", "f", "x", "k"};
    assert_int_equal(command_slot(4, bad1), -1);
    const char *bad2[] = {"FCALL", "f", "1"};
    assert_int_equal(command_slot(3, bad2), -1);
    const char *bad3[] = {"FCALL", "f", "", "k"};
    assert_int_equal(command_slot(4, bad3), -1);
}

static void addresses_parse(void **state)
{
    ig_cluster_addr_t a;
    assert_int_equal(ig_cluster_addr_parse(&a, "127.0.0.1:7000", 14), 0);
    assert_string_equal(a.host, "127.0.0.1");
    assert_int_equal(a.port, 7000);
    assert_int_equal(ig_cluster_addr_parse(&a, "::1:7001", 8), 0);
    assert_string_equal(a.host, "::1");
    assert_int_equal(a.port, 7001);
    assert_int_equal(ig_cluster_addr_parse(&a, "[2001:db8::5]:6379", 18), 0);
    assert_string_equal(a.host, "2001:db8::5");
    assert_int_equal(a.port, 6379);
    assert_int_equal(ig_cluster_addr_parse(&a, ":7002", 5), 0);
    assert_string_equal(a.host, "");
    assert_int_equal(a.port, 7002);
    static const char *const bad[] = {"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:70a0", "h:-1"};
    for (size_t i = 0; i != sizeof(bad) / sizeof(bad[0]); ++i)
        if (ig_cluster_addr_parse(&a, bad[i], strlen(bad[i])) != -1)
            fail_msg("\"%s\" was accepted", bad[i]);
}

static void redirections_parse(void **state)
{
    unsigned slot = 99;
    ig_cluster_addr_t a = {"", 0};
    static const char moved[] = "MOVED 3999 127.0.0.1:6381";
    assert_int_equal(ig_cluster_parse_redirect(&slot, &a, moved, sizeof(moved) - 1), IG_CLUSTER_MOVED);
    assert_int_equal(slot, 3999);
    assert_string_equal(a.host, "127.0.0.1");
    assert_int_equal(a.port, 6381);
    static const char ask[] = "ASK 16383 10.0.0.2:7005";
    assert_int_equal(ig_cluster_parse_redirect(&slot, &a, ask, sizeof(ask) - 1), IG_CLUSTER_ASK);
    assert_int_equal(slot, 16383);
    assert_string_equal(a.host, "10.0.0.2");
    assert_int_equal(a.port, 7005);
    static const char unknown_host[] = "MOVED 0 :7003";
    assert_int_equal(ig_cluster_parse_redirect(&slot, &a, unknown_host, sizeof(unknown_host) - 1), IG_CLUSTER_MOVED);
    assert_int_equal(slot, 0);
    assert_string_equal(a.host, "");
    assert_int_equal(a.port, 7003);
    /* Anything else is not a redirection, and leaves the outputs alone. */
    static const char *const other[] = {"ERR unknown command",
                                        "CLUSTERDOWN The cluster is down",
                                        "TRYAGAIN Multiple keys request during rehashing of slot",
                                        "MOVED",
                                        "MOVED 16384 127.0.0.1:7000",
                                        "MOVED x 127.0.0.1:1",
                                        "MOVED 12 127.0.0.1",
                                        "ASK 1",
                                        "MOVEDX 1 127.0.0.1:7000",
                                        "moved 1 127.0.0.1:7000"};
    for (size_t i = 0; i != sizeof(other) / sizeof(other[0]); ++i) {
        slot = 42;
        if (ig_cluster_parse_redirect(&slot, &a, other[i], strlen(other[i])) != IG_CLUSTER_NOT_REDIRECT)
            fail_msg("\"%s\" was taken for a redirection", other[i]);
        assert_int_equal(slot, 42);
    }
}

/* A reply as hiredis would hand it over, from the bytes Redis sends. */
static redisReply *parse_resp(const char *bytes)
{
    redisReader *reader = redisReaderCreate();
    void *reply = NULL;
    assert_non_null(reader);
    assert_int_equal(redisReaderFeed(reader, bytes, strlen(bytes)), REDIS_OK);
    assert_int_equal(redisReaderGetReply(reader, &reply), REDIS_OK);
    assert_non_null(reply);
    redisReaderFree(reader);
    return reply;
}

/* Three masters with a replica each, as Redis 7.0 answers (node ids, the hostnames map of 7.0). */
static const char slots_reply[] = "*3\r\n"
                                  "*4\r\n:0\r\n:5460\r\n"
                                  "*4\r\n$9\r\n127.0.0.1\r\n:7000\r\n$4\r\naaaa\r\n*0\r\n"
                                  "*4\r\n$9\r\n127.0.0.1\r\n:7003\r\n$4\r\ndddd\r\n*0\r\n"
                                  "*4\r\n:5461\r\n:10922\r\n"
                                  "*4\r\n$0\r\n\r\n:7001\r\n$4\r\nbbbb\r\n*0\r\n"
                                  "*4\r\n$9\r\n127.0.0.1\r\n:7004\r\n$4\r\neeee\r\n*0\r\n"
                                  "*3\r\n:10923\r\n:16383\r\n"
                                  "*3\r\n$1\r\n?\r\n:7002\r\n$4\r\ncccc\r\n";

static void slots_reply_gives_the_masters(void **state)
{
    redisReply *reply = parse_resp(slots_reply);
    ig_cluster_map_t map = {0};
    assert_int_equal(ig_cluster_parse_slots(&map, reply, "10.1.1.1"), 0);
    assert_int_equal(map.num_ranges, 3);
    assert_int_equal(map.ranges[0].first, 0);
    assert_int_equal(map.ranges[0].last, 5460);
    assert_string_equal(map.ranges[0].master.host, "127.0.0.1");
    assert_int_equal(map.ranges[0].master.port, 7000);
    /* An unknown IP ("" or "?") is the node that answered. */
    assert_string_equal(map.ranges[1].master.host, "10.1.1.1");
    assert_int_equal(map.ranges[1].master.port, 7001);
    assert_string_equal(map.ranges[2].master.host, "10.1.1.1");
    assert_int_equal(map.ranges[2].last, 16383);
    assert_true(ig_cluster_map_covers_all(&map));
    ig_cluster_map_free(&map);
    assert_null(map.ranges);
    assert_int_equal(map.num_ranges, 0);
    freeReplyObject(reply);
}

static void a_partial_map_does_not_cover(void **state)
{
    redisReply *reply = parse_resp("*2\r\n"
                                   "*3\r\n:0\r\n:100\r\n*2\r\n$9\r\n127.0.0.1\r\n:7000\r\n"
                                   "*3\r\n:102\r\n:16383\r\n*2\r\n$9\r\n127.0.0.1\r\n:7001\r\n");
    ig_cluster_map_t map = {0};
    assert_int_equal(ig_cluster_parse_slots(&map, reply, "127.0.0.1"), 0);
    assert_int_equal(map.num_ranges, 2);
    assert_false(ig_cluster_map_covers_all(&map));
    ig_cluster_map_free(&map);
    freeReplyObject(reply);
}

static void malformed_slots_replies_are_refused(void **state)
{
    static const char *const bad[] = {
        "-ERR This instance has cluster support disabled\r\n",
        "*0\r\n",
        ":1\r\n",
        "*1\r\n*2\r\n:0\r\n:16383\r\n",                                        /* no master */
        "*1\r\n*3\r\n:10\r\n:5\r\n*2\r\n$9\r\n127.0.0.1\r\n:7000\r\n",         /* last < first */
        "*1\r\n*3\r\n:0\r\n:16384\r\n*2\r\n$9\r\n127.0.0.1\r\n:7000\r\n",      /* past the last slot */
        "*1\r\n*3\r\n:0\r\n:16383\r\n*2\r\n$9\r\n127.0.0.1\r\n:0\r\n",         /* port 0 */
        "*1\r\n*3\r\n:0\r\n:16383\r\n*2\r\n:1\r\n:7000\r\n",                   /* IP not a string */
        "*1\r\n*3\r\n$1\r\n0\r\n:16383\r\n*2\r\n$9\r\n127.0.0.1\r\n:7000\r\n", /* slot not an integer */
    };
    for (size_t i = 0; i != sizeof(bad) / sizeof(bad[0]); ++i) {
        redisReply *reply = parse_resp(bad[i]);
        ig_cluster_map_t map = {0};
        if (ig_cluster_parse_slots(&map, reply, "127.0.0.1") != -1)
            fail_msg("reply %zu was accepted", i);
        assert_null(map.ranges);
        assert_int_equal(map.num_ranges, 0);
        freeReplyObject(reply);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(key_slots_follow_the_cluster_spec),
        cmocka_unit_test(commands_route_by_their_first_key),
        cmocka_unit_test(addresses_parse),
        cmocka_unit_test(redirections_parse),
        cmocka_unit_test(slots_reply_gives_the_masters),
        cmocka_unit_test(a_partial_map_does_not_cover),
        cmocka_unit_test(malformed_slots_replies_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
