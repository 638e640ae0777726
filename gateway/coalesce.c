#include <stdlib.h>
#include "coalesce.h"

struct gw_coalescer_t {
    gw_thread_t *thread;
    gw_coalesce_send_fn send;
    unsigned lanes;
    size_t queued;                   /* requests queued over all lanes */
    unsigned calls_out;              /* calls of the current round not yet answered */
    h2o_timeout_entry_t flush_entry; /* linked to the zero timeout while a round is due */
    struct {
        gw_req_t *items[GW_COALESCE_MAX_ITEMS]; /* held (gw_req_hold) while queued */
        size_t count;
    } lane[];
};

/* Sends the queued requests of one lane in one call. */
static void flush_lane(gw_coalescer_t *c, unsigned lane)
{
    gw_req_t *live[GW_COALESCE_MAX_ITEMS];
    size_t n = 0;

    /* Requests whose client left, or that were answered 503 at their deadline, while queued are dropped here. */
    for (size_t i = 0; i != c->lane[lane].count; ++i) {
        gw_req_t *rq = c->lane[lane].items[i];
        if (rq->req != NULL && !rq->answered)
            live[n++] = rq;
        else
            gw_req_release(rq);
    }
    c->queued -= c->lane[lane].count;
    c->lane[lane].count = 0;
    if (n == 0)
        return;
    int sent = c->send(c, lane, live, n);
    if (sent == 0)
        ++c->calls_out;
    /* The call holds the requests now (or nobody does); answer them if it could not go out. */
    for (size_t i = 0; i != n; ++i) {
        if (sent != 0)
            gw_req_unavailable(live[i]);
        gw_req_release(live[i]);
    }
}

static void on_flush(h2o_timeout_entry_t *entry)
{
    gw_coalescer_t *c = H2O_STRUCT_FROM_MEMBER(gw_coalescer_t, flush_entry, entry);
    for (unsigned l = 0; l != c->lanes && c->queued != 0; ++l)
        if (c->lane[l].count != 0)
            flush_lane(c, l);
}

/* Sends the next round at the end of this loop turn, unless a round is out. */
static void schedule_round(gw_coalescer_t *c)
{
    if (c->calls_out == 0 && c->queued != 0 && !h2o_timeout_is_linked(&c->flush_entry))
        h2o_timeout_link(c->thread->ctx.loop, &c->thread->ctx.zero_timeout, &c->flush_entry);
}

void gw_coalesce_done(void *data)
{
    gw_coalescer_t *c = data;
    --c->calls_out;
    schedule_round(c);
}

gw_coalescer_t *gw_coalescer_new(gw_thread_t *thread, unsigned lanes, gw_coalesce_send_fn send)
{
    gw_coalescer_t *c = calloc(1, sizeof(*c) + lanes * sizeof(c->lane[0]));
    if (c == NULL)
        h2o_fatal("no memory");
    c->thread = thread;
    c->send = send;
    c->lanes = lanes;
    c->flush_entry.cb = on_flush;
    return c;
}

void gw_coalesce_enqueue(gw_coalescer_t *c, gw_req_t *rq, unsigned lane)
{
    gw_req_hold(rq);
    /* The wait for the round in flight counts against the same redis_timeout_ms as the call. */
    gw_req_arm_deadline(rq);
    c->lane[lane].items[c->lane[lane].count++] = rq;
    ++c->queued;
    if (c->lane[lane].count == GW_COALESCE_MAX_ITEMS)
        flush_lane(c, lane);
    else
        schedule_round(c);
}
