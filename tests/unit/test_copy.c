/* The binary COPY stream of the sync daemon (sync/copy.h), byte for byte. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "copy.h"

/* The stream's signature, flags and header extension length (PostgreSQL, "COPY", "Binary Format"). */
static const unsigned char HEADER[] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";

static void empty_stream_is_header_and_trailer(void **state)
{
    sync_copy_t c;
    size_t len;
    sync_copy_init(&c);
    sync_copy_reset(&c);
    const unsigned char *p = sync_copy_finish(&c, &len);
    assert_int_equal(len, 19 + 2);
    assert_memory_equal(p, HEADER, 19);
    assert_int_equal(p[19], 0xff);
    assert_int_equal(p[20], 0xff);
    assert_int_equal(c.rows, 0);
    sync_copy_dispose(&c);
}

/* One row of each type: count, then per field a length and the value in network order. */
static void fields_are_length_prefixed_in_network_order(void **state)
{
    static const unsigned char uuid[16] = {0x0f, 0x1e, 0x2d, 0x3c, 0x4b, 0x5a, 0x86, 0x97,
                                           0xa8, 0xb9, 0xca, 0xdb, 0xec, 0xfd, 0x0e, 0x1f};
    static const unsigned char want[] = {
        0,    7,                                                                /* 7 fields */
        0,    0,    0,    3,    'a',  'b',  'c',                                /* text */
        0xff, 0xff, 0xff, 0xff,                                                 /* NULL */
        0,    0,    0,    4,    0xff, 0xff, 0xff, 0xfe,                         /* int4 -2 */
        0,    0,    0,    8,    0,    0,    0,    0,    0,    0,    0x01, 0x00, /* int8 256 */
        0,    0,    0,    8,    0,    0,    0,    0,    0,    0,    0,    0,    /* 2000-01-01 00:00 UTC */
        0,    0,    0,    8,    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfc, 0x18, /* one millisecond before it: -1000 us */
        0,    0,    0,    16,   0x0f, 0x1e, 0x2d, 0x3c, 0x4b, 0x5a, 0x86, 0x97, 0xa8, 0xb9, 0xca, 0xdb, 0xec, 0xfd, 0x0e, 0x1f,
    };
    sync_copy_t c;
    size_t len;

    sync_copy_init(&c);
    sync_copy_reset(&c);
    sync_copy_row(&c, 7);
    sync_copy_str(&c, "abc");
    sync_copy_str(&c, NULL);
    sync_copy_int4(&c, -2);
    sync_copy_int8(&c, 256);
    sync_copy_time_ms(&c, 946684800000LL);
    sync_copy_time_ms(&c, 946684799999LL);
    sync_copy_uuid(&c, uuid);
    const unsigned char *p = sync_copy_finish(&c, &len);
    assert_int_equal(len, 19 + sizeof(want) + 2);
    assert_memory_equal(p + 19, want, sizeof(want));
    assert_int_equal(c.rows, 1);
    sync_copy_dispose(&c);
}

/* finish does not end the stream for good: rows may follow, and a reset starts a new one on the same buffer. */
static void rows_may_follow_finish_and_reset_reuses(void **state)
{
    sync_copy_t c;
    size_t len1, len2;

    sync_copy_init(&c);
    sync_copy_reset(&c);
    for (int i = 0; i != 10000; ++i) {
        sync_copy_row(&c, 1);
        sync_copy_text(&c, "0123456789", 10);
    }
    (void)sync_copy_finish(&c, &len1);
    sync_copy_row(&c, 1);
    sync_copy_int4(&c, 1);
    (void)sync_copy_finish(&c, &len2);
    assert_int_equal(len2, len1 + 2 + 8);
    assert_int_equal(c.rows, 10001);
    sync_copy_reset(&c);
    assert_int_equal(c.rows, 0);
    (void)sync_copy_finish(&c, &len1);
    assert_int_equal(len1, 21);
    sync_copy_dispose(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(empty_stream_is_header_and_trailer),
        cmocka_unit_test(fields_are_length_prefixed_in_network_order),
        cmocka_unit_test(rows_may_follow_finish_and_reset_reuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
