/* The router against the one route list (route_list.h) it is built from. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "router.h"
#include "route_listed.h"

static gw_route_match_t find(const char *method, const char *path)
{
    return gw_route_find(method, strlen(method), path, strlen(path));
}

/* The pattern with its '*' replaced by segment. */
static void instantiate(char *out, size_t cap, const char *pattern, const char *segment)
{
    const char *star = strchr(pattern, '*');
    if (star == NULL)
        snprintf(out, cap, "%s", pattern);
    else
        snprintf(out, cap, "%.*s%s%s", (int)(star - pattern), pattern, segment, star + 1);
}

static void every_listed_route_is_found_with_its_parameter(void **state)
{
    char path[256];
    for (size_t i = 0; i != sizeof(listed) / sizeof(listed[0]); ++i) {
        instantiate(path, sizeof(path), listed[i].pattern, "a%40b.io");
        gw_route_match_t m = find(listed[i].method, path);
        if (m.id != listed[i].id)
            fail_msg("%s %s routed to %d, not %d", listed[i].method, path, (int)m.id, (int)listed[i].id);
        if (strchr(listed[i].pattern, '*') != NULL) {
            assert_non_null(m.param);
            assert_int_equal(m.param_len, strlen("a%40b.io"));
            assert_memory_equal(m.param, "a%40b.io", m.param_len);
        } else {
            assert_null(m.param);
        }
        /* A trailing slash names the same resource. */
        strcat(path, "/");
        assert_int_equal(find(listed[i].method, path).id, listed[i].id);
    }
}

static void get_routes_answer_head_and_nothing_else_does(void **state)
{
    char path[256];
    for (size_t i = 0; i != sizeof(listed) / sizeof(listed[0]); ++i) {
        instantiate(path, sizeof(path), listed[i].pattern, "x");
        gw_route_match_t m = find("HEAD", path);
        if (strcmp(listed[i].method, "GET") == 0) {
            assert_int_equal(m.id, listed[i].id);
        } else if (m.id != GW_ROUTE_OTHER) {
            /* Another route of the same path may be a GET one (DELETE /api/users/x has no GET twin). */
            assert_string_equal(listed[m.id].method, "GET");
        }
    }
}

static void a_known_path_with_another_method_is_not_allowed(void **state)
{
    gw_route_match_t m = find("PUT", "/api/invites/redeem");
    assert_int_equal(m.id, GW_ROUTE_OTHER);
    assert_true(m.path_known);
    m = find("GET", "/api/users/u%40x.io");
    assert_int_equal(m.id, GW_ROUTE_OTHER);
    assert_true(m.path_known);
    m = find("get", "/health"); /* methods are case-sensitive (RFC 9110) */
    assert_int_equal(m.id, GW_ROUTE_OTHER);
    assert_true(m.path_known);
}

static void unknown_and_malformed_paths_are_not_found(void **state)
{
    const char *paths[] = {"",
                           "/",
                           "/healthz",
                           "/health/x",
                           "/api/invites//status",
                           "/api/invites/ABC/status/more",
                           "/api/invites/ABC",
                           "/r/",
                           "/r/a/b",
                           "//health",
                           "/api/points/",
                           "/api/points/u%40x.io/spend/x",
                           "/health//"};
    for (size_t i = 0; i != sizeof(paths) / sizeof(paths[0]); ++i) {
        gw_route_match_t m = find("GET", paths[i]);
        if (m.id != GW_ROUTE_OTHER || m.path_known)
            fail_msg("GET \"%s\" matched route %d (path known %d)", paths[i], (int)m.id, m.path_known);
        m = find("POST", paths[i]);
        assert_int_equal(m.id, GW_ROUTE_OTHER);
    }
}

static void earlier_routes_win(void **state)
{
    /* /api/users/{email}/events is not DELETE /api/users/{email} with a longer parameter. */
    gw_route_match_t m = find("DELETE", "/api/users/u%40x.io/events");
    assert_int_equal(m.id, GW_ROUTE_OTHER);
    assert_true(m.path_known);
    m = find("POST", "/api/points/u%40x.io/spend");
    assert_int_equal(m.id, GW_ROUTE_SPEND);
    assert_memory_equal(m.param, "u%40x.io", m.param_len);
}

static void a_match_carries_its_routes_idempotency_mode(void **state)
{
    char path[256];
    for (size_t i = 0; i != sizeof(listed) / sizeof(listed[0]); ++i) {
        instantiate(path, sizeof(path), listed[i].pattern, "x");
        assert_int_equal(find(listed[i].method, path).idem, listed[i].idem);
        /* Reads never take a key. */
        if (strcmp(listed[i].method, "GET") == 0)
            assert_int_equal(listed[i].idem, GW_IDEM_NO);
    }
    assert_int_equal(find("POST", "/api/waitlist/admit").idem, GW_IDEM_CALL);
    assert_int_equal(find("POST", "/api/points/u%40x.io/spend").idem, GW_IDEM_CALL);
    assert_int_equal(find("POST", "/api/users/u%40x.io/events").idem, GW_IDEM_CALL);
    assert_int_equal(find("POST", "/api/referrals/share").idem, GW_IDEM_CALL);
    assert_int_equal(find("POST", "/api/referrals/earn").idem, GW_IDEM_CALL);
    assert_int_equal(find("POST", "/api/quality/evaluate-gate").idem, GW_IDEM_CALL);
    assert_int_equal(find("POST", "/api/invites/generate").idem, GW_IDEM_ANSWER);
    assert_int_equal(find("POST", "/api/invites/ABC/revoke").idem, GW_IDEM_ANSWER);
    /* No route, no mode. */
    assert_int_equal(find("PUT", "/api/waitlist/admit").idem, GW_IDEM_NO);
    assert_int_equal(find("POST", "/nowhere").idem, GW_IDEM_NO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_listed_route_is_found_with_its_parameter),
        cmocka_unit_test(get_routes_answer_head_and_nothing_else_does),
        cmocka_unit_test(a_known_path_with_another_method_is_not_allowed),
        cmocka_unit_test(unknown_and_malformed_paths_are_not_found),
        cmocka_unit_test(earlier_routes_win),
        cmocka_unit_test(a_match_carries_its_routes_idempotency_mode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
