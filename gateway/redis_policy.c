#include <string.h>
#include "ig_log.h"
#include "redis_policy.h"

static void on_policy(void *data, redisReply *reply, const char *err, uint64_t rtt_ns)
{
    if (err != NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 || reply->element[1]->type != REDIS_REPLY_STRING) {
        /* Managed Redis services often rename or refuse CONFIG. */
        ig_warn(
            "msg=\"cannot read Redis maxmemory-policy; make sure it is noeviction (an evicted code is a lost code)\" err=\"%s\"",
            err != NULL                        ? err
            : reply->type == REDIS_REPLY_ERROR ? reply->str
                                               : "unexpected reply");
        return;
    }
    if (strcmp(reply->element[1]->str, "noeviction") != 0)
        ig_warn("msg=\"Redis may evict keys at its memory limit, and an evicted code is a lost code: set maxmemory-policy "
                "noeviction\" maxmemory_policy=%s",
                reply->element[1]->str);
    else
        ig_info("msg=\"Redis maxmemory-policy is noeviction\"");
}

void gw_redis_check_policy(gw_redis_t *r)
{
    static const char *argv[] = {"CONFIG", "GET", "maxmemory-policy"};
    static const size_t argvlen[] = {6, 3, 16};

    if (gw_redis_call(r, on_policy, NULL, 3, argv, argvlen) != 0)
        ig_warn("msg=\"cannot ask Redis for maxmemory-policy: not connected\"");
}
