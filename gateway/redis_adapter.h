/*
 * hiredis adapter for the h2o event loop, in the shape of hiredis's own
 * adapters (one header per loop). h2o only polls the descriptor (H2O_SOCKET_FLAG_DONT_READ);
 * hiredis does the reading and writing.
 *
 * Ownership: gw_redis_adapter_attach() allocates the adapter state and
 * hands it to the context; hiredis calls cleanup when it frees the context,
 * which closes the h2o socket and leaves the descriptor to h2o alone.
 */
#ifndef GW_REDIS_ADAPTER_H
#define GW_REDIS_ADAPTER_H

#include <stdlib.h>
#include <h2o.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>

typedef struct gw_redis_adapter_t {
    redisAsyncContext *ac; /**< the context this adapter drives */
    h2o_socket_t *sock;    /**< h2o's view of the hiredis descriptor */
} gw_redis_adapter_t;

static void gw_redis_adapter_on_read(h2o_socket_t *sock, const char *err)
{
    gw_redis_adapter_t *a = sock->data;
    redisAsyncHandleRead(a->ac);
}

static void gw_redis_adapter_on_write(h2o_socket_t *sock, const char *err)
{
    gw_redis_adapter_t *a = sock->data;
    redisAsyncHandleWrite(a->ac);
}

static void gw_redis_adapter_add_read(void *privdata)
{
    gw_redis_adapter_t *a = privdata;
    h2o_socket_read_start(a->sock, gw_redis_adapter_on_read);
}

static void gw_redis_adapter_del_read(void *privdata)
{
    gw_redis_adapter_t *a = privdata;
    h2o_socket_read_stop(a->sock);
}

static void gw_redis_adapter_add_write(void *privdata)
{
    gw_redis_adapter_t *a = privdata;
    /* Arming the write notification twice asserts inside h2o. */
    if (!h2o_socket_is_writing(a->sock))
        h2o_socket_notify_write(a->sock, gw_redis_adapter_on_write);
}

static void gw_redis_adapter_del_write(void *privdata)
{
    /* A spurious write notification is harmless: hiredis finds nothing to write. */
}

static void gw_redis_adapter_cleanup(void *privdata)
{
    gw_redis_adapter_t *a = privdata;
    /* h2o closes the descriptor; hiredis must not close it a second time. */
    a->ac->c.fd = -1;
    h2o_socket_read_stop(a->sock);
    h2o_socket_close(a->sock);
    free(a);
}

/** Attaches ac to loop. Returns REDIS_OK or REDIS_ERR. Call before setting the connect callback. */
static inline int gw_redis_adapter_attach(redisAsyncContext *ac, h2o_loop_t *loop)
{
    gw_redis_adapter_t *a;
    if (ac->ev.data != NULL || (a = calloc(1, sizeof(*a))) == NULL)
        return REDIS_ERR;
    a->ac = ac;
    a->sock = h2o_evloop_socket_create(loop, ac->c.fd, H2O_SOCKET_FLAG_DONT_READ);
    a->sock->data = a;
    ac->ev.addRead = gw_redis_adapter_add_read;
    ac->ev.delRead = gw_redis_adapter_del_read;
    ac->ev.addWrite = gw_redis_adapter_add_write;
    ac->ev.delWrite = gw_redis_adapter_del_write;
    ac->ev.cleanup = gw_redis_adapter_cleanup;
    ac->ev.data = a;
    return REDIS_OK;
}

#endif
