/*
 * The routing table and the handlers it dispatches to. A handler gets the
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

/* routes_ops.c */
void gw_route_health(gw_req_t *rq, h2o_iovec_t param);
void gw_route_ready(gw_req_t *rq, h2o_iovec_t param);
void gw_route_metrics(gw_req_t *rq, h2o_iovec_t param);

/* routes_invites.c */
void gw_route_generate(gw_req_t *rq, h2o_iovec_t param);
void gw_route_status(gw_req_t *rq, h2o_iovec_t param);
void gw_route_redeem(gw_req_t *rq, h2o_iovec_t param);
void gw_route_revoke(gw_req_t *rq, h2o_iovec_t param);

/* routes_waitlist.c */
void gw_route_join(gw_req_t *rq, h2o_iovec_t param);
void gw_route_wl_stats(gw_req_t *rq, h2o_iovec_t param);
void gw_route_wl_position(gw_req_t *rq, h2o_iovec_t param);
void gw_route_admit(gw_req_t *rq, h2o_iovec_t param);

/* routes_referrals.c */
void gw_route_share(gw_req_t *rq, h2o_iovec_t param);
void gw_route_earn(gw_req_t *rq, h2o_iovec_t param);
void gw_route_quality(gw_req_t *rq, h2o_iovec_t param);
void gw_route_click(gw_req_t *rq, h2o_iovec_t param);

/* routes_users.c */
void gw_route_user_event(gw_req_t *rq, h2o_iovec_t param);
void gw_route_points(gw_req_t *rq, h2o_iovec_t param);
void gw_route_spend(gw_req_t *rq, h2o_iovec_t param);
void gw_route_erase(gw_req_t *rq, h2o_iovec_t param);
void gw_route_trust(gw_req_t *rq, h2o_iovec_t param);
void gw_route_evaluate_gate(gw_req_t *rq, h2o_iovec_t param);

#endif
