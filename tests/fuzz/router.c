/*
 * Fuzz target: the path router (gateway/router.c), against a reference that
 * matches the same route list (route_list.h) another way: path and pattern
 * cut into '/'-separated segments, compared segment by segment, '*' taking
 * any non-empty one.
 *
 * Input: "METHOD PATH", the method being the bytes before the first space;
 * without a space the whole input is the path of a GET.
 *
 * Checks: the router names the route the reference finds (the first in the
 * list whose pattern matches the path, trailing '/' ignored, and whose
 * method is the request's, GET also answering HEAD), with the same 405/404
 * verdict (path_known), the same parameter (inside the path, one non-empty
 * segment) and the route's Idempotency-Key mode.
 */
#include "fuzz.h"
#include "router.h"
#include "../unit/route_listed.h"

#define NUM_LISTED (sizeof(listed) / sizeof(listed[0]))

/*
 * Whether path[0..len) has the segments of pattern; *param gets the one that
 * '*' took. Segments are what lies between '/'s: "/a/b" is "", "a", "b".
 */
static int segments_match(const char *pattern, const char *path, size_t len, const char **param, size_t *param_len)
{
    const char *p = path, *end = path + len;
    for (;;) {
        size_t plen = strcspn(pattern, "/");
        const char *slash = memchr(p, '/', (size_t)(end - p));
        size_t slen = (size_t)((slash != NULL ? slash : end) - p);
        if (plen == 1 && pattern[0] == '*') {
            if (slen == 0)
                return 0;
            *param = p;
            *param_len = slen;
        } else if (plen != slen || memcmp(pattern, p, slen) != 0) {
            return 0;
        }
        /* Both end here, or both go on to a next segment. */
        if ((pattern[plen] == '\0') != (slash == NULL))
            return 0;
        if (slash == NULL)
            return 1;
        pattern += plen + 1;
        p = slash + 1;
    }
}

static int method_is(const char *method, size_t len, const char *want)
{
    return len == strlen(want) && memcmp(method, want, len) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data, *space = memchr(in, ' ', size);
    const char *method = "GET", *path = in;
    size_t method_len = 3, path_len = size;
    if (space != NULL) {
        method = in, method_len = (size_t)(space - in);
        path = space + 1, path_len = size - method_len - 1;
    }

    gw_route_match_t got = gw_route_find(method, method_len, path, path_len);

    size_t len = path_len > 1 && path[path_len - 1] == '/' ? path_len - 1 : path_len;
    const listed_t *want = NULL;
    const char *param = NULL;
    size_t param_len = 0;
    int known = 0;
    for (size_t i = 0; i != NUM_LISTED && want == NULL; ++i) {
        const char *p = NULL;
        size_t plen = 0;
        if (!segments_match(listed[i].pattern, path, len, &p, &plen))
            continue;
        known = 1;
        if (method_is(method, method_len, listed[i].method) ||
            (strcmp(listed[i].method, "GET") == 0 && method_is(method, method_len, "HEAD")))
            want = &listed[i], param = p, param_len = plen;
    }

    FUZZ_CHECK(got.path_known == known);
    if (want == NULL) {
        FUZZ_CHECK(got.id == GW_ROUTE_OTHER && got.param == NULL && got.param_len == 0 && got.idem == GW_IDEM_NO);
        return 0;
    }
    FUZZ_CHECK(got.id == want->id && got.idem == want->idem);
    FUZZ_CHECK(got.param == param && got.param_len == param_len);
    if (param != NULL)
        FUZZ_CHECK(param >= path && param + param_len <= path + len && param_len > 0 && memchr(param, '/', param_len) == NULL);
    return 0;
}
