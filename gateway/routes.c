#include <string.h>
#include "routes.h"

typedef struct gw_route_t {
    const char *method;
    const char *pattern; /**< '*' matches one non-empty path segment: the parameter */
    gw_route_id_t id;
    gw_handler_fn handle;
} gw_route_t;

static const gw_route_t routes[] = {
    {"GET", "/health", GW_ROUTE_HEALTH, gw_route_health},
    {"GET", "/ready", GW_ROUTE_READY, gw_route_ready},
    {"GET", "/metrics", GW_ROUTE_METRICS, gw_route_metrics},
    {"POST", "/api/invites/generate", GW_ROUTE_GENERATE, gw_route_generate},
    {"POST", "/api/invites/redeem", GW_ROUTE_REDEEM, gw_route_redeem},
    {"GET", "/api/invites/*/status", GW_ROUTE_STATUS, gw_route_status},
    {"POST", "/api/invites/*/revoke", GW_ROUTE_REVOKE, gw_route_revoke},
    {"POST", "/api/waitlist/join", GW_ROUTE_JOIN, gw_route_join},
    {"GET", "/api/waitlist/stats", GW_ROUTE_WL_STATS, gw_route_wl_stats},
    {"GET", "/api/waitlist/*/position", GW_ROUTE_WL_POSITION, gw_route_wl_position},
    {"POST", "/api/waitlist/admit", GW_ROUTE_ADMIT, gw_route_admit},
    {"POST", "/api/referrals/share", GW_ROUTE_SHARE, gw_route_share},
    {"POST", "/api/referrals/earn", GW_ROUTE_EARN, gw_route_earn},
    {"GET", "/api/referrals/*/quality", GW_ROUTE_QUALITY, gw_route_quality},
    {"GET", "/r/*", GW_ROUTE_CLICK, gw_route_click},
    {"POST", "/api/users/*/events", GW_ROUTE_USER_EVENT, gw_route_user_event},
    {"DELETE", "/api/users/*", GW_ROUTE_ERASE, gw_route_erase},
    {"GET", "/api/points/*", GW_ROUTE_POINTS, gw_route_points},
    {"POST", "/api/points/*/spend", GW_ROUTE_SPEND, gw_route_spend},
    {"GET", "/api/quality/trust-score", GW_ROUTE_TRUST, gw_route_trust},
    {"POST", "/api/quality/evaluate-gate", GW_ROUTE_EVALUATE_GATE, gw_route_evaluate_gate},
};

/* Matches path against pattern; on success stores the '*' segment in param. */
static int match(const char *pattern, h2o_iovec_t path, h2o_iovec_t *param)
{
    size_t i = 0;
    for (const char *p = pattern; *p != '\0'; ++p) {
        if (*p == '*') {
            size_t start = i;
            while (i != path.len && path.base[i] != '/')
                ++i;
            if (i == start)
                return 0;
            *param = h2o_iovec_init(path.base + start, i - start);
        } else if (i == path.len || path.base[i++] != *p) {
            return 0;
        }
    }
    return i == path.len;
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    gw_thread_t *thread = gw_thread_of(req->conn->ctx);
    h2o_iovec_t path = req->path_normalized, param = {NULL, 0};
    const gw_route_t *route = NULL;
    int path_known = 0;

    /* "/ready/" answers like "/ready". */
    if (path.len > 1 && path.base[path.len - 1] == '/')
        --path.len;
    for (size_t i = 0; i != sizeof(routes) / sizeof(routes[0]) && route == NULL; ++i) {
        if (!match(routes[i].pattern, path, &param))
            continue;
        path_known = 1;
        if (h2o_memis(req->method.base, req->method.len, routes[i].method, strlen(routes[i].method)) ||
            (strcmp(routes[i].method, "GET") == 0 && h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"))))
            route = &routes[i];
    }
    gw_req_t *rq = gw_req_create(req, thread, route != NULL ? route->id : GW_ROUTE_OTHER);
    if (gw_req_check_head(rq) != 0)
        return 0;
    if (route != NULL)
        route->handle(rq, param);
    else if (path_known)
        gw_req_fail(rq, 405, "method_not_allowed", "this method is not allowed on this path");
    else
        gw_req_fail(rq, 404, "not_found", "no such route");
    return 0;
}

void gw_routes_register(h2o_hostconf_t *hostconf)
{
    h2o_pathconf_t *pathconf = h2o_config_register_path(hostconf, "/", 0);
    h2o_handler_t *handler = h2o_create_handler(pathconf, sizeof(*handler));
    handler->on_req = on_req;
}
