#include <string.h>
#include "router.h"

typedef struct route_t {
    const char *method;
    const char *pattern;
    gw_idem_mode_t idem;
} route_t;

static const route_t routes[] = {
#define GW_ROUTE_ENTRY(id, label, method, pattern, handler, idem) [GW_ROUTE_##id] = {method, pattern, GW_IDEM_##idem},
    GW_ROUTE_LIST(GW_ROUTE_ENTRY)
#undef GW_ROUTE_ENTRY
};

static int same(const char *a, size_t alen, const char *b)
{
    return alen == strlen(b) && memcmp(a, b, alen) == 0;
}

/* Matches path against pattern; on success stores the '*' segment in m. */
static int match(const char *pattern, const char *path, size_t len, gw_route_match_t *m)
{
    size_t i = 0;
    for (const char *p = pattern; *p != '\0'; ++p) {
        if (*p == '*') {
            size_t start = i;
            while (i != len && path[i] != '/')
                ++i;
            if (i == start)
                return 0;
            m->param = path + start;
            m->param_len = i - start;
        } else if (i == len || path[i++] != *p) {
            return 0;
        }
    }
    return i == len;
}

gw_route_match_t gw_route_find(const char *method, size_t method_len, const char *path, size_t path_len)
{
    gw_route_match_t m = {GW_ROUTE_OTHER, 0, NULL, 0, GW_IDEM_NO};
    if (path_len > 1 && path[path_len - 1] == '/')
        --path_len;
    for (size_t i = 0; i != sizeof(routes) / sizeof(routes[0]); ++i) {
        gw_route_match_t candidate = m;
        if (!match(routes[i].pattern, path, path_len, &candidate))
            continue;
        m.path_known = 1;
        if (same(method, method_len, routes[i].method) ||
            (strcmp(routes[i].method, "GET") == 0 && same(method, method_len, "HEAD"))) {
            candidate.id = (gw_route_id_t)i;
            candidate.path_known = 1;
            candidate.idem = routes[i].idem;
            return candidate;
        }
    }
    return m;
}
