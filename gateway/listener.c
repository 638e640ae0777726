#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include "ig_log.h"
#include "ig_net.h"
#include "gateway.h"
#include "listener.h"

/* Connections taken per wake-up before the loop serves other events. */
#define ACCEPT_BATCH 64
/* Descriptors a gateway needs besides its connections: standard streams and
 * a margin, plus per thread its listener, Redis connection and loop. */
#define FD_RESERVE 64
#define FD_PER_THREAD 8

/* An admitted connection, owned by its socket's on_close hook. */
typedef struct gw_conn_t {
    gw_listener_t *listener; /**< of the thread the socket lives on */
    uint32_t ticket;         /**< from gw_conn_limit_acquire */
} gw_conn_t;

static void on_accept(h2o_socket_t *sock, const char *err);

static void resume_accepting(gw_listener_t *listener)
{
    if (!listener->paused || listener->sock == NULL)
        return;
    listener->paused = 0;
    if (h2o_timeout_is_linked(&listener->backoff_entry))
        h2o_timeout_unlink(&listener->backoff_entry);
    h2o_socket_read_start(listener->sock, on_accept);
}

static void on_backoff_end(h2o_timeout_entry_t *entry)
{
    resume_accepting(H2O_STRUCT_FROM_MEMBER(gw_listener_t, backoff_entry, entry));
}

static void pause_accepting(gw_listener_t *listener, int err)
{
    h2o_socket_read_stop(listener->sock);
    listener->paused = 1;
    h2o_timeout_link(listener->thread->ctx.loop, &listener->backoff_timeout, &listener->backoff_entry);
    ++listener->episode_failures;
    if (listener->episode_start_ns != 0)
        return;
    listener->episode_start_ns = gw_now_ns();
    gw_metrics_accept_paused(&listener->thread->metrics);
    ig_warn("msg=\"cannot accept connections: pausing the listener\" thread=%u err=\"%s\" open_connections=%zu "
            "retry_ms=%d",
            listener->thread->index, strerror(err), gw_conn_limit_open(gw.conns), GW_LISTENER_BACKOFF_MS);
}

/* The queue of pending connections is empty: a pause episode, if any, is over. */
static void end_episode(gw_listener_t *listener)
{
    if (listener->episode_start_ns == 0)
        return;
    ig_info("msg=\"accepting again\" thread=%u paused_ms=%llu failed_accepts=%u open_connections=%zu", listener->thread->index,
            (unsigned long long)((gw_now_ns() - listener->episode_start_ns) / 1000000), listener->episode_failures,
            gw_conn_limit_open(gw.conns));
    listener->episode_start_ns = 0;
    listener->episode_failures = 0;
}

static void on_conn_close(void *data)
{
    gw_conn_t *conn = data;
    gw_listener_t *listener = conn->listener;
    gw_conn_limit_release(gw.conns, conn->ticket);
    free(conn);
    /* A descriptor was freed: a paused listener need not wait for its back-off. */
    resume_accepting(listener);
}

/*
 * With proxy_protocol on, h2o reads a PROXY v1 line at the start of a
 * connection and takes its source address for the peer's. h2o 2.2.5 takes it
 * from anyone (lib/core/util.c: a line that does not parse is handed to HTTP
 * as it is), so only a peer in trusted_proxies gets the accept context that
 * expects one; from any other peer the line is read as a malformed HTTP
 * request (400) and the peer stays its own client. The connection limits
 * count the TCP peer either way.
 */
static h2o_accept_ctx_t *accept_ctx_for(gw_thread_t *thread, const struct sockaddr *peer)
{
    ig_addr_t addr;
    if (gw.cfg.proxy_protocol && ig_addr_from_sockaddr(&addr, peer) == 0 &&
        ig_cidr_list_contains(gw.cfg.trusted_proxies, gw.cfg.num_trusted_proxies, &addr))
        return &thread->proxy_accept_ctx;
    return &thread->accept_ctx;
}

/* Counts a freshly accepted fd against the limits: hands it to h2o, or closes it. */
static void admit(gw_listener_t *listener, int fd, const struct sockaddr *peer, socklen_t peer_len)
{
    gw_thread_t *thread = listener->thread;
    uint32_t ticket;
    gw_conn_verdict_t verdict = gw_conn_limit_acquire(gw.conns, &ticket, peer);

    if (verdict != GW_CONN_ADMITTED) {
        close(fd);
        gw_metrics_conn_refused(&thread->metrics, verdict);
        return;
    }
    /* TCP_NODELAY is inherited from the listener on Linux. */
    h2o_socket_t *sock = h2o_evloop_socket_create(thread->ctx.loop, fd, H2O_SOCKET_FLAG_IS_ACCEPTED_CONNECTION);
    h2o_socket_setpeername(sock, (struct sockaddr *)peer, peer_len);
    gw_conn_t *conn = h2o_mem_alloc(sizeof(*conn));
    conn->listener = listener;
    conn->ticket = ticket;
    sock->on_close.cb = on_conn_close;
    sock->on_close.data = conn;
    h2o_accept(accept_ctx_for(thread, peer), sock);
}

static void on_accept(h2o_socket_t *sock, const char *err)
{
    gw_listener_t *listener = sock->data;

    if (err != NULL)
        return;
    for (unsigned n = 0; n != ACCEPT_BATCH; ++n) {
        struct sockaddr_storage peer;
        socklen_t peer_len = sizeof(peer);
        int fd = accept4(listener->fd, (struct sockaddr *)&peer, &peer_len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd != -1) {
            admit(listener, fd, (struct sockaddr *)&peer, peer_len);
            continue;
        }
        switch (errno) {
        case EAGAIN:
            end_episode(listener);
            return;
        case EMFILE:
        case ENFILE:
        case ENOBUFS:
        case ENOMEM:
            pause_accepting(listener, errno);
            return;
        default:
            /* A connection that failed while queued (ECONNABORTED, EPROTO, the
             * network errors accept(2) passes on, EINTR): take the next. */
            continue;
        }
    }
}

void gw_listener_start(gw_listener_t *listener, gw_thread_t *thread, int fd)
{
    memset(listener, 0, sizeof(*listener));
    listener->thread = thread;
    listener->fd = fd;
    h2o_timeout_init(thread->ctx.loop, &listener->backoff_timeout, GW_LISTENER_BACKOFF_MS);
    listener->backoff_entry.cb = on_backoff_end;
    listener->sock = h2o_evloop_socket_create(thread->ctx.loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    listener->sock->data = listener;
    h2o_socket_read_start(listener->sock, on_accept);
}

void gw_listener_close(gw_listener_t *listener)
{
    if (listener->sock == NULL)
        return;
    if (h2o_timeout_is_linked(&listener->backoff_entry))
        h2o_timeout_unlink(&listener->backoff_entry);
    h2o_socket_read_stop(listener->sock);
    h2o_socket_close(listener->sock);
    listener->sock = NULL;
    listener->paused = 0;
}

void gw_listener_fit_fd_limit(unsigned max_connections, unsigned threads)
{
    struct rlimit lim;
    rlim_t want = (rlim_t)max_connections + FD_RESERVE + (rlim_t)FD_PER_THREAD * threads;

    if (getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur >= want)
        return;
    rlim_t soft = lim.rlim_max == RLIM_INFINITY || lim.rlim_max >= want ? want : lim.rlim_max;
    if (soft > lim.rlim_cur) {
        lim.rlim_cur = soft;
        if (setrlimit(RLIMIT_NOFILE, &lim) != 0)
            getrlimit(RLIMIT_NOFILE, &lim);
    }
    if (lim.rlim_cur < want)
        ig_warn("msg=\"descriptor limit below max_connections: listeners will pause when descriptors run out\" "
                "nofile=%llu max_connections=%u wanted=%llu",
                (unsigned long long)lim.rlim_cur, max_connections, (unsigned long long)want);
}
