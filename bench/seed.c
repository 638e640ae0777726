/* Bulk seeding through ig_issue and ig_join (seed.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench.h"
#include "ig_calls.h"
#include "ig_priority.h"
#include "keys.h"
#include "rconn.h"
#include "seed.h"

/* One ig_issue call being built. */
typedef struct issue_call_t {
    const char *argv[IG_CALL_ARGC(ISSUE, BENCH_SEED_CODES_PER_CALL)];
    size_t argvlen[IG_CALL_ARGC(ISSUE, BENCH_SEED_CODES_PER_CALL)];
    char keys[BENCH_SEED_CODES_PER_CALL][IG_KEY_MAX_BYTES];
    char emails[BENCH_SEED_CODES_PER_CALL][BENCH_EMAIL_BYTES];
    unsigned char hashes[BENCH_SEED_CODES_PER_CALL][IG_EMAIL_HASH_BYTES];
} issue_call_t;

/* Pipeline state: the connections, calls sent and replies still to read on each. */
typedef struct issue_pipe_t {
    const sync_route_t *r;
    size_t outstanding[SYNC_ROUTE_MAX_NODES];
    size_t created;
} issue_pipe_t;

/* Reads the oldest reply of connection node. */
static int read_one(issue_pipe_t *p, size_t node)
{
    redisReply *reply = bench_redis_next(p->r->nodes[node], "FCALL ig_issue");
    int ret = -1;
    if (reply == NULL)
        return -1;
    if (reply->type == REDIS_REPLY_INTEGER) {
        p->created += (size_t)reply->integer;
        ret = 0;
    } else {
        bench_error("redis FCALL ig_issue: unexpected reply (type %d%s%s)", reply->type,
                    reply->type == REDIS_REPLY_ERROR ? ": " : "", reply->type == REDIS_REPLY_ERROR ? reply->str : "");
    }
    freeReplyObject(reply);
    --p->outstanding[node];
    return ret;
}

/* Sends one ig_issue for codes idx[0..n) of one bucket and one kind, on the bucket's connection. */
static int send_call(issue_pipe_t *p, issue_call_t *call, const bench_pool_t *pool, const size_t *idx, size_t n, unsigned bucket,
                     bench_code_kind_t kind, const unsigned char email_key[IG_EMAIL_KEY_BYTES], const char *exp)
{
    char stream[IG_KEY_MAX_BYTES], batch[48], max[16];
    ig_fcall_t c;

    ig_key_events(stream, bucket);
    snprintf(max, sizeof(max), "%u", kind == BENCH_CODE_MULTI ? pool->multi_max : 1u);
    bench_pool_batch_id(batch, pool, kind);
    ig_fcall_begin(&c, IG_CALL_ISSUE, n, call->argv, call->argvlen, IG_CALL_ARGC(ISSUE, BENCH_SEED_CODES_PER_CALL));
    ig_fcall_str(&c, stream);
    for (size_t i = 0; i != n; ++i) {
        const char *body = pool->codes[idx[i]].body;
        ig_key_code_hash(call->keys[i], bucket, ig_code_subhash(body));
        ig_fcall_str(&c, call->keys[i]);
    }
    const char *fixed[] = {batch, "bench", max, exp, "bench"};
    ig_fcall_strs(&c, fixed, 5);
    for (size_t i = 0; i != n; ++i) {
        const char *body = pool->codes[idx[i]].body;
        size_t elen = 0;
        if (kind == BENCH_CODE_BOUND) {
            elen = bench_pool_bound_email(call->emails[i], body);
            ig_email_hash(call->hashes[i], call->emails[i], elen, email_key);
        }
        ig_fcall_bin(&c, body + 3, IG_CODE_BODY_LEN - 3);
        ig_fcall_bin(&c, body, IG_CODE_BODY_LEN);
        ig_fcall_bin(&c, call->emails[i], elen);
        ig_fcall_bin(&c, call->hashes[i], elen ? IG_EMAIL_HASH_BYTES : 0);
    }
    size_t node = sync_route_node_of(p->r, bucket);
    redisContext *rc = p->r->nodes[node];
    if (redisAppendCommandArgv(rc, (int)ig_fcall_end(&c), call->argv, call->argvlen) != REDIS_OK) {
        bench_error("redis FCALL ig_issue: %s", rc->errstr);
        return -1;
    }
    if (++p->outstanding[node] == BENCH_SEED_WINDOW)
        return read_one(p, node);
    return 0;
}

int bench_seed_codes(const sync_route_t *r, const bench_pool_t *pool, const unsigned char email_key[IG_EMAIL_KEY_BYTES],
                     long long expires_at, size_t *created)
{
    issue_pipe_t p = {.r = r};
    issue_call_t *call = malloc(sizeof(*call));
    size_t idx[BENCH_SEED_CODES_PER_CALL], n;
    char exp[24];
    int ret = -1;

    if (call == NULL) {
        bench_error("out of memory");
        return -1;
    }
    snprintf(exp, sizeof(exp), "%lld", expires_at);
    for (int kind = 0; kind != BENCH_CODE_KINDS; ++kind) {
        for (unsigned b = 0; b != r->buckets; ++b) {
            n = 0;
            for (size_t i = 0; i != pool->num_codes; ++i) {
                if (pool->codes[i].kind != kind || ig_code_bucket(pool->codes[i].body, r->buckets) != b)
                    continue;
                idx[n++] = i;
                if (n == BENCH_SEED_CODES_PER_CALL) {
                    if (send_call(&p, call, pool, idx, n, b, (bench_code_kind_t)kind, email_key, exp) != 0)
                        goto Exit;
                    n = 0;
                }
            }
            if (n != 0 && send_call(&p, call, pool, idx, n, b, (bench_code_kind_t)kind, email_key, exp) != 0)
                goto Exit;
        }
    }
    for (size_t node = 0; node != r->num_nodes; ++node)
        while (p.outstanding[node] != 0)
            if (read_one(&p, node) != 0)
                goto Exit;
    ret = 0;
Exit:
    *created = p.created;
    free(call);
    return ret;
}

/* Reads one ig_join reply: {'new', ...} or {'already', ...}. */
static int read_join(redisContext *c, size_t *created, size_t *existing)
{
    redisReply *reply = bench_redis_next(c, "FCALL ig_join");
    int ret = -1;
    if (reply == NULL)
        return -1;
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements >= 1 && reply->element[0]->type == REDIS_REPLY_STRING &&
        (strcmp(reply->element[0]->str, "new") == 0 || strcmp(reply->element[0]->str, "already") == 0)) {
        ++*(reply->element[0]->str[0] == 'n' ? created : existing);
        ret = 0;
    } else {
        bench_error("redis FCALL ig_join: unexpected reply (type %d%s%s)", reply->type,
                    reply->type == REDIS_REPLY_ERROR   ? ": "
                    : reply->type == REDIS_REPLY_ARRAY ? ": verdict "
                                                       : "",
                    reply->type == REDIS_REPLY_ERROR ? reply->str
                    : reply->type == REDIS_REPLY_ARRAY && reply->elements && reply->element[0]->type == REDIS_REPLY_STRING
                        ? reply->element[0]->str
                        : "");
    }
    freeReplyObject(reply);
    return ret;
}

int bench_join_item(bench_join_item_t *it, uint64_t n, uint64_t referrer, const char *addr,
                    const unsigned char email_key[IG_EMAIL_KEY_BYTES], const ig_user_keys_t *user_keys)
{
    if (bench_person(&it->p, n) != 0) {
        bench_error("waitlist: person %" PRIu64 " has an address the gateway would refuse", n);
        return -1;
    }
    it->given_ref[0] = '\0';
    if (referrer != UINT64_MAX) {
        bench_person_t r;
        if (bench_person(&r, referrer) != 0) {
            bench_error("waitlist: person %" PRIu64 " has an address the gateway would refuse", referrer);
            return -1;
        }
        ig_referral_code(it->given_ref, r.email, r.email_len, user_keys);
    }
    ig_email_hash(it->hash, it->p.email, it->p.email_len, email_key);
    ig_referral_code(it->own_ref, it->p.email, it->p.email_len, user_keys);
    snprintf(it->score, sizeof(it->score), "%d",
             ig_priority_score(it->p.persona, strlen(it->p.persona), it->p.use_case, strlen(it->p.use_case)));
    ig_key_user(it->user_key, it->hash);
    ig_key_shared(it->shared_key, it->hash);
    ig_key_referral(it->own_ref_key, it->own_ref);
    ig_key_referral(it->given_ref_key, it->given_ref[0] != '\0' ? it->given_ref : it->own_ref);
    it->addr = addr;
    return 0;
}

/* As gateway/routes_waitlist.c builds them. */
void bench_join_push_keys(ig_fcall_t *c, const bench_join_item_t *it)
{
    const char *keys[] = {it->user_key, it->shared_key, it->own_ref_key, it->given_ref_key};
    ig_fcall_strs(c, keys, 4);
}

void bench_join_push_args(ig_fcall_t *c, const bench_join_item_t *it)
{
    ig_fcall_bin(c, it->hash, sizeof(it->hash));
    const char *args[] = {it->p.email, it->p.persona, it->p.use_case, it->score, it->own_ref, it->given_ref, it->addr};
    ig_fcall_strs(c, args, 7);
}

void bench_join_call(ig_fcall_t *c, const char *argv[BENCH_JOIN_CALL_ARGS], size_t argvlen[BENCH_JOIN_CALL_ARGS],
                     const bench_join_item_t *it, const char *boost)
{
    const char *keys[] = {IG_KEY_WL, IG_KEY_WL_EVENTS, IG_KEY_WL_SEQ, IG_KEY_WL_COUNTERS};
    ig_fcall_begin(c, IG_CALL_JOIN, 0, argv, argvlen, BENCH_JOIN_CALL_ARGS);
    ig_fcall_strs(c, keys, 4);
    bench_join_push_keys(c, it);
    bench_join_push_args(c, it);
    ig_fcall_str(c, boost);
}

int bench_seed_waitlist(const sync_route_t *r, const bench_waitlist_t *wl, const unsigned char email_key[IG_EMAIL_KEY_BYTES],
                        const ig_user_keys_t *user_keys, size_t *created, size_t *existing)
{
    redisContext *c = sync_route_bucket(r, IG_WL_BUCKET);
    bench_join_item_t it;
    size_t outstanding = 0;

    *created = *existing = 0;
    for (size_t i = 0; i != wl->num; ++i) {
        if (bench_join_item(&it, i, UINT64_MAX, "bench-seed", email_key, user_keys) != 0)
            return -1;
        const char *argv[BENCH_JOIN_CALL_ARGS];
        size_t argvlen[BENCH_JOIN_CALL_ARGS];
        ig_fcall_t call;
        /* No referral boost: none of these joins carries a code. */
        bench_join_call(&call, argv, argvlen, &it, "0");
        if (redisAppendCommandArgv(c, (int)ig_fcall_end(&call), argv, argvlen) != REDIS_OK) {
            bench_error("redis FCALL ig_join: %s", c->errstr);
            return -1;
        }
        if (++outstanding == BENCH_SEED_JOIN_WINDOW) {
            if (read_join(c, created, existing) != 0)
                return -1;
            --outstanding;
        }
    }
    for (; outstanding != 0; --outstanding)
        if (read_join(c, created, existing) != 0)
            return -1;
    return 0;
}
