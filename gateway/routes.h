/*
 * The handlers of the routes of route_list.h and their dispatch. A handler gets the
 * request context and the one path parameter of its pattern (e.g. the code
 * of /api/invites/{code}/status), and must answer exactly once, now or from a
 * Redis reply.
 */
#ifndef GW_ROUTES_H
#define GW_ROUTES_H

#include <h2o.h>
#include "request.h"

typedef void (*gw_handler_fn)(gw_req_t *rq, h2o_iovec_t param);

/** Installs the router as the handler of every path of hostconf. */
void gw_routes_register(h2o_hostconf_t *hostconf);

/* The handlers of route_list.h (one file per area: routes_ops.c, routes_invites.c, ...). */
#define GW_ROUTE_PROTOTYPE(id, label, method, pattern, handler, idem) void handler(gw_req_t *rq, h2o_iovec_t param);
GW_ROUTE_LIST(GW_ROUTE_PROTOTYPE)
#undef GW_ROUTE_PROTOTYPE

#endif
