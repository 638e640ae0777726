/*
 * `invitegate-bench memory`: Redis bytes per issued code.
 *
 * On an empty private Redis (refused otherwise), loads the function library
 * from lua/invitegate.lua, reads INFO used_memory, issues N single-use codes
 * in bulk with ig_issue (as seeding does), and reads used_memory again:
 *
 *   - with the `issued` events still in the streams (what Redis holds until
 *     the sync daemon has read them and trimmed the streams), and
 *   - after trimming the streams to nothing (the steady state: the code
 *     records alone), which is the figure the budget is about.
 *
 * Waitlist entries: a hook for later (n/a until the waitlist lands).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <time.h>
#include "bench.h"
#include "cmd.h"
#include "cmd_common.h"
#include "keys.h"
#include "rconn.h"
#include "seed.h"

static int load_library(redisContext *c, const char *path)
{
    size_t len;
    char *lua = bench_read_file(path, &len);
    const char *argv[] = {"FUNCTION", "LOAD", "REPLACE", lua};
    size_t argvlen[] = {8, 4, 7, len};
    redisReply *reply;

    if (lua == NULL)
        return -1;
    reply = bench_redis_argv(c, "FUNCTION LOAD", 4, argv, argvlen);
    free(lua);
    if (reply == NULL)
        return -1;
    freeReplyObject(reply);
    return 0;
}

static long long dbsize(redisContext *c)
{
    const char *argv[] = {"DBSIZE"};
    redisReply *reply = bench_redis_argv(c, "DBSIZE", 1, argv, NULL);
    long long n = reply != NULL && reply->type == REDIS_REPLY_INTEGER ? reply->integer : -1;
    if (reply != NULL)
        freeReplyObject(reply);
    return n;
}

static int trim_streams(redisContext *c)
{
    for (unsigned b = 0; b != IG_BUCKETS; ++b) {
        char key[IG_KEY_MAX_BYTES];
        snprintf(key, sizeof(key), "ig:{%u}:events", b);
        const char *argv[] = {"XTRIM", key, "MAXLEN", "0"};
        redisReply *reply = bench_redis_argv(c, "XTRIM", 4, argv, NULL);
        if (reply == NULL)
            return -1;
        freeReplyObject(reply);
    }
    return 0;
}

/* OBJECT ENCODING of the small hash holding the first code ("listpack" keeps a code at a few dozen bytes). */
static void encoding_of(char out[32], redisContext *c, const bench_code_t *code)
{
    bench_code_keys_t k;
    bench_code_keys(&k, code->body, "-");
    const char *argv[] = {"OBJECT", "ENCODING", k.hash};
    redisReply *reply = bench_redis_argv(c, "OBJECT ENCODING", 3, argv, NULL);
    snprintf(out, 32, "%s", reply != NULL && reply->type == REDIS_REPLY_STRING ? reply->str : "?");
    if (reply != NULL)
        freeReplyObject(reply);
}

int bench_cmd_memory(const bench_opts_t *o)
{
    bench_pool_mix_t mix = {.codes = o->codes, .multi_frac = 0, .bound_frac = 0, .multi_max = 2};
    bench_pool_t pool = {0};
    unsigned char code_key[IG_CODE_KEY_BYTES], email_key[IG_EMAIL_KEY_BYTES];
    long long before, with_events, records;
    char encoding[32];
    redisContext *c = NULL;
    json_t *out = NULL;
    size_t created = 0;
    uint64_t t0;
    int ret = 1;

    if (o->redis_port == 0 || o->lua == NULL) {
        bench_error("memory: needs --redis-port PORT (an empty private Redis on 127.0.0.1) and --lua lua/invitegate.lua");
        return 2;
    }
    /* Any keys do: this Redis serves no gateway. */
    randombytes_buf(code_key, sizeof(code_key));
    randombytes_buf(email_key, sizeof(email_key));
    if ((c = bench_redis_connect_port(o->redis_port)) == NULL)
        goto Exit;
    if (dbsize(c) != 0) {
        bench_error("memory: the Redis on 127.0.0.1:%u is not empty; it must be a private, empty one", o->redis_port);
        goto Exit;
    }
    if (load_library(c, o->lua) != 0 || bench_redis_info_int(c, "memory", "used_memory", &before) != 0 ||
        bench_pool_generate(&pool, &mix, code_key) != 0)
        goto Exit;
    bench_say("memory: issuing %zu single-use codes", pool.num_codes);
    t0 = bench_now_ns();
    if (bench_seed_codes(c, &pool, email_key, (long long)time(NULL) + 30 * 86400LL, &created) != 0)
        goto Exit;
    double secs = (double)(bench_now_ns() - t0) / BENCH_NS_PER_SEC;
    if (bench_redis_info_int(c, "memory", "used_memory", &with_events) != 0 || trim_streams(c) != 0 ||
        bench_redis_info_int(c, "memory", "used_memory", &records) != 0)
        goto Exit;
    encoding_of(encoding, c, &pool.codes[0]);
    double per_code = (double)(records - before) / (double)created,
           per_code_events = (double)(with_events - before) / (double)created;
    printf("memory: %zu single-use codes issued in %.2f s; Redis used_memory +%lld bytes = %.1f bytes per code "
           "(code hashes %s); with their `issued` events still in the streams %.1f bytes per code; "
           "waitlist entries: n/a until the waitlist lands\n",
           created, secs, records - before, per_code, encoding, per_code_events);
    out =
        json_pack("{s:s,s:s,s:I,s:f,s:I,s:I,s:I,s:f,s:f,s:s,s:n}", "kind", "memory", "name", o->name ? o->name : "memory", "codes",
                  (json_int_t)created, "seconds", secs, "used_memory_before", (json_int_t)before, "used_memory_with_events",
                  (json_int_t)with_events, "used_memory_records", (json_int_t)records, "bytes_per_code", per_code,
                  "bytes_per_code_with_events", per_code_events, "hash_encoding", encoding, "bytes_per_waitlist_entry");
    if (o->json != NULL && (out == NULL || bench_json_write(out, o->json) != 0))
        goto Exit;
    ret = created == pool.num_codes ? 0 : 1;
    if (ret != 0)
        bench_error("memory: Redis created %zu of %zu codes", created, pool.num_codes);
Exit:
    json_decref(out);
    if (c != NULL)
        redisFree(c);
    bench_pool_dispose(&pool);
    sodium_memzero(code_key, sizeof(code_key));
    sodium_memzero(email_key, sizeof(email_key));
    return ret;
}
