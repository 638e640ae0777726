/* The epoll HTTP/1.1 load generator (loadgen.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include "bench.h"
#include "http_resp.h"
#include "loadgen.h"

#define CONN_OUT_BYTES 1024
#define CONN_IN_BYTES 16384
#define EVENTS_MAX 256
#define TIMER_TAG UINT32_MAX

typedef struct conn_t {
    int fd;                   /* -1 when closed */
    int busy;                 /* a request is in flight */
    int want_write;           /* EPOLLOUT is armed */
    int parked;               /* on the stack of free connections */
    bench_op_t op;            /* of the request in flight */
    uint64_t start_ns;        /* when it was due (open loop) or sent (closed loop) */
    char out[CONN_OUT_BYTES]; /* the request being written */
    size_t out_len, out_off;
    char in[CONN_IN_BYTES]; /* bytes of answers read */
    size_t in_len;
} conn_t;

typedef struct loop_t {
    const bench_load_opts_t *o;
    bench_result_t *r;
    int ep, tfd;
    conn_t *conns;
    unsigned *idle; /* stack of free connections (parked) */
    unsigned num_idle;
    unsigned inflight;
    unsigned open_conns;
    uint64_t armed_ns; /* what the timerfd is set to */
    int sending;       /* closed loop: still starting requests */
    int failed;        /* a request could not be built */
    uint64_t t0;       /* open loop: time of request 0 */
    uint64_t total;    /* open loop: requests in the schedule */
    uint64_t dispatched;
} loop_t;

static void conn_close(loop_t *l, conn_t *c)
{
    if (c->fd < 0)
        return;
    epoll_ctl(l->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    c->busy = c->want_write = 0;
    c->in_len = c->out_len = c->out_off = 0;
    --l->open_conns;
}

/* Opens c to 127.0.0.1 (a blocking connect: loopback answers at once). Returns 0 or -1 (counted). */
static int conn_open(loop_t *l, conn_t *c)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)l->o->port)};
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)(c - l->conns)};
    int one = 1;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if ((c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
        goto Fail;
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0 ||
        fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK) != 0 || epoll_ctl(l->ep, EPOLL_CTL_ADD, c->fd, &ev) != 0)
        goto Fail;
    ++l->open_conns;
    return 0;
Fail:
    if (l->r->err_connect++ == 0)
        bench_error("connect to 127.0.0.1:%u: %s", l->o->port, strerror(errno));
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    return -1;
}

static void set_write_interest(loop_t *l, conn_t *c, int on)
{
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.u32 = (uint32_t)(c - l->conns)};
    if (c->want_write == on)
        return;
    epoll_ctl(l->ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_write = on;
}

static void request_done(loop_t *l, conn_t *c, int status, const char *reason, size_t reason_len, uint64_t now)
{
    bench_result_record(l->r, c->op, status, reason, reason_len, now > c->start_ns ? now - c->start_ns : 0, now);
    c->busy = 0;
    --l->inflight;
}

/* Parks c as free; the main loop gives it its next request. */
static void conn_park(loop_t *l, conn_t *c)
{
    if (c->fd < 0 || c->busy || c->parked)
        return;
    c->parked = 1;
    l->idle[l->num_idle++] = (unsigned)(c - l->conns);
}

/* The request in flight on c (if any) is lost with the connection; c is reopened and parked. */
static void conn_lost(loop_t *l, conn_t *c, uint64_t now, const char *why)
{
    if (c->busy)
        request_done(l, c, BENCH_STATUS_NONE, why, strlen(why), now);
    conn_close(l, c);
    if (conn_open(l, c) == 0)
        conn_park(l, c);
}

static void conn_flush(loop_t *l, conn_t *c, uint64_t now)
{
    while (c->out_off != c->out_len) {
        ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (n > 0) {
            c->out_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            set_write_interest(l, c, 1);
            return;
        }
        ++l->r->err_closed;
        conn_lost(l, c, now, "closed");
        return;
    }
    set_write_interest(l, c, 0);
}

/* Builds and sends the next request on the idle, open connection c; its latency counts from start_ns. */
static void conn_send(loop_t *l, conn_t *c, uint64_t start_ns, uint64_t now)
{
    bench_op_t op = bench_mix_pick(l->o->mix, &l->o->ctx->rng);
    int len = bench_http_request(c->out, sizeof(c->out), op, l->o->ctx);
    if (len < 0) {
        bench_error("cannot build a %s request", bench_op_name(op));
        l->failed = 1;
        return;
    }
    if (l->o->ctx->past_capacity)
        ++l->r->past_capacity;
    c->op = op;
    c->start_ns = start_ns;
    c->busy = 1;
    c->out_len = (size_t)len;
    c->out_off = 0;
    ++l->inflight;
    conn_flush(l, c, now);
}

static uint64_t due_time(const loop_t *l, uint64_t k)
{
    return l->t0 + (uint64_t)((double)k * (double)BENCH_NS_PER_SEC / l->o->rate);
}

/* Open loop: sends every due request there is a free connection for. */
static void dispatch_due(loop_t *l, uint64_t now)
{
    uint64_t due = now < l->t0 ? 0 : (uint64_t)((double)(now - l->t0) * l->o->rate / (double)BENCH_NS_PER_SEC) + 1;
    if (due > l->total)
        due = l->total;
    if (due > l->dispatched && due - l->dispatched > l->r->max_backlog)
        l->r->max_backlog = due - l->dispatched;
    while (l->dispatched < due && l->num_idle != 0 && !l->failed) {
        conn_t *c = &l->conns[l->idle[--l->num_idle]];
        c->parked = 0;
        if (c->fd >= 0 && !c->busy)
            conn_send(l, c, due_time(l, l->dispatched++), now);
    }
}

/* Closed loop: sends a request on every parked connection. */
static void dispatch_parked(loop_t *l, uint64_t now)
{
    while (l->sending && l->num_idle != 0 && !l->failed) {
        conn_t *c = &l->conns[l->idle[--l->num_idle]];
        c->parked = 0;
        if (c->fd >= 0 && !c->busy)
            conn_send(l, c, now, now);
    }
}

/* c has no request in flight: give it the next one, or park it. */
static void conn_next(loop_t *l, conn_t *c, uint64_t now)
{
    if (c->fd < 0)
        return;
    if (l->o->rate > 0) {
        conn_park(l, c);
        dispatch_due(l, now);
    } else if (l->sending && !l->failed) {
        conn_send(l, c, now, now);
    }
}

static void conn_readable(loop_t *l, conn_t *c, uint64_t now)
{
    int eof = 0;
    for (;;) {
        if (c->in_len == sizeof(c->in))
            break;
        ssize_t n = read(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len);
        if (n > 0) {
            c->in_len += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
            eof = 1;
        break;
    }
    while (c->busy && c->in_len != 0) {
        bench_http_resp_t resp;
        size_t reason_len;
        ssize_t used = bench_http_parse(&resp, c->in, c->in_len);
        if (used == 0)
            break;
        if (used < 0 || c->out_off != c->out_len) {
            ++l->r->err_protocol;
            conn_lost(l, c, now, "protocol");
            return;
        }
        const char *reason = resp.status >= 400 ? bench_http_reason(resp.body, resp.body_len, &reason_len) : NULL;
        request_done(l, c, resp.status, reason, reason != NULL ? reason_len : 0, now);
        memmove(c->in, c->in + used, c->in_len - (size_t)used);
        c->in_len -= (size_t)used;
        if (resp.close) {
            conn_close(l, c);
            conn_open(l, c);
        }
        conn_next(l, c, now);
        return;
    }
    if (eof) {
        /* An idle keep-alive connection the server closed is simply reopened. */
        if (c->busy)
            ++l->r->err_closed;
        conn_lost(l, c, now, "closed");
    } else if (!c->busy && c->in_len != 0) {
        ++l->r->err_protocol; /* bytes nobody asked for */
        conn_lost(l, c, now, "protocol");
    }
}

static void arm_timer(loop_t *l, uint64_t at_ns)
{
    struct itimerspec its = {
        .it_value = {.tv_sec = (time_t)(at_ns / BENCH_NS_PER_SEC), .tv_nsec = (long)(at_ns % BENCH_NS_PER_SEC)}};
    if (at_ns == l->armed_ns)
        return;
    timerfd_settime(l->tfd, TFD_TIMER_ABSTIME, &its, NULL);
    l->armed_ns = at_ns;
}

/* Requests still in flight at the end of the drain are given up. */
static void give_up(loop_t *l, uint64_t now)
{
    for (unsigned i = 0; i != l->o->connections; ++i) {
        conn_t *c = &l->conns[i];
        if (c->busy) {
            ++l->r->err_timeout;
            request_done(l, c, BENCH_STATUS_NONE, "timeout", 7, now);
        }
    }
}

static int run_loop(loop_t *l)
{
    const bench_load_opts_t *o = l->o;
    struct epoll_event events[EVENTS_MAX];
    uint64_t now = bench_now_ns(), end, drain_end = 0;

    l->t0 = now;
    end = now + (uint64_t)(o->duration_s * (double)BENCH_NS_PER_SEC);
    bench_result_start(l->r, now);
    if (o->rate > 0) {
        l->total = (uint64_t)(o->rate * o->duration_s);
        if (l->total == 0)
            l->total = 1;
    } else {
        l->sending = 1;
    }
    for (unsigned i = o->connections; i-- > 0;)
        conn_park(l, &l->conns[i]);
    for (;;) {
        now = bench_now_ns();
        if (now >= end && drain_end == 0) {
            l->sending = 0;
            drain_end = now + (uint64_t)(o->drain_s * (double)BENCH_NS_PER_SEC);
        }
        if (o->rate > 0)
            dispatch_due(l, now);
        else
            dispatch_parked(l, now);
        int scheduled_left = o->rate > 0 ? l->dispatched < l->total : l->sending;
        if (l->failed || (l->inflight == 0 && (!scheduled_left || l->open_conns == 0)))
            break;
        if (drain_end != 0 && now >= drain_end) {
            give_up(l, now);
            break;
        }
        uint64_t wake = drain_end != 0 ? drain_end : end;
        if (o->rate > 0 && l->num_idle != 0 && l->dispatched < l->total) {
            uint64_t next = due_time(l, l->dispatched);
            if (next < wake)
                wake = next;
        }
        if (wake > now)
            arm_timer(l, wake);
        int n = epoll_wait(l->ep, events, EVENTS_MAX, wake > now ? -1 : 0);
        if (n < 0 && errno != EINTR) {
            bench_error("epoll_wait: %s", strerror(errno));
            return -1;
        }
        now = bench_now_ns();
        for (int i = 0; i < n; ++i) {
            if (events[i].data.u32 == TIMER_TAG) {
                uint64_t expirations;
                if (read(l->tfd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
                    bench_warn("timerfd read: %s", strerror(errno));
                continue;
            }
            conn_t *c = &l->conns[events[i].data.u32];
            if (c->fd < 0)
                continue;
            if ((events[i].events & EPOLLOUT) && c->busy)
                conn_flush(l, c, now);
            if (c->fd >= 0 && (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
                conn_readable(l, c, now);
        }
    }
    if (o->rate > 0)
        l->r->not_sent = l->total - l->dispatched;
    bench_result_finish(l->r, l->r->end_ns > l->r->start_ns ? l->r->end_ns : bench_now_ns());
    if (l->failed)
        return -1;
    if (l->open_conns == 0) {
        bench_error("%s: every connection to 127.0.0.1:%u was lost", l->r->name, o->port);
        return -1;
    }
    return 0;
}

int bench_load_run(bench_result_t *r, const bench_load_opts_t *o)
{
    loop_t l = {.o = o, .r = r, .ep = -1, .tfd = -1};
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = TIMER_TAG};
    int ret = -1;

    r->open_loop = o->rate > 0;
    r->target_rate = o->rate;
    r->connections = o->connections;
    r->pipeline = 1;
    snprintf(r->workload, sizeof(r->workload), "%s", o->mix->workload);
    snprintf(r->skipped, sizeof(r->skipped), "%s", o->mix->skipped);
    if (o->connections == 0 || o->duration_s <= 0) {
        bench_error("%s: needs at least one connection and a positive duration", r->name);
        return -1;
    }
    l.conns = calloc(o->connections, sizeof(*l.conns));
    l.idle = calloc(o->connections, sizeof(*l.idle));
    if (l.conns == NULL || l.idle == NULL) {
        bench_error("out of memory for %u connections", o->connections);
        goto Exit;
    }
    for (unsigned i = 0; i != o->connections; ++i)
        l.conns[i].fd = -1;
    if ((l.ep = epoll_create1(EPOLL_CLOEXEC)) < 0 || (l.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) < 0 ||
        epoll_ctl(l.ep, EPOLL_CTL_ADD, l.tfd, &ev) != 0) {
        bench_error("epoll/timerfd: %s", strerror(errno));
        goto Exit;
    }
    for (unsigned i = 0; i != o->connections; ++i)
        if (conn_open(&l, &l.conns[i]) != 0)
            goto Exit;
    ret = run_loop(&l);
Exit:
    for (unsigned i = 0; l.conns != NULL && i != o->connections; ++i)
        conn_close(&l, &l.conns[i]);
    if (l.tfd >= 0)
        close(l.tfd);
    if (l.ep >= 0)
        close(l.ep);
    free(l.conns);
    free(l.idle);
    return ret;
}
