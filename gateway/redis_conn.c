#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "clock.h"
#include "ig_keys.h"
#include "ig_log.h"
#include "redis_adapter.h"
#include "redis_cluster.h"
#include "redis_conn.h"

#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 2000
#define LOAD_RETRY_MS 100

struct gw_redis_t {
    struct gw_cluster_t *cluster; /**< non-NULL: a cluster's router, with no connection of its own (the fields below unused) */
    h2o_loop_t *loop;
    redisAsyncContext *ac; /**< NULL while disconnected */
    int connected;         /**< the TCP/Unix connection is up */
    int ready;             /**< FUNCTION LOAD acknowledged */
    char host[64];
    uint16_t port;
    char unix_path[200];
    char name[80];           /**< "IP:PORT" or the socket's path, for logs */
    gw_redis_setup_t setup;  /**< what follows every connect (the library, the bucket count), and WAIT after writes */
    unsigned not_replicated; /**< writes completed "not_replicated", for the log */
    char count[16];          /**< setup.buckets in decimal, as Redis records it */
    char *wait_cmd;          /**< "WAIT wait_replicas timeout_ms/2" in the protocol's form, or NULL without a wait */
    size_t wait_len;
    h2o_timeout_t call_timeout;  /**< per-call deadline */
    h2o_timeout_t retry_timeout; /**< reconnect delay (re-initialised per backoff step) */
    h2o_timeout_entry_t retry_entry;
    h2o_timeout_t load_timeout; /**< delay before re-sending a refused FUNCTION LOAD */
    h2o_timeout_entry_t load_entry;
    unsigned load_failures; /**< consecutive refusals on this connection */
    unsigned backoff_ms;
    int destroying;
};

struct gw_redis_call_t {
    gw_redis_t *redis;
    gw_redis_cb cb; /**< NULL once cancelled or completed */
    void *data;
    uint64_t sent_ns;
    h2o_timeout_entry_t timeout_entry;
    int waits;        /**< a WAIT follows the command: the call is freed after its reply */
    redisReply *held; /**< the command's reply, kept until the WAIT's (a copy: hiredis frees its own) */
};

static void start_connect(gw_redis_t *r);

static void on_retry(h2o_timeout_entry_t *entry)
{
    gw_redis_t *r = H2O_STRUCT_FROM_MEMBER(gw_redis_t, retry_entry, entry);
    start_connect(r);
}

static void schedule_retry(gw_redis_t *r)
{
    if (r->destroying)
        return;
    h2o_timeout_dispose(r->loop, &r->retry_timeout);
    h2o_timeout_init(r->loop, &r->retry_timeout, r->backoff_ms);
    h2o_timeout_link(r->loop, &r->retry_timeout, &r->retry_entry);
    r->backoff_ms = r->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : r->backoff_ms * 2;
}

static void send_load(gw_redis_t *r);

/* A refused step of the connection's set-up: logged now and then, the load sent again shortly. */
static void setup_failed(gw_redis_t *r, const char *what, const char *err)
{
    /* A restarted Redis answers LOADING until its data set is read: try again shortly. */
    if (r->load_failures++ % 50 == 0)
        ig_warn("msg=\"%s failed; retrying\" redis=%s err=\"%s\"", what, r->name, err);
    h2o_timeout_link(r->loop, &r->load_timeout, &r->load_entry);
}

static void on_layout_reply(redisAsyncContext *ac, void *reply_, void *privdata)
{
    gw_redis_t *r = privdata;
    redisReply *reply = reply_;
    if (reply == NULL)
        return;
    if (reply->type == REDIS_REPLY_STRING && strcmp(reply->str, r->count) != 0) {
        ig_error("msg=\"" IG_BUCKETS_REFUSED "\" redis=%s reason=\"" IG_BUCKETS_DIFFER "\"", r->name, "Redis (" IG_KEY_BUCKETS ")",
                 reply->str, r->setup.buckets);
        exit(IG_BUCKETS_EXIT);
    }
    /* MOVED: a cluster master that does not serve bucket 0; the master that does compares. */
    if (reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "MOVED ", 6) != 0) {
        setup_failed(r, "recording the bucket count", reply->str);
        return;
    }
    r->ready = 1;
    r->load_failures = 0;
    r->backoff_ms = BACKOFF_MIN_MS;
}

static void on_load_reply(redisAsyncContext *ac, void *reply_, void *privdata)
{
    gw_redis_t *r = privdata;
    redisReply *reply = reply_;
    if (reply == NULL)
        return;
    if (reply->type == REDIS_REPLY_ERROR) {
        setup_failed(r, "loading the Lua library", reply->str);
        return;
    }
    redisAsyncCommand(r->ac, on_layout_reply, r, IG_BUCKETS_RECORD_CMD, r->count);
}

static void send_load(gw_redis_t *r)
{
    const char *argv[] = {"FUNCTION", "LOAD", "REPLACE", r->setup.lua};
    size_t argvlen[] = {8, 4, 7, r->setup.lua_len};
    redisAsyncCommandArgv(r->ac, on_load_reply, r, 4, argv, argvlen);
}

static void on_load_retry(h2o_timeout_entry_t *entry)
{
    gw_redis_t *r = H2O_STRUCT_FROM_MEMBER(gw_redis_t, load_entry, entry);
    if (r->connected && r->ac != NULL)
        send_load(r);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    gw_redis_t *r = ac->data;
    if (status != REDIS_OK) {
        /* hiredis frees the context after this callback. */
        ig_warn("msg=\"redis connect failed\" redis=%s err=\"%s\" retry_ms=%u", r->name, ac->errstr, r->backoff_ms);
        r->ac = NULL;
        schedule_retry(r);
        return;
    }
    r->connected = 1;
    r->load_failures = 0;
    ig_info("msg=\"redis connected\" redis=%s", r->name);
    if (r->setup.lua == NULL) {
        r->ready = 1;
        r->backoff_ms = BACKOFF_MIN_MS;
        return;
    }
    send_load(r);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    gw_redis_t *r = ac->data;
    r->ac = NULL;
    r->connected = r->ready = 0;
    if (h2o_timeout_is_linked(&r->load_entry))
        h2o_timeout_unlink(&r->load_entry);
    if (r->destroying)
        return;
    ig_warn("msg=\"redis disconnected\" redis=%s err=\"%s\"", r->name, status == REDIS_OK ? "closed" : ac->errstr);
    schedule_retry(r);
}

static void start_connect(gw_redis_t *r)
{
    redisAsyncContext *ac = r->unix_path[0] ? redisAsyncConnectUnix(r->unix_path) : redisAsyncConnect(r->host, r->port);
    if (ac == NULL || ac->err) {
        ig_warn("msg=\"redis connect failed\" redis=%s err=\"%s\"", r->name, ac ? ac->errstr : "out of memory");
        if (ac != NULL)
            redisAsyncFree(ac);
        schedule_retry(r);
        return;
    }
    ac->data = r;
    if (gw_redis_adapter_attach(ac, r->loop) != REDIS_OK)
        h2o_fatal("no memory for the redis adapter");
    r->ac = ac;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
}

gw_redis_t *gw_redis_connect(h2o_loop_t *loop, const char *host, uint16_t port, const char *unix_path,
                             const gw_redis_setup_t *setup)
{
    gw_redis_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        h2o_fatal("no memory");
    r->loop = loop;
    snprintf(r->host, sizeof(r->host), "%s", host);
    r->port = port;
    snprintf(r->unix_path, sizeof(r->unix_path), "%s", unix_path);
    if (unix_path[0] != '\0')
        snprintf(r->name, sizeof(r->name), "%s", unix_path);
    else
        snprintf(r->name, sizeof(r->name), "%s:%u", host, port);
    r->setup = *setup;
    snprintf(r->count, sizeof(r->count), "%u", setup->buckets);
    if (setup->wait_replicas != 0) {
        /*
         * Half the call's budget: a short count is then told as such (not as
         * the call's timeout), and the connection's later commands, which
         * Redis holds behind a WAIT, are held at most that long.
         */
        long long len = redisFormatCommand(&r->wait_cmd, "WAIT %u %u", setup->wait_replicas,
                                           setup->timeout_ms / 2 != 0 ? setup->timeout_ms / 2 : 1);
        if (len < 0)
            h2o_fatal("no memory");
        r->wait_len = (size_t)len;
    }
    r->backoff_ms = BACKOFF_MIN_MS;
    h2o_timeout_init(loop, &r->call_timeout, setup->timeout_ms);
    h2o_timeout_init(loop, &r->retry_timeout, r->backoff_ms);
    r->retry_entry.cb = on_retry;
    h2o_timeout_init(loop, &r->load_timeout, LOAD_RETRY_MS);
    r->load_entry.cb = on_load_retry;
    start_connect(r);
    return r;
}

gw_redis_t *gw_redis_create(h2o_loop_t *loop, const ig_config_t *cfg, const char *lua, size_t lua_len, struct gw_metrics_t *metrics)
{
    gw_redis_setup_t setup = {lua, lua_len, cfg->redis_timeout_ms, cfg->buckets, cfg->redis_wait_replicas};
    if (!cfg->redis_cluster)
        return gw_redis_connect(loop, cfg->redis_host, cfg->redis_port, cfg->redis_unix, &setup);
    gw_redis_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        h2o_fatal("no memory");
    r->cluster = gw_cluster_create(loop, cfg, &setup, metrics);
    snprintf(r->name, sizeof(r->name), "cluster");
    return r;
}

void gw_redis_destroy(gw_redis_t *r)
{
    if (r->cluster != NULL) {
        gw_cluster_destroy(r->cluster);
        free(r);
        return;
    }
    r->destroying = 1;
    if (h2o_timeout_is_linked(&r->retry_entry))
        h2o_timeout_unlink(&r->retry_entry);
    if (h2o_timeout_is_linked(&r->load_entry))
        h2o_timeout_unlink(&r->load_entry);
    if (r->ac != NULL)
        redisAsyncFree(r->ac);
    h2o_timeout_dispose(r->loop, &r->call_timeout);
    h2o_timeout_dispose(r->loop, &r->retry_timeout);
    h2o_timeout_dispose(r->loop, &r->load_timeout);
    free(r->wait_cmd);
    free(r);
}

int gw_redis_is_ready(gw_redis_t *r)
{
    if (r->cluster != NULL)
        return gw_cluster_is_ready(r->cluster);
    return r->connected && r->ready;
}

const char *gw_redis_name(const gw_redis_t *r)
{
    return r->name;
}

/* A deep copy of r (freeReplyObject frees it), or NULL without memory. */
static redisReply *copy_reply(const redisReply *r)
{
    redisReply *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->type = r->type;
    c->integer = r->integer;
    if (r->str != NULL) {
        if ((c->str = malloc(r->len + 1)) == NULL)
            goto Fail;
        memcpy(c->str, r->str, r->len + 1);
        c->len = r->len;
    }
    if (r->element != NULL) {
        if ((c->element = calloc(r->elements, sizeof(*c->element))) == NULL)
            goto Fail;
        c->elements = r->elements;
        for (size_t i = 0; i != r->elements; ++i)
            if ((c->element[i] = copy_reply(r->element[i])) == NULL)
                goto Fail;
    }
    return c;
Fail:
    freeReplyObject(c);
    return NULL;
}

static void complete(gw_redis_call_t *call, redisReply *reply, const char *err)
{
    gw_redis_cb cb = call->cb;
    call->cb = NULL;
    if (h2o_timeout_is_linked(&call->timeout_entry))
        h2o_timeout_unlink(&call->timeout_entry);
    if (cb != NULL)
        cb(call->data, reply, err, gw_now_ns() - call->sent_ns);
}

static void on_call_reply(redisAsyncContext *ac, void *reply_, void *privdata)
{
    gw_redis_call_t *call = privdata;
    redisReply *reply = reply_;
    if (call->waits && reply != NULL && reply->type != REDIS_REPLY_ERROR) {
        /* Written: answered once the WAIT that follows says enough replicas have it. */
        if ((call->held = copy_reply(reply)) == NULL)
            h2o_fatal("no memory");
        return;
    }
    /* Lost, or refused (nothing written: the library checks before it writes, a MOVED ran nothing). */
    complete(call, reply, reply == NULL ? "unavailable" : NULL);
    /* hiredis is done with the call unless a WAIT follows: it never calls back twice. */
    if (!call->waits)
        free(call);
}

static void on_wait_reply(redisAsyncContext *ac, void *reply_, void *privdata)
{
    gw_redis_call_t *call = privdata;
    gw_redis_t *r = call->redis;
    redisReply *reply = reply_;
    if (call->held != NULL) {
        if (reply != NULL && reply->type == REDIS_REPLY_INTEGER && reply->integer >= (long long)r->setup.wait_replicas) {
            complete(call, call->held, NULL);
        } else {
            if (call->cb != NULL && r->not_replicated++ % 1000 == 0)
                ig_warn("msg=\"a write was not acknowledged by enough replicas; answered 503\" redis=%s wait_replicas=%u "
                        "acknowledged=%lld writes=%u",
                        r->name, r->setup.wait_replicas, reply != NULL && reply->type == REDIS_REPLY_INTEGER ? reply->integer : -1,
                        r->not_replicated);
            complete(call, NULL, reply == NULL ? "unavailable" : "not_replicated");
        }
        freeReplyObject(call->held);
    }
    free(call);
}

static void on_call_timeout(h2o_timeout_entry_t *entry)
{
    gw_redis_call_t *call = H2O_STRUCT_FROM_MEMBER(gw_redis_call_t, timeout_entry, entry);
    /* The command may still run in Redis; the scripts make a retry safe. */
    complete(call, NULL, "timeout");
}

/* A call record for r, or NULL when r cannot take calls now (not connected, library not loaded). */
static gw_redis_call_t *new_call(gw_redis_t *r, gw_redis_cb cb, void *data)
{
    gw_redis_call_t *call;
    /* Not before the library load was acknowledged: while Redis loads its data set (LOADING) every call would fail. */
    if (!r->connected || !r->ready || r->ac == NULL)
        return NULL;
    if ((call = calloc(1, sizeof(*call))) == NULL)
        h2o_fatal("no memory");
    call->redis = r;
    call->cb = cb;
    call->data = data;
    call->sent_ns = gw_now_ns();
    call->timeout_entry.cb = on_call_timeout;
    return call;
}

/* Queues cmd (the protocol's form) for call, and the WAIT after it when it is a library write to be replicated. */
static int queue(gw_redis_t *r, gw_redis_call_t *call, const char *cmd, size_t len)
{
    call->waits = r->setup.wait_replicas != 0 && gw_redis_is_library_write(cmd, len);
    if (redisAsyncFormattedCommand(r->ac, on_call_reply, call, cmd, len) != REDIS_OK)
        return -1;
    /* WAIT is queued right behind: hiredis sends both in the same write, Redis runs them in order on this connection. */
    if (call->waits && redisAsyncFormattedCommand(r->ac, on_wait_reply, call, r->wait_cmd, r->wait_len) != REDIS_OK)
        h2o_fatal("no memory for a WAIT");
    h2o_timeout_link(r->loop, &r->call_timeout, &call->timeout_entry);
    return 0;
}

int gw_redis_call(gw_redis_t *r, gw_redis_cb cb, void *data, int argc, const char **argv, const size_t *argvlen)
{
    gw_redis_call_t *call;
    char *cmd;
    long long len;
    if (r->cluster != NULL)
        return gw_cluster_call(r->cluster, cb, data, argc, argv, argvlen);
    if ((call = new_call(r, cb, data)) == NULL)
        return -1;
    if ((len = redisFormatCommandArgv(&cmd, argc, argv, argvlen)) < 0)
        h2o_fatal("no memory");
    int ret = queue(r, call, cmd, (size_t)len);
    free(cmd);
    if (ret != 0)
        free(call);
    return ret;
}

gw_redis_call_t *gw_redis_send(gw_redis_t *r, gw_redis_cb cb, void *data, const char *cmd, size_t len)
{
    gw_redis_call_t *call;
    assert(r->cluster == NULL);
    if ((call = new_call(r, cb, data)) == NULL)
        return NULL;
    if (queue(r, call, cmd, len) != 0) {
        free(call);
        return NULL;
    }
    return call;
}

int gw_redis_is_library_write(const char *cmd, size_t len)
{
    static const char fcall[] = "\r\n$5\r\nFCALL\r\n";
    const char *eol = memchr(cmd, '\n', len);
    /* "*<argc>\r\n$5\r\nFCALL\r\n...": FCALL_RO, the read-only functions, has another length. */
    return cmd[0] == '*' && eol != NULL && (size_t)(eol - 1 - cmd) + sizeof(fcall) - 1 <= len &&
           memcmp(eol - 1, fcall, sizeof(fcall) - 1) == 0;
}

void gw_redis_cancel(gw_redis_call_t *call)
{
    call->cb = NULL;
    if (h2o_timeout_is_linked(&call->timeout_entry))
        h2o_timeout_unlink(&call->timeout_entry);
}
