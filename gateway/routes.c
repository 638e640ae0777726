/* Dispatch: the router's verdict (router.c) to the handler of route_list.h. */
#include "idem.h"
#include "router.h"
#include "routes.h"

static const gw_handler_fn handlers[] = {
#define GW_ROUTE_HANDLER(id, label, method, pattern, handler, idem) [GW_ROUTE_##id] = handler,
    GW_ROUTE_LIST(GW_ROUTE_HANDLER)
#undef GW_ROUTE_HANDLER
};

static const unsigned char limit_policies[GW_ROUTE_OTHER + 1] = {
#define GW_ROUTE_POLICIES(id, policies) [GW_ROUTE_##id] = (policies),
    GW_LIMITED_ROUTE_LIST(GW_ROUTE_POLICIES)
#undef GW_ROUTE_POLICIES
};

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    gw_thread_t *thread = gw_thread_of(req->conn->ctx);
    gw_route_match_t m = gw_route_find(req->method.base, req->method.len, req->path_normalized.base, req->path_normalized.len);
    gw_req_t *rq = gw_req_create(req, thread, m.id);
    if (gw_req_check_head(rq) != 0 || gw_idem_parse(rq, m.idem) != 0)
        return 0;
    rq->limit_policies = limit_policies[m.id];
    if (gw_req_limit_addr(rq) != 0)
        return 0;
    if (m.id != GW_ROUTE_OTHER)
        handlers[m.id](rq, h2o_iovec_init(m.param, m.param_len));
    else if (m.path_known)
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
