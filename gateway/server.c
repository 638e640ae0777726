/*
 * Threads, listeners and graceful shutdown.
 *
 * Every thread binds its own SO_REUSEPORT listener (bound in the main thread
 * before any thread starts, so a taken port fails the start-up; accepted
 * through listener.c under the connection limits), runs its own loop and owns
 * its Redis connection. On SIGTERM/SIGINT the main thread sets
 * gw.shutdown; each thread notices on its next tick, closes its listener,
 * asks h2o to close idle connections, and leaves its loop once its in-flight
 * requests are answered (or after DRAIN_TIMEOUT_MS).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "clock.h"
#include "ig_net.h"
#include "ig_log.h"
#include "gateway.h"
#include "routes.h"

#define TICK_MS 100
#define DRAIN_TIMEOUT_MS 10000

/*
 * Under LeakSanitizer (Debug builds): h2o keeps per-thread recycle lists of
 * socket buffers for the life of the process; they are caches, not leaks.
 */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:h2o_mem_alloc_recycle\n";
}

static int open_listener(const char *host, uint16_t port)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int fd, on = 1;

    if (ig_sockaddr_parse(&ss, &len, host, port) != 0) {
        ig_error("msg=\"listen address must be an IP literal\" listen=%s", host);
        return -1;
    }
    if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
        return -1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) != 0 || bind(fd, (struct sockaddr *)&ss, len) != 0 ||
        listen(fd, SOMAXCONN) != 0) {
        ig_error("msg=\"cannot listen\" listen=%s:%u err=\"%s\"", host, port, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static void on_tick(h2o_timeout_entry_t *entry)
{
    gw_thread_t *thread = H2O_STRUCT_FROM_MEMBER(gw_thread_t, tick_entry, entry);
    gw_notify_tick(thread);
    if (!thread->draining && atomic_load(&gw.shutdown)) {
        thread->draining = 1;
        thread->drain_deadline_ns = gw_now_ns() + (uint64_t)DRAIN_TIMEOUT_MS * 1000000u;
        gw_listener_close(&thread->listener);
        h2o_context_request_shutdown(&thread->ctx);
    }
    if (thread->draining && (thread->inflight == 0 || gw_now_ns() > thread->drain_deadline_ns)) {
        if (thread->inflight != 0)
            ig_warn("msg=\"drain timeout; leaving requests unanswered\" thread=%u inflight=%zu", thread->index, thread->inflight);
        thread->done = 1;
        return;
    }
    h2o_timeout_link(thread->ctx.loop, &thread->tick_timeout, &thread->tick_entry);
}

static void *thread_main(void *arg)
{
    gw_thread_t *thread = arg;
    h2o_evloop_t *loop = h2o_evloop_create();

    h2o_context_init(&thread->ctx, loop, &gw.h2o);
    thread->accept_ctx.ctx = &thread->ctx;
    thread->accept_ctx.hosts = gw.h2o.hosts;
    thread->proxy_accept_ctx = thread->accept_ctx;
    thread->proxy_accept_ctx.expect_proxy_line = 1;
    gw_listener_start(&thread->listener, thread, thread->listen_fd);
    thread->redis = gw_redis_create(loop, &gw.cfg, gw.lua, gw.lua_len, &thread->metrics);
    h2o_timeout_init(loop, &thread->redis_deadline, gw.cfg.redis_timeout_ms);
    h2o_timeout_init(loop, &thread->tick_timeout, TICK_MS);
    thread->tick_entry.cb = on_tick;
    h2o_timeout_link(loop, &thread->tick_timeout, &thread->tick_entry);

    while (!thread->done)
        h2o_evloop_run(loop, INT32_MAX);

    /* Let h2o finish closing connections before the Redis connection goes. */
    for (int i = 0; i != 10; ++i)
        h2o_evloop_run(loop, 0);
    gw_redis_destroy(thread->redis);
    /* The context and loop are left to process exit: h2o 2.2 asserts when a
     * context is disposed while its internal timers are still linked. */
    return NULL;
}

int gw_server_run(void)
{
    sigset_t set;
    int sig;
    unsigned started = 0;

    h2o_hostconf_t *hostconf = h2o_config_register_host(&gw.h2o, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    gw_routes_register(hostconf);

    if ((gw.threads = calloc(gw.num_threads, sizeof(*gw.threads))) == NULL ||
        (gw.conns = gw_conn_limit_create(gw.cfg.max_connections, gw.cfg.max_connections_per_address)) == NULL)
        return -1;
    gw_listener_fit_fd_limit(gw.cfg.max_connections, gw.num_threads);
    for (unsigned i = 0; i != gw.num_threads; ++i) {
        gw.threads[i].index = i;
        if ((gw.threads[i].listen_fd = open_listener(gw.cfg.listen_host, gw.cfg.listen_port)) == -1)
            return -1;
    }

    /* Signals go to the main thread only: block them before creating threads. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    for (; started != gw.num_threads; ++started) {
        if (pthread_create(&gw.threads[started].tid, NULL, thread_main, &gw.threads[started]) != 0) {
            ig_error("msg=\"cannot start thread\" thread=%u", started);
            atomic_store(&gw.shutdown, 1);
            break;
        }
    }
    ig_info("msg=\"gateway listening\" listen=%s:%u threads=%u redis=%s", gw.cfg.listen_host, gw.cfg.listen_port, gw.num_threads,
            gw.cfg.redis_url);
    if (started == gw.num_threads) {
        sig = gw_notify_wait(&set);
        ig_info("msg=\"shutting down: draining in-flight requests\" signal=%d", sig);
        atomic_store(&gw.shutdown, 1);
    }
    for (unsigned i = 0; i != started; ++i)
        pthread_join(gw.threads[i].tid, NULL);
    /* No loop runs any more: nobody releases a ticket after this. */
    gw_conn_limit_destroy(gw.conns);
    gw.conns = NULL;
    ig_info("msg=\"gateway stopped\"");
    return started == gw.num_threads ? 0 : -1;
}
