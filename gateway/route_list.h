/*
 * The routes of the gateway: the one list every other description of them is
 * generated from (the route ids and `route` label names of metrics.h and
 * metrics.c, the handler prototypes of routes.h, the table of router.c).
 * Order matters only to the router: the first pattern that matches the path
 * and the method wins.
 *
 * X(ID, label, method, pattern, handler, idem): '*' in a pattern matches one
 * non-empty path segment, given to the handler as its parameter. GET routes
 * also answer HEAD. idem says what the route does with an Idempotency-Key
 * header (idem.h):
 *
 *   NO      ignores it: reads, and changes that are idempotent by themselves
 *           and answer a retry alike on their own (redeem, join, erase);
 *   CALL    the library call that makes the change checks and records the key
 *           in the same atomic call: every call the route makes takes the
 *           key's record as its last KEY and the request's fingerprint as its
 *           last ARGV (gw_idem_call_key, gw_idem_call_fp; common/ig_calls.h);
 *   ANSWER  idempotent by itself but not one call of bucket 0 (generate,
 *           revoke): the key is looked up before and the answer recorded after.
 */
#ifndef GW_ROUTE_LIST_H
#define GW_ROUTE_LIST_H

/** What a route does with an Idempotency-Key header (the idem column of GW_ROUTE_LIST). */
typedef enum { GW_IDEM_NO, GW_IDEM_CALL, GW_IDEM_ANSWER } gw_idem_mode_t;

#define GW_ROUTE_LIST(X)                                                                                                           \
    X(HEALTH, "health", "GET", "/health", gw_route_health, NO)                                                                     \
    X(READY, "ready", "GET", "/ready", gw_route_ready, NO)                                                                         \
    X(METRICS, "metrics", "GET", "/metrics", gw_route_metrics, NO)                                                                 \
    X(GENERATE, "generate", "POST", "/api/invites/generate", gw_route_generate, ANSWER)                                            \
    X(REDEEM, "redeem", "POST", "/api/invites/redeem", gw_route_redeem, NO)                                                        \
    X(STATUS, "status", "GET", "/api/invites/*/status", gw_route_status, NO)                                                       \
    X(REVOKE, "revoke", "POST", "/api/invites/*/revoke", gw_route_revoke, ANSWER)                                                  \
    X(JOIN, "join", "POST", "/api/waitlist/join", gw_route_join, NO)                                                               \
    X(WL_STATS, "waitlist_stats", "GET", "/api/waitlist/stats", gw_route_wl_stats, NO)                                             \
    X(WL_POSITION, "position", "GET", "/api/waitlist/*/position", gw_route_wl_position, NO)                                        \
    X(ADMIT, "admit", "POST", "/api/waitlist/admit", gw_route_admit, CALL)                                                         \
    X(SHARE, "share", "POST", "/api/referrals/share", gw_route_share, CALL)                                                        \
    X(EARN, "earn", "POST", "/api/referrals/earn", gw_route_earn, CALL)                                                            \
    X(QUALITY, "quality", "GET", "/api/referrals/*/quality", gw_route_quality, NO)                                                 \
    X(CLICK, "click", "GET", "/r/*", gw_route_click, NO)                                                                           \
    X(USER_EVENT, "user_event", "POST", "/api/users/*/events", gw_route_user_event, CALL)                                          \
    X(ERASE, "erase", "DELETE", "/api/users/*", gw_route_erase, NO)                                                                \
    X(POINTS, "points", "GET", "/api/points/*", gw_route_points, NO)                                                               \
    X(SPEND, "spend", "POST", "/api/points/*/spend", gw_route_spend, CALL)                                                         \
    X(GRANT, "grant", "POST", "/api/points/*/grant", gw_route_grant, CALL)                                                         \
    X(TRUST, "trust_score", "GET", "/api/quality/trust-score", gw_route_trust, NO)                                                 \
    X(EVALUATE_GATE, "evaluate_gate", "POST", "/api/quality/evaluate-gate", gw_route_evaluate_gate, CALL)

/*
 * The rate-limited routes (API.md: the public endpoints) and their policies
 * (gateway/ratelimit.h): each is limited per client address, checked before
 * its handler runs; those whose request names an e-mail also per e-mail,
 * checked by the handler once the e-mail is parsed (gw_req_limit_email).
 *
 * X(ID, policies)
 */
#define GW_LIMITED_ROUTE_LIST(X)                                                                                                   \
    X(REDEEM, GW_LIMIT_ADDR | GW_LIMIT_EMAIL)                                                                                      \
    X(STATUS, GW_LIMIT_ADDR)                                                                                                       \
    X(JOIN, GW_LIMIT_ADDR | GW_LIMIT_EMAIL)                                                                                        \
    X(WL_STATS, GW_LIMIT_ADDR)                                                                                                     \
    X(WL_POSITION, GW_LIMIT_ADDR | GW_LIMIT_EMAIL)                                                                                 \
    X(SHARE, GW_LIMIT_ADDR | GW_LIMIT_EMAIL)                                                                                       \
    X(EARN, GW_LIMIT_ADDR | GW_LIMIT_EMAIL)                                                                                        \
    X(QUALITY, GW_LIMIT_ADDR | GW_LIMIT_EMAIL)                                                                                     \
    X(CLICK, GW_LIMIT_ADDR)

#endif
