/*
 * `invitegate-bench memory`: Redis bytes per issued code.
 *
 * On an empty private Redis (refused otherwise), loads the function library
 * the gateway loads (--lua: its files, comma-separated, concatenated in the
 * order of gateway/CMakeLists.txt), reads INFO used_memory, issues N
 * single-use codes in bulk with ig_issue (as seeding does), and reads
 * used_memory again:
 *
 *   - with the `issued` events still in the streams (what Redis holds until
 *     the sync daemon has read them and trimmed the streams), and
 *   - after trimming the streams to nothing (the steady state: the code
 *     records alone), which is the figure the budget is about.
 *
 * Then (--waitlist M) it empties the database and joins M people with
 * ig_join, as `seed --waitlist` does: the delta of used_memory after
 * trimming the `joined` events is everything a join keeps (the bit of its
 * class, the sequence-map, referral-code and user-record entries, the
 * counters), and MEMORY USAGE of each kind of key splits it.
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
#include "memory.h"
#include "rconn.h"
#include "seed.h"
#include "waitlist.h"

static long long dbsize(redisContext *c)
{
    const char *argv[] = {"DBSIZE"};
    redisReply *reply = bench_redis_argv(c, "DBSIZE", 1, argv, NULL);
    long long n = reply != NULL && reply->type == REDIS_REPLY_INTEGER ? reply->integer : -1;
    if (reply != NULL)
        freeReplyObject(reply);
    return n;
}

/* OBJECT ENCODING of the small hash holding the first code ("listpack" keeps a code at a few dozen bytes). */
static void encoding_of(char out[32], redisContext *c, const bench_code_t *code)
{
    bench_code_keys_t k;
    bench_code_keys(&k, code->body, IG_BUCKETS_DEFAULT); /* a private Redis, as bench_redis_single lays it out */
    const char *argv[] = {"OBJECT", "ENCODING", k.hash};
    redisReply *reply = bench_redis_argv(c, "OBJECT ENCODING", 3, argv, NULL);
    snprintf(out, 32, "%s", reply != NULL && reply->type == REDIS_REPLY_STRING ? reply->str : "?");
    if (reply != NULL)
        freeReplyObject(reply);
}

/* MEMORY USAGE of key (every element counted); 0 when the key does not exist. */
static int usage_of(redisContext *c, const char *key, long long *out)
{
    const char *argv[] = {"MEMORY", "USAGE", key, "SAMPLES", "0"};
    redisReply *reply = bench_redis_argv(c, "MEMORY USAGE", 5, argv, NULL);
    if (reply == NULL)
        return -1;
    *out = reply->type == REDIS_REPLY_INTEGER ? reply->integer : 0;
    freeReplyObject(reply);
    return 0;
}

/* Sum of MEMORY USAGE over the keys matching pattern (SCAN); *encoding gets the first one's encoding. */
static int usage_of_pattern(redisContext *c, const char *pattern, long long *out, char encoding[32])
{
    char cursor[32] = "0";
    *out = 0;
    snprintf(encoding, 32, "-");
    do {
        const char *argv[] = {"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"};
        redisReply *reply = bench_redis_argv(c, "SCAN", 6, argv, NULL);
        if (reply == NULL)
            return -1;
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 || reply->element[0]->type != REDIS_REPLY_STRING) {
            freeReplyObject(reply);
            bench_error("memory: unexpected SCAN reply");
            return -1;
        }
        snprintf(cursor, sizeof(cursor), "%s", reply->element[0]->str);
        for (size_t i = 0; i != reply->element[1]->elements; ++i) {
            const char *key = reply->element[1]->element[i]->str;
            long long n;
            if (usage_of(c, key, &n) != 0) {
                freeReplyObject(reply);
                return -1;
            }
            if (encoding[0] == '-') {
                const char *enc[] = {"OBJECT", "ENCODING", key};
                redisReply *e = bench_redis_argv(c, "OBJECT ENCODING", 3, enc, NULL);
                snprintf(encoding, 32, "%s", e != NULL && e->type == REDIS_REPLY_STRING ? e->str : "?");
                if (e != NULL)
                    freeReplyObject(e);
            }
            *out += n;
        }
        freeReplyObject(reply);
    } while (strcmp(cursor, "0") != 0);
    return 0;
}

/* Where the bytes go (lua/waitlist.lua): class bitmaps, their counters, the sequence map, referral codes, user records. */
int bench_waitlist_key_usage(redisContext *c, double entries, json_t *out, double *accounted)
{
    static const struct {
        const char *kind, *name, *json;
    } parts[] = {
        {"wl:b", "class bitmaps", "waitlist_bitmap_bytes_per_entry"},
        {"wl:k", "block counters", "waitlist_counter_bytes_per_entry"},
        {"wl:s", "sequence map", "waitlist_sequence_bytes_per_entry"},
        {"rc", "referral codes", "waitlist_referral_bytes_per_entry"},
        {"u", "user records", "waitlist_user_bytes_per_entry"},
    };
    *accounted = 0;
    for (size_t i = 0; i != sizeof(parts) / sizeof(parts[0]); ++i) {
        long long bytes;
        char enc[32], pattern[IG_KEY_MAX_BYTES];
        ig_key_pattern(pattern, IG_WL_BUCKET, parts[i].kind);
        if (usage_of_pattern(c, pattern, &bytes, enc) != 0)
            return -1;
        printf(" %s %.1f (%s),", parts[i].name, (double)bytes / entries, enc);
        json_object_set_new(out, parts[i].json, json_real((double)bytes / entries));
        *accounted += (double)bytes / entries;
    }
    return 0;
}

/* The waitlist part: M joins on the emptied database; adds its figures to out. Returns 0 or -1 (printed). */
static int waitlist_memory(redisContext *c, size_t entries, json_t *out)
{
    unsigned char email_key[IG_EMAIL_KEY_BYTES], secret[IG_SECRET_KEY_BYTES];
    ig_user_keys_t user_keys;
    bench_waitlist_t wl = {0};
    long long before, with_events, after;
    size_t created = 0, existing = 0, email_bytes = 0;
    int ret = -1;

    randombytes_buf(email_key, sizeof(email_key));
    randombytes_buf(secret, sizeof(secret));
    ig_user_keys_derive(&user_keys, secret);
    const char *flush[] = {"FLUSHALL", "SYNC"};
    redisReply *reply = bench_redis_argv(c, "FLUSHALL", 2, flush, NULL);
    if (reply == NULL)
        goto Exit;
    freeReplyObject(reply);
    if (bench_waitlist_generate(&wl, entries) != 0 || bench_redis_info_int(c, "memory", "used_memory", &before) != 0)
        goto Exit;
    for (size_t i = 0; i != wl.num; ++i)
        email_bytes += strlen(bench_waitlist_email(&wl, i));
    bench_say("memory: joining %zu people to the waitlist", wl.num);
    sync_route_t route;
    bench_redis_single(&route, c);
    uint64_t t0 = bench_now_ns();
    if (bench_seed_waitlist(&route, &wl, email_key, &user_keys, &created, &existing) != 0)
        goto Exit;
    double secs = (double)(bench_now_ns() - t0) / BENCH_NS_PER_SEC;
    if (bench_redis_info_int(c, "memory", "used_memory", &with_events) != 0 || bench_redis_trim_streams(c) != 0 ||
        bench_redis_info_int(c, "memory", "used_memory", &after) != 0)
        goto Exit;
    double n = (double)(created != 0 ? created : 1), per = (double)(after - before) / n, accounted = 0;
    printf("memory: %zu waitlist entries joined in %.2f s (average e-mail %.1f bytes); Redis used_memory +%lld bytes = %.1f "
           "bytes per entry (%.1f with their `joined` events still in the stream); MEMORY USAGE per entry:",
           created, secs, (double)email_bytes / (double)(wl.num ? wl.num : 1), after - before, per,
           (double)(with_events - before) / n);
    if (bench_waitlist_key_usage(c, n, out, &accounted) != 0)
        goto Exit;
    printf(" the rest %.1f\n", per - accounted);
    json_object_set_new(out, "waitlist_entries", json_integer((json_int_t)created));
    json_object_set_new(out, "waitlist_seconds", json_real(secs));
    json_object_set_new(out, "waitlist_email_avg_bytes", json_real((double)email_bytes / (double)(wl.num ? wl.num : 1)));
    json_object_set_new(out, "bytes_per_waitlist_entry", json_real(per));
    json_object_set_new(out, "bytes_per_waitlist_entry_with_events", json_real((double)(with_events - before) / n));
    if (created != wl.num)
        bench_error("memory: %zu of %zu joins created an entry", created, wl.num);
    else
        ret = 0;
Exit:
    bench_waitlist_dispose(&wl);
    sodium_memzero(email_key, sizeof(email_key));
    sodium_memzero(secret, sizeof(secret));
    sodium_memzero(&user_keys, sizeof(user_keys));
    return ret;
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
        bench_error("memory: needs --redis-port PORT (an empty private Redis on 127.0.0.1) and --lua "
                    "lua/invitegate.lua,lua/waitlist.lua,lua/points.lua");
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
    if (bench_redis_load_library(c, o->lua) != 0 || bench_redis_info_int(c, "memory", "used_memory", &before) != 0 ||
        bench_pool_generate(&pool, &mix, code_key) != 0)
        goto Exit;
    bench_say("memory: issuing %zu single-use codes", pool.num_codes);
    sync_route_t route;
    bench_redis_single(&route, c);
    t0 = bench_now_ns();
    if (bench_seed_codes(&route, &pool, email_key, (long long)time(NULL) + 30 * 86400LL, &created) != 0)
        goto Exit;
    double secs = (double)(bench_now_ns() - t0) / BENCH_NS_PER_SEC;
    if (bench_redis_info_int(c, "memory", "used_memory", &with_events) != 0 || bench_redis_trim_streams(c) != 0 ||
        bench_redis_info_int(c, "memory", "used_memory", &records) != 0)
        goto Exit;
    encoding_of(encoding, c, &pool.codes[0]);
    double per_code = (double)(records - before) / (double)created,
           per_code_events = (double)(with_events - before) / (double)created;
    printf("memory: %zu single-use codes issued in %.2f s; Redis used_memory +%lld bytes = %.1f bytes per code "
           "(code hashes %s); with their `issued` events still in the streams %.1f bytes per code\n",
           created, secs, records - before, per_code, encoding, per_code_events);
    fflush(stdout);
    out = json_pack("{s:s,s:s,s:I,s:f,s:I,s:I,s:I,s:f,s:f,s:s}", "kind", "memory", "name", o->name ? o->name : "memory", "codes",
                    (json_int_t)created, "seconds", secs, "used_memory_before", (json_int_t)before, "used_memory_with_events",
                    (json_int_t)with_events, "used_memory_records", (json_int_t)records, "bytes_per_code", per_code,
                    "bytes_per_code_with_events", per_code_events, "hash_encoding", encoding);
    if (out == NULL)
        goto Exit;
    ret = created == pool.num_codes ? 0 : 1;
    if (ret != 0)
        bench_error("memory: Redis created %zu of %zu codes", created, pool.num_codes);
    if (o->waitlist != 0 && waitlist_memory(c, o->waitlist, out) != 0)
        ret = 1;
    if (o->json != NULL && bench_json_write(out, o->json) != 0)
        ret = 1;
Exit:
    json_decref(out);
    if (c != NULL)
        redisFree(c);
    bench_pool_dispose(&pool);
    sodium_memzero(code_key, sizeof(code_key));
    sodium_memzero(email_key, sizeof(email_key));
    return ret;
}
