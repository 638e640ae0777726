#include <stdio.h>
#include "redis_connect.h"

redisContext *sync_redis_connect(const ig_config_t *cfg, unsigned timeout_ms, char *err, size_t err_len)
{
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    redisContext *c = cfg->redis_unix[0] != '\0' ? redisConnectUnixWithTimeout(cfg->redis_unix, tv)
                                                 : redisConnectWithTimeout(cfg->redis_host, cfg->redis_port, tv);
    if (c == NULL) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    if (c->err != 0 || redisSetTimeout(c, tv) != REDIS_OK) {
        snprintf(err, err_len, "%s", c->errstr[0] != '\0' ? c->errstr : "cannot set the timeout");
        redisFree(c);
        return NULL;
    }
    return c;
}
