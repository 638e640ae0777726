#include <stdlib.h>
#include <string.h>
#include "clock.h"
#include "ig_cluster.h"
#include "ig_log.h"
#include "redis_cluster.h"

/** Most nodes (masters, the ones a redirection named) a thread keeps connections to. */
#define GW_CLUSTER_MAX_NODES 64
/** slot_node value of a slot no master serves. */
#define NO_NODE 0xffff
/** A call that cannot go out (no master for its slot, master not connected, TRYAGAIN, CLUSTERDOWN) tries again after this. */
#define RETRY_MS 20
/** The map's housekeeping: send a wanted CLUSTER SLOTS, move to another node when the one asked does not connect. */
#define TICK_MS 50
/** Give up on a node that does not connect for the map after this; ask the next. */
#define MAP_CONNECT_MS 500
/** The map is asked again this often when nothing asked for it sooner. */
#define MAP_PERIOD_MS 5000
/** Redirections one call follows at most (a slot moving twice while the call is out is already rare). */
#define MAX_REDIRECTS 5

static const char asking_cmd[] = "*1\r\n$6\r\nASKING\r\n";
static const char slots_cmd[] = "*2\r\n$7\r\nCLUSTER\r\n$5\r\nSLOTS\r\n";

typedef struct node_t {
    ig_cluster_addr_t addr; /**< the node's address; host "" = free entry */
    gw_redis_t *conn;       /**< data connection (loads the library); NULL = free entry */
    int is_master;          /**< serves slots in the map, or a MOVED named it */
    uint64_t idle_since_ns; /**< when it stopped being (or was found not to be) a master */
} node_t;

struct gw_cluster_t {
    h2o_loop_t *loop;
    gw_metrics_t *metrics; /**< the thread's: why calls were sent again */
    /** Of every master's connection: the library, the bucket count, WAIT after writes; its timeout_ms is the budget of a call,
     * redirections and retries included. */
    gw_redis_setup_t setup;
    ig_cluster_addr_t seeds[IG_CONFIG_MAX_REDIS_SEEDS]; /**< redis_url's nodes: where a map can come from at first */
    size_t num_seeds;
    node_t nodes[GW_CLUSTER_MAX_NODES];   /**< every node a connection is kept to; entries are never moved */
    size_t num_nodes;                     /**< entries in use or freed, all below this */
    uint16_t slot_node[IG_CLUSTER_SLOTS]; /**< index into nodes of each slot's master, or NO_NODE */
    int have_map;                         /**< a CLUSTER SLOTS reply was applied once */
    int covered;                          /**< the last map gave every slot a master */
    /* The slot map: one connection without the library asks a node for it. */
    gw_redis_t *map_conn;           /**< NULL between nodes */
    ig_cluster_addr_t map_addr;     /**< the node map_conn talks to */
    size_t map_source;              /**< rotates over masters then seeds (pick_map_source) */
    uint64_t map_since_ns;          /**< when map_conn was created */
    int map_bad;                    /**< map_conn failed: ask another node */
    int refresh_wanted;             /**< send CLUSTER SLOTS at the next tick */
    int refresh_out;                /**< a CLUSTER SLOTS is out */
    uint64_t next_refresh_ns;       /**< the periodic refresh */
    h2o_linklist_t calls;           /**< every call not yet completed */
    h2o_timeout_t deadline_timeout; /**< timeout_ms: the end of a call's budget */
    h2o_timeout_t retry_timeout;    /**< RETRY_MS */
    h2o_timeout_t tick_timeout;     /**< TICK_MS */
    h2o_timeout_entry_t tick_entry;
    int destroying;
};

typedef struct cluster_call_t {
    gw_cluster_t *cluster;
    h2o_linklist_t link; /**< in cluster->calls */
    gw_redis_cb cb;
    void *data;
    char *cmd; /**< the command in the protocol's form, sent as is on every attempt (redisFormatCommandArgv) */
    size_t cmd_len;
    int slot;             /**< routing slot; -1 = any master */
    uint16_t node;        /**< node of the attempt out, for a redirection without a host */
    uint16_t ask_node;    /**< send the next attempt there with ASKING; NO_NODE = route by the map */
    unsigned redirects;   /**< MOVED and ASK followed */
    uint64_t start_ns;    /**< the first attempt */
    gw_redis_call_t *out; /**< the attempt in flight, or NULL */
    h2o_timeout_entry_t deadline;
    h2o_timeout_entry_t retry; /**< linked while the call waits for its next attempt */
} cluster_call_t;

static void try_send(cluster_call_t *call);

/* ---- Nodes ---------------------------------------------------------------- */

static int addr_equal(const ig_cluster_addr_t *a, const ig_cluster_addr_t *b)
{
    return a->port == b->port && strcmp(a->host, b->host) == 0;
}

/* The index of the node at addr, connecting to it if new; NO_NODE when the table is full. */
static uint16_t node_get(gw_cluster_t *c, const ig_cluster_addr_t *addr)
{
    size_t free_entry = c->num_nodes;
    for (size_t i = 0; i != c->num_nodes; ++i) {
        if (c->nodes[i].conn != NULL && addr_equal(&c->nodes[i].addr, addr))
            return (uint16_t)i;
        if (c->nodes[i].conn == NULL && free_entry == c->num_nodes)
            free_entry = i;
    }
    if (free_entry == GW_CLUSTER_MAX_NODES) {
        ig_error("msg=\"redis cluster: too many nodes; not connecting\" node=%s:%u max=%d", addr->host, addr->port,
                 GW_CLUSTER_MAX_NODES);
        return NO_NODE;
    }
    node_t *n = &c->nodes[free_entry];
    n->addr = *addr;
    n->is_master = 0;
    n->idle_since_ns = gw_now_ns();
    n->conn = gw_redis_connect(c->loop, addr->host, addr->port, "", &c->setup);
    if (free_entry == c->num_nodes)
        ++c->num_nodes;
    return (uint16_t)free_entry;
}

/*
 * Closes the connections of nodes that have served no slot for longer than a
 * call's budget (a demoted master, an importing node that got nothing): by
 * then every call sent to them was answered (a MOVED, say) or gave up. From
 * the tick only, never inside a reply.
 */
static void close_old_nodes(gw_cluster_t *c, uint64_t now)
{
    uint64_t grace_ns = ((uint64_t)c->setup.timeout_ms + 1000u) * 1000000u;
    for (size_t i = 0; i != c->num_nodes; ++i) {
        node_t *n = &c->nodes[i];
        if (n->conn == NULL || n->is_master || now - n->idle_since_ns < grace_ns)
            continue;
        ig_info("msg=\"redis cluster: node serves no slot; closing its connection\" node=%s:%u", n->addr.host, n->addr.port);
        gw_redis_t *conn = n->conn;
        n->conn = NULL;
        n->addr.host[0] = '\0';
        /* Calls out on it complete "unavailable": they were sent, and are not sent again. */
        gw_redis_destroy(conn);
    }
}

/* A master whose connection is ready, for a call without a key; NULL when none is. */
static node_t *any_ready_master(gw_cluster_t *c, uint16_t *index)
{
    for (size_t i = 0; i != c->num_nodes; ++i)
        if (c->nodes[i].conn != NULL && c->nodes[i].is_master && gw_redis_is_ready(c->nodes[i].conn)) {
            *index = (uint16_t)i;
            return &c->nodes[i];
        }
    return NULL;
}

/* ---- The slot map --------------------------------------------------------- */

/* Applies a CLUSTER SLOTS reply: the new masters get connections, the old ones are closed at the next tick. */
static void apply_map(gw_cluster_t *c, const redisReply *reply)
{
    ig_cluster_map_t map = {0};
    if (ig_cluster_parse_slots(&map, reply, c->map_addr.host) != 0) {
        ig_warn("msg=\"redis cluster: unusable CLUSTER SLOTS reply\" node=%s:%u err=\"%s\"", c->map_addr.host, c->map_addr.port,
                reply->type == REDIS_REPLY_ERROR ? reply->str : "malformed");
        c->map_bad = 1;
        return;
    }
    uint64_t now = gw_now_ns();
    int was_master[GW_CLUSTER_MAX_NODES] = {0};
    for (size_t i = 0; i != c->num_nodes; ++i) {
        was_master[i] = c->nodes[i].is_master;
        c->nodes[i].is_master = 0;
    }
    for (size_t s = 0; s != IG_CLUSTER_SLOTS; ++s)
        c->slot_node[s] = NO_NODE;
    for (size_t r = 0; r != map.num_ranges; ++r) {
        uint16_t n = node_get(c, &map.ranges[r].master);
        if (n == NO_NODE)
            continue;
        c->nodes[n].is_master = 1;
        for (unsigned s = map.ranges[r].first; s <= map.ranges[r].last; ++s)
            c->slot_node[s] = n;
    }
    int covered = ig_cluster_map_covers_all(&map);
    if (!c->have_map || covered != c->covered)
        ig_info("msg=\"redis cluster: slot map\" node=%s:%u ranges=%zu covers_all=%d", c->map_addr.host, c->map_addr.port,
                map.num_ranges, covered);
    for (size_t i = 0; i != c->num_nodes; ++i)
        if (was_master[i] && !c->nodes[i].is_master)
            c->nodes[i].idle_since_ns = now;
    c->have_map = 1;
    c->covered = covered;
    ig_cluster_map_free(&map);
}

static void on_slots_reply(void *data, redisReply *reply, const char *err, uint64_t rtt_ns)
{
    gw_cluster_t *c = data;
    c->refresh_out = 0;
    if (c->destroying)
        return;
    if (err != NULL) {
        ig_warn("msg=\"redis cluster: CLUSTER SLOTS failed\" node=%s:%u err=%s", c->map_addr.host, c->map_addr.port, err);
        c->map_bad = 1;
        c->refresh_wanted = 1;
        return;
    }
    apply_map(c, reply);
}

/* The next node to ask for the map: the known masters first, then the seeds, in turn. */
static ig_cluster_addr_t pick_map_source(gw_cluster_t *c)
{
    size_t candidates = c->num_nodes + c->num_seeds;
    for (size_t tries = 0; tries != candidates; ++tries) {
        size_t i = c->map_source++ % candidates;
        if (i >= c->num_nodes)
            return c->seeds[i - c->num_nodes];
        if (c->nodes[i].conn != NULL && c->nodes[i].is_master)
            return c->nodes[i].addr;
    }
    return c->seeds[0];
}

static void open_map_conn(gw_cluster_t *c)
{
    if (c->map_conn != NULL)
        gw_redis_destroy(c->map_conn);
    c->map_addr = pick_map_source(c);
    gw_redis_setup_t plain = {NULL, 0, c->setup.timeout_ms, 0, 0};
    c->map_conn = gw_redis_connect(c->loop, c->map_addr.host, c->map_addr.port, "", &plain);
    c->map_since_ns = gw_now_ns();
    c->map_bad = 0;
}

static void on_tick(h2o_timeout_entry_t *entry)
{
    gw_cluster_t *c = H2O_STRUCT_FROM_MEMBER(gw_cluster_t, tick_entry, entry);
    uint64_t now = gw_now_ns();

    h2o_timeout_link(c->loop, &c->tick_timeout, &c->tick_entry);
    close_old_nodes(c, now);
    if (c->refresh_out)
        return;
    if (now >= c->next_refresh_ns)
        c->refresh_wanted = 1;
    if (!c->refresh_wanted)
        return;
    /* A node that failed, or did not connect in time, is left for the next one. */
    if (c->map_bad || (!gw_redis_is_ready(c->map_conn) && now - c->map_since_ns > (uint64_t)MAP_CONNECT_MS * 1000000u)) {
        open_map_conn(c);
        return;
    }
    if (!gw_redis_is_ready(c->map_conn))
        return;
    if (gw_redis_send(c->map_conn, on_slots_reply, c, slots_cmd, sizeof(slots_cmd) - 1) == NULL)
        return;
    c->refresh_out = 1;
    c->refresh_wanted = 0;
    c->next_refresh_ns = now + (uint64_t)MAP_PERIOD_MS * 1000000u;
}

/* ---- Calls ---------------------------------------------------------------- */

/* Completes call (exactly once) and frees it. */
static void finish(cluster_call_t *call, redisReply *reply, const char *err)
{
    gw_redis_cb cb = call->cb;
    if (h2o_timeout_is_linked(&call->deadline))
        h2o_timeout_unlink(&call->deadline);
    if (h2o_timeout_is_linked(&call->retry))
        h2o_timeout_unlink(&call->retry);
    h2o_linklist_unlink(&call->link);
    cb(call->data, reply, err, gw_now_ns() - call->start_ns);
    redisFreeCommand(call->cmd);
    free(call);
}

/* The call was not run: try again after RETRY_MS (within its deadline), with a fresh map. */
static void park(cluster_call_t *call, gw_cluster_retry_t reason)
{
    gw_metrics_cluster_retry(call->cluster->metrics, reason);
    call->cluster->refresh_wanted = 1;
    if (!h2o_timeout_is_linked(&call->retry))
        h2o_timeout_link(call->cluster->loop, &call->cluster->retry_timeout, &call->retry);
}

static int error_is(const redisReply *reply, const char *prefix)
{
    size_t n = strlen(prefix);
    return reply->len >= n && memcmp(reply->str, prefix, n) == 0;
}

static void on_node_reply(void *data, redisReply *reply, const char *err, uint64_t rtt_ns)
{
    cluster_call_t *call = data;
    gw_cluster_t *c = call->cluster;
    call->out = NULL;
    if (err != NULL) {
        /* Sent and lost: it may have run, so it is not sent again. The master may be gone: look again. */
        c->refresh_wanted = 1;
        finish(call, NULL, err);
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR && !c->destroying) {
        unsigned slot;
        ig_cluster_addr_t addr;
        ig_cluster_redirect_t kind = ig_cluster_parse_redirect(&slot, &addr, reply->str, reply->len);
        if (kind != IG_CLUSTER_NOT_REDIRECT) {
            uint16_t n;
            if (addr.host[0] == '\0')
                strcpy(addr.host, c->nodes[call->node].addr.host);
            if (++call->redirects > MAX_REDIRECTS || (n = node_get(c, &addr)) == NO_NODE) {
                ig_warn("msg=\"redis cluster: call redirected too often\" slot=%u last=\"%s\"", slot, reply->str);
                finish(call, NULL, "unavailable");
                return;
            }
            gw_metrics_cluster_retry(c->metrics, kind == IG_CLUSTER_MOVED ? GW_CLUSTER_RETRY_MOVED : GW_CLUSTER_RETRY_ASK);
            if (kind == IG_CLUSTER_MOVED) {
                /* The slot has a new owner: use it now, and learn the rest of the map soon. */
                c->slot_node[slot] = n;
                c->nodes[n].is_master = 1;
                c->refresh_wanted = 1;
            } else {
                call->ask_node = n;
            }
            try_send(call);
            return;
        }
        /* Not run: the cluster is between states (a failover, a slot half migrated). */
        if (error_is(reply, "TRYAGAIN")) {
            park(call, GW_CLUSTER_RETRY_TRYAGAIN);
            return;
        }
        if (error_is(reply, "CLUSTERDOWN")) {
            park(call, GW_CLUSTER_RETRY_CLUSTERDOWN);
            return;
        }
    }
    finish(call, reply, NULL);
}

static void try_send(cluster_call_t *call)
{
    gw_cluster_t *c = call->cluster;
    node_t *n = NULL;
    uint16_t index = NO_NODE;
    int asking = call->ask_node != NO_NODE;

    if (asking) {
        index = call->ask_node;
        call->ask_node = NO_NODE;
    } else if (call->slot >= 0) {
        index = c->slot_node[call->slot];
    } else {
        any_ready_master(c, &index);
    }
    if (index != NO_NODE)
        n = &c->nodes[index];
    /* A master not (yet) connected, or its library not yet loaded: nothing was sent, so waiting is safe. */
    if (n == NULL || n->conn == NULL || !gw_redis_is_ready(n->conn)) {
        park(call, GW_CLUSTER_RETRY_NO_MASTER);
        return;
    }
    if (asking && gw_redis_send(n->conn, NULL, NULL, asking_cmd, sizeof(asking_cmd) - 1) == NULL) {
        park(call, GW_CLUSTER_RETRY_NO_MASTER);
        return;
    }
    call->node = index;
    if ((call->out = gw_redis_send(n->conn, on_node_reply, call, call->cmd, call->cmd_len)) == NULL)
        park(call, GW_CLUSTER_RETRY_NO_MASTER);
}

static void on_retry(h2o_timeout_entry_t *entry)
{
    cluster_call_t *call = H2O_STRUCT_FROM_MEMBER(cluster_call_t, retry, entry);
    try_send(call);
}

static void on_deadline(h2o_timeout_entry_t *entry)
{
    cluster_call_t *call = H2O_STRUCT_FROM_MEMBER(cluster_call_t, deadline, entry);
    /* An attempt out may still run in Redis; its reply is dropped. The scripts make a client's retry safe. */
    if (call->out != NULL)
        gw_redis_cancel(call->out);
    finish(call, NULL, "timeout");
}

int gw_cluster_call(gw_cluster_t *c, gw_redis_cb cb, void *data, int argc, const char **argv, const size_t *argvlen)
{
    /* Before the first map, fail at once as a single Redis does while disconnected. */
    if (!c->have_map)
        return -1;
    cluster_call_t *call = calloc(1, sizeof(*call));
    if (call == NULL)
        h2o_fatal("no memory");
    int len = redisFormatCommandArgv(&call->cmd, argc, argv, argvlen);
    if (len < 0)
        h2o_fatal("no memory");
    call->cmd_len = (size_t)len;
    call->cluster = c;
    call->cb = cb;
    call->data = data;
    call->slot = ig_cluster_command_slot(argc, argv, argvlen);
    call->ask_node = NO_NODE;
    call->start_ns = gw_now_ns();
    call->deadline.cb = on_deadline;
    call->retry.cb = on_retry;
    h2o_linklist_insert(&c->calls, &call->link);
    h2o_timeout_link(c->loop, &c->deadline_timeout, &call->deadline);
    try_send(call);
    return 0;
}

/* ---- Life ----------------------------------------------------------------- */

gw_cluster_t *gw_cluster_create(h2o_loop_t *loop, const ig_config_t *cfg, const gw_redis_setup_t *setup, gw_metrics_t *metrics)
{
    gw_cluster_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        h2o_fatal("no memory");
    c->loop = loop;
    c->metrics = metrics;
    c->setup = *setup;
    for (unsigned i = 0; i != cfg->redis_num_seeds; ++i) {
        snprintf(c->seeds[i].host, sizeof(c->seeds[i].host), "%s", cfg->redis_seeds[i].host);
        c->seeds[i].port = cfg->redis_seeds[i].port;
    }
    c->num_seeds = cfg->redis_num_seeds;
    for (size_t s = 0; s != IG_CLUSTER_SLOTS; ++s)
        c->slot_node[s] = NO_NODE;
    h2o_linklist_init_anchor(&c->calls);
    h2o_timeout_init(loop, &c->deadline_timeout, setup->timeout_ms);
    h2o_timeout_init(loop, &c->retry_timeout, RETRY_MS);
    h2o_timeout_init(loop, &c->tick_timeout, TICK_MS);
    c->tick_entry.cb = on_tick;
    c->refresh_wanted = 1;
    open_map_conn(c);
    h2o_timeout_link(loop, &c->tick_timeout, &c->tick_entry);
    return c;
}

void gw_cluster_destroy(gw_cluster_t *c)
{
    c->destroying = 1;
    if (h2o_timeout_is_linked(&c->tick_entry))
        h2o_timeout_unlink(&c->tick_entry);
    if (c->map_conn != NULL)
        gw_redis_destroy(c->map_conn);
    /* Calls out complete "unavailable" as their connection goes; the ones waiting are told here. */
    for (size_t i = 0; i != c->num_nodes; ++i)
        if (c->nodes[i].conn != NULL)
            gw_redis_destroy(c->nodes[i].conn);
    while (!h2o_linklist_is_empty(&c->calls)) {
        cluster_call_t *call = H2O_STRUCT_FROM_MEMBER(cluster_call_t, link, c->calls.next);
        finish(call, NULL, "unavailable");
    }
    h2o_timeout_dispose(c->loop, &c->deadline_timeout);
    h2o_timeout_dispose(c->loop, &c->retry_timeout);
    h2o_timeout_dispose(c->loop, &c->tick_timeout);
    free(c);
}

int gw_cluster_is_ready(gw_cluster_t *c)
{
    int ready = c->have_map && c->covered;
    for (size_t i = 0; ready && i != c->num_nodes; ++i)
        if (c->nodes[i].conn != NULL && c->nodes[i].is_master && !gw_redis_is_ready(c->nodes[i].conn))
            ready = 0;
    if (!ready)
        c->refresh_wanted = 1;
    return ready;
}
