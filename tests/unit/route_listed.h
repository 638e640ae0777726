/*
 * The routes of route_list.h as a table, for the tests that check the
 * router against the list it is built from (tests/unit/test_router.c,
 * tests/fuzz/router.c).
 */
#ifndef IG_TEST_ROUTE_LISTED_H
#define IG_TEST_ROUTE_LISTED_H

#include "router.h"

typedef struct listed_t {
    gw_route_id_t id;
    const char *method, *pattern;
    gw_idem_mode_t idem;
} listed_t;

static const listed_t listed[] = {
#define LISTED(id, label, method, pattern, handler, idem) {GW_ROUTE_##id, method, pattern, GW_IDEM_##idem},
    GW_ROUTE_LIST(LISTED)
#undef LISTED
};

#endif
