/*
 * The path router: which route of route_list.h a method and path name. Pure
 * (no h2o context, no allocation), so that unit tests and the fuzzer drive
 * it directly.
 */
#ifndef GW_ROUTER_H
#define GW_ROUTER_H

#include <stddef.h>
#include "metrics.h"

typedef struct gw_route_match_t {
    gw_route_id_t id;  /**< GW_ROUTE_OTHER when no route matched */
    int path_known;    /**< some route has this path (with another method: 405) */
    const char *param; /**< the '*' segment of the pattern, inside path (NULL when none) */
    size_t param_len;
    gw_idem_mode_t idem; /**< what the route does with an Idempotency-Key header (GW_IDEM_NO when none matched) */
} gw_route_match_t;

/**
 * Looks up method and path (the normalised path, without query). A trailing
 * '/' is ignored ("/ready/" is "/ready"); a GET route also answers HEAD.
 */
gw_route_match_t gw_route_find(const char *method, size_t method_len, const char *path, size_t path_len);

#endif
