/* HTTP/1.x request heads: the checks h2o 2.2.5 leaves to the gateway. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "head.h"

static const char *check(const char *head)
{
    return gw_head_check(head, strlen(head), "POST", 4, 1);
}

static void expect_refused(const char *head, const char *in_message)
{
    const char *why = check(head);
    if (why == NULL || why == gw_head_unreadable)
        fail_msg("not refused: %s", head);
    if (strstr(why, in_message) == NULL)
        fail_msg("\"%s\" does not mention \"%s\"", why, in_message);
}

#define POST "POST /api/waitlist/join HTTP/1.1\r\nHost: x\r\n"

static void one_content_length_or_none(void **state)
{
    assert_null(check(POST "\r\n"));
    assert_null(check(POST "Content-Length: 12\r\n\r\n{\"a\": \"b\"}  "));
    assert_null(check(POST "content-length:12\r\nContent-Type: application/json\r\n\r\n"));
    /* Names that only look alike are other headers. */
    assert_null(check(POST "Content-Length: 12\r\nX-Content-Length: 99\r\nContent-Length-Extra: 7\r\n\r\n"));
}

static void different_values_are_refused(void **state)
{
    expect_refused(POST "Content-Length: 5\r\nContent-Length: 60\r\n\r\n", "Content-Length");
    expect_refused(POST "Content-Length: 60\r\nContent-Type: application/json\r\ncontent-length: 5\r\n\r\n", "different");
    expect_refused(POST "Content-Length: 5\r\nCONTENT-LENGTH: 6\r\n\r\n", "different");
    expect_refused(POST "Content-Length: 5\r\nContent-Length: 5\r\nContent-Length: 0\r\n\r\n", "different");
    /* h2o frames by the first and never reads the others: any other that is not the same number is a conflict. */
    expect_refused(POST "Content-Length: 5\r\nContent-Length: five\r\n\r\n", "decimal");
    expect_refused(POST "Content-Length: 5\r\nContent-Length: 5, 5\r\n\r\n", "decimal");
    expect_refused(POST "Content-Length: 5\r\nContent-Length: -5\r\n\r\n", "decimal");
    expect_refused(POST "Content-Length: 5\r\nContent-Length:\r\n\r\n", "decimal");
    expect_refused(POST "Content-Length: 5\r\nContent-Length: +5\r\n\r\n", "decimal");
}

static void the_same_value_again_is_accepted(void **state)
{
    assert_null(check(POST "Content-Length: 5\r\nContent-Length: 5\r\n\r\n"));
    assert_null(check(POST "Content-Length: 5\r\nContent-Length:5\r\ncontent-length: 5 \t\r\n\r\n"));
    assert_null(check(POST "Content-Length: 5\r\nContent-Length: 005\r\n\r\n"));
    assert_null(check(POST "Content-Length: 0\r\nContent-Length: 000\r\n\r\n"));
    assert_null(
        check(POST "Content-Length: 123456789012345678901234567890\r\nContent-Length: 123456789012345678901234567890\r\n\r\n"));
    expect_refused(POST "Content-Length: 123456789012345678901234567890\r\nContent-Length: 123456789012345678901234567891\r\n\r\n",
                   "different");
}

static void only_the_head_is_read(void **state)
{
    /* What follows the empty line is the body or another request: not this head. */
    assert_null(check(POST "Content-Length: 40\r\n\r\nPOST / HTTP/1.1\r\nContent-Length: 7\r\n\r\n"));
    /* Bare LF line ends, as h2o's parser accepts them. */
    assert_null(check("POST /x HTTP/1.1\nHost: x\nContent-Length: 5\n\nabcde"));
    expect_refused("POST /x HTTP/1.1\nHost: x\nContent-Length: 5\nContent-Length: 6\n\n", "different");
    /* One empty line before the request line is skipped, as h2o does. */
    assert_null(check("\r\n" POST "Content-Length: 5\r\n\r\n"));
    expect_refused("\n" POST "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", "different");
    /* A folded line continues the previous header: it is no Content-Length of its own. */
    assert_null(check(POST "Content-Length: 5\r\nX-Note: a\r\n Content-Length: 6\r\n\r\n"));
}

static void http11_needs_a_host(void **state)
{
    static const char get10[] = "GET /health HTTP/1.0\r\n\r\n";
    expect_refused("POST /x HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}", "Host");
    expect_refused("POST /x HTTP/1.1\r\n\r\n", "Host");
    /* Only a Host line of the head counts. */
    expect_refused("POST /x HTTP/1.1\r\nX-Host: a\r\nHosts: b\r\n\r\n", "Host");
    expect_refused("POST /x HTTP/1.1\r\nX-Note: a\r\n Host: b\r\n\r\n", "Host");
    expect_refused("POST /x HTTP/1.1\r\nContent-Length: 9\r\n\r\nHost: b\r\n", "Host");
    assert_null(check("POST /x HTTP/1.1\r\nhost: a.example\r\n\r\n"));
    assert_null(check("POST /x HTTP/1.1\r\nHOST:a.example:8080\r\n\r\n"));
    /* An empty Host is a Host (a target without an authority). */
    assert_null(check("POST /x HTTP/1.1\r\nHost:\r\n\r\n"));
    /* HTTP/1.0 needs none. */
    assert_null(gw_head_check(get10, sizeof(get10) - 1, "GET", 3, 0));
    assert_non_null(gw_head_check(get10, sizeof(get10) - 1, "GET", 3, 1));
}

static void one_host_only(void **state)
{
    static const char two10[] = "GET /health HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n";
    expect_refused("POST /x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "more than one Host");
    expect_refused("POST /x HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", "more than one Host");
    expect_refused("POST /x HTTP/1.1\r\nHost:\r\nHost:\r\n\r\n", "more than one Host");
    assert_non_null(gw_head_check(two10, sizeof(two10) - 1, "GET", 3, 0));
}

static void transfer_encoding_with_content_length_is_refused(void **state)
{
    expect_refused(POST "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", "Transfer-Encoding");
    expect_refused(POST "transfer-encoding: identity\r\nContent-Length: 0\r\n\r\n", "Transfer-Encoding");
    expect_refused(POST "Transfer-Encoding:\r\nContent-Length: 5\r\n\r\n", "Transfer-Encoding");
    /* Either alone frames the body one way. */
    assert_null(check(POST "Transfer-Encoding: chunked\r\n\r\n"));
    assert_null(check(POST "Content-Length: 5\r\nX-Transfer-Encoding: chunked\r\n\r\n"));
}

static void a_head_that_is_not_there(void **state)
{
    assert_ptr_equal(check(""), gw_head_unreadable);
    assert_ptr_equal(check(POST), gw_head_unreadable);                     /* no empty line */
    assert_ptr_equal(check(POST "Content-Length: 5"), gw_head_unreadable); /* cut inside a line */
    assert_ptr_equal(check("GET /health HTTP/1.1\r\n\r\n"), gw_head_unreadable);
    assert_ptr_equal(check("POSTX / HTTP/1.1\r\n\r\n"), gw_head_unreadable);
    assert_ptr_equal(check("\r\n\r\n" POST "\r\n"), gw_head_unreadable); /* h2o skips one empty line, not two */
    assert_ptr_equal(gw_head_check("POST", 4, "POST", 4, 0), gw_head_unreadable);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_content_length_or_none),
        cmocka_unit_test(different_values_are_refused),
        cmocka_unit_test(the_same_value_again_is_accepted),
        cmocka_unit_test(only_the_head_is_read),
        cmocka_unit_test(http11_needs_a_host),
        cmocka_unit_test(one_host_only),
        cmocka_unit_test(transfer_encoding_with_content_length_is_refused),
        cmocka_unit_test(a_head_that_is_not_there),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
