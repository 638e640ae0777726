/*
 * `invitegate-bench waitlist-scale`: the waitlist at launch size on one
 * Redis (one cluster shard: the whole waitlist is bucket 0).
 *
 * On an empty private Redis (refused otherwise) it loads the function
 * library as the gateway does (--lua), then grows the waitlist to N entries
 * (--waitlist N) through the library's own functions: FCALL ig_join_many,
 * BENCH_SCALE_BATCH joins per call as the gateway coalesces them, pipelined,
 * persons 0, 1, ... of waitlist.h (the launch's persona and use-case mix, so
 * its priority classes), BENCH_JOIN_REFERRAL_PERCENT of them carrying the
 * referral code of an earlier person (whose entry then moves up by the
 * gateway's default boost). The `joined` events are trimmed from the stream
 * every million joins, as the sync daemon trims what it has read.
 *
 * At 1,000,000 entries (when N is larger) and at N it stops and measures:
 *
 *   - INFO used_memory over the empty database's, per entry, events trimmed,
 *     and MEMORY USAGE of each kind of waitlist key (memory.h);
 *   - the Redis CPU per join of the fill (INFO cpu over the joins);
 *   - one call at a time, each kind in turn: ig_join (new persons, same
 *     mix), ig_join_many of BENCH_SCALE_BATCH, ig_position of persons who
 *     joined first, in the middle and last, and of each base priority class,
 *     ig_stats, ig_admit of 1 and of 100 (after the positions: it removes
 *     the head).
 *
 * Each call is timed twice: by the client (the round trip over loopback)
 * and by Redis: INFO commandstats after each call, whose fcall usec grows by
 * the call's execution time (whole microseconds, the nested redis.call
 * commands included; their sum over a kind is its exact mean). SLOWLOG
 * would give the same figure but, with a threshold of 0, also logs every
 * nested command and so slows the calls it times. Medians and 99th percentiles are printed and written to
 * --json.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sodium.h>
#include <time.h>
#include "bench.h"
#include "cmd.h"
#include "cmd_common.h"
#include "hist.h"
#include "ig_code.h"
#include "ig_keys.h"
#include "ig_priority.h"
#include "memory.h"
#include "rconn.h"
#include "seed.h"

/** Joins per ig_join_many call, filling and measured (the gateway's coalescing limit). */
#define BENCH_SCALE_BATCH 64
/** ig_join_many calls in flight while filling. */
#define BENCH_SCALE_WINDOW 16
/** The stream is trimmed every so many joins of the fill. */
#define BENCH_SCALE_TRIM_EVERY 1000000
/** The first checkpoint, when N is larger. */
#define BENCH_SCALE_FIRST 1000000
/** The gateway's default waitlist_referral_boost. */
#define BENCH_SCALE_BOOST "5"
/** Calls measured per kind. */
#define BENCH_SCALE_CALLS 2000
#define BENCH_SCALE_MANY_CALLS 200
#define BENCH_SCALE_ADMIT_CALLS 200
#define BENCH_SCALE_ADMIT100_CALLS 50
#define BENCH_SCALE_CLASS_CALLS 400
/** Base priority classes told apart (scores 0..BENCH_SCALE_CLASSES-1). */
#define BENCH_SCALE_CLASSES 64
#define BENCH_SCALE_ADMIT_MAX 100
/** The client address the measured joins carry. */
#define BENCH_SCALE_ADDR "203.0.113.7"

/* The run: the connection, the gateway-like keys, the next person to join. */
typedef struct scale_t {
    redisContext *c;
    unsigned char email_key[IG_EMAIL_KEY_BYTES];
    unsigned char code_key[IG_CODE_KEY_BYTES];
    ig_user_keys_t user_keys;
    uint64_t next;      /* persons 0..next-1 have joined */
    uint64_t created;   /* joins that answered 'new' */
    bench_rng_t rng;    /* referrers, sampled persons */
    long long mem_base; /* used_memory of the empty database, library loaded */
} scale_t;

/* One kind of call measured: both clocks, and what the replies said. */
typedef struct probe_t {
    const char *name;     /* row of the table and JSON key */
    const char *fn;       /* the function (errors name it) */
    bench_hist_t client;  /* round trip, ns */
    bench_hist_t server;  /* fcall's usec in INFO commandstats per call, ns (whole microseconds) */
    double usec;          /* fcall's usec so far */
    double usec_per_call; /* the mean */
    size_t calls;
    double items;      /* joins or admissions per call */
    long long pos_sum; /* positions answered (ig_position) */
    size_t pos_n;
} probe_t;

/* ---- Redis helpers -------------------------------------------------------- */

static int simple(redisContext *c, const char *what, int argc, const char **argv)
{
    redisReply *reply = bench_redis_argv(c, what, argc, argv, NULL);
    if (reply == NULL)
        return -1;
    freeReplyObject(reply);
    return 0;
}

static int redis_cpu_s(redisContext *c, double *out)
{
    double user, sys;
    if (bench_redis_info_number(c, "cpu", "used_cpu_user", NULL, &user) != 0 ||
        bench_redis_info_number(c, "cpu", "used_cpu_sys", NULL, &sys) != 0) {
        bench_error("waitlist-scale: INFO cpu has no used_cpu_user/used_cpu_sys");
        return -1;
    }
    *out = user + sys;
    return 0;
}

/* ---- filling ---------------------------------------------------------------- */

/* The referrer of person n's join: an earlier person, for BENCH_JOIN_REFERRAL_PERCENT of them; else UINT64_MAX. */
static uint64_t referrer_for(scale_t *s, uint64_t n)
{
    if (n == 0 || bench_rng_below(&s->rng, 100) >= BENCH_JOIN_REFERRAL_PERCENT)
        return UINT64_MAX;
    return bench_rng_below(&s->rng, n);
}

/* One ig_join_many call being built: the gateway's argv (gateway/routes_waitlist.c send_joins). */
typedef struct many_call_t {
    bench_join_item_t items[BENCH_SCALE_BATCH];
    const char *argv[IG_CALL_ARGC(JOIN_MANY, BENCH_SCALE_BATCH)];
    size_t argvlen[IG_CALL_ARGC(JOIN_MANY, BENCH_SCALE_BATCH)];
    size_t argc;
} many_call_t;

/* Builds the ig_join_many of the next n persons (n <= BENCH_SCALE_BATCH) into m. */
static int many_build(scale_t *s, many_call_t *m, size_t n)
{
    ig_fcall_t c;
    const char *keys[] = {IG_KEY_WL, IG_KEY_WL_EVENTS, IG_KEY_WL_SEQ, IG_KEY_WL_COUNTERS};
    for (size_t i = 0; i != n; ++i) {
        uint64_t who = s->next++;
        if (bench_join_item(&m->items[i], who, referrer_for(s, who), BENCH_SCALE_ADDR, s->email_key, &s->user_keys) != 0)
            return -1;
    }
    ig_fcall_begin(&c, IG_CALL_JOIN_MANY, n, m->argv, m->argvlen, IG_CALL_ARGC(JOIN_MANY, BENCH_SCALE_BATCH));
    ig_fcall_strs(&c, keys, 4);
    for (size_t i = 0; i != n; ++i)
        bench_join_push_keys(&c, &m->items[i]);
    ig_fcall_str(&c, BENCH_SCALE_BOOST);
    for (size_t i = 0; i != n; ++i)
        bench_join_push_args(&c, &m->items[i]);
    m->argc = ig_fcall_end(&c);
    return 0;
}

/* Checks a join reply (ig_join: 4 values; ig_join_many: 4 per item) and counts the new entries; -1 (printed) on anything but 'new'.
 */
static int joins_check(scale_t *s, const redisReply *reply, size_t items, const char *fn)
{
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 4 * items) {
        bench_error("redis FCALL %s: unexpected reply (type %d%s%s)", fn, reply->type, reply->type == REDIS_REPLY_ERROR ? ": " : "",
                    reply->type == REDIS_REPLY_ERROR ? reply->str : "");
        return -1;
    }
    for (size_t i = 0; i != items; ++i) {
        const redisReply *v = reply->element[4 * i];
        if (v->type != REDIS_REPLY_STRING || strcmp(v->str, "new") != 0) {
            bench_error("redis FCALL %s: a new person's join answered %s", fn, v->type == REDIS_REPLY_STRING ? v->str : "?");
            return -1;
        }
        ++s->created;
    }
    return 0;
}

static int many_read(scale_t *s, size_t items)
{
    redisReply *reply = bench_redis_next(s->c, "FCALL ig_join_many");
    if (reply == NULL)
        return -1;
    int ret = joins_check(s, reply, items, "ig_join_many");
    freeReplyObject(reply);
    return ret;
}

/* Grows the waitlist to target persons; fills *cpu_us_per_join (Redis CPU) and *joins_per_s (wall). */
static int fill_to(scale_t *s, many_call_t *m, uint64_t target, double *cpu_us_per_join, double *joins_per_s)
{
    size_t sizes[BENCH_SCALE_WINDOW], head = 0, outstanding = 0;
    uint64_t from = s->next, t0 = bench_now_ns(), last_trim = s->next;
    double cpu0, cpu1;

    if (redis_cpu_s(s->c, &cpu0) != 0)
        return -1;
    while (s->next < target) {
        size_t n = target - s->next < BENCH_SCALE_BATCH ? (size_t)(target - s->next) : BENCH_SCALE_BATCH;
        if (many_build(s, m, n) != 0)
            return -1;
        if (redisAppendCommandArgv(s->c, (int)m->argc, m->argv, m->argvlen) != REDIS_OK) {
            bench_error("redis FCALL ig_join_many: %s", s->c->errstr);
            return -1;
        }
        sizes[(head + outstanding++) % BENCH_SCALE_WINDOW] = n;
        if (outstanding == BENCH_SCALE_WINDOW) {
            if (many_read(s, sizes[head]) != 0)
                return -1;
            head = (head + 1) % BENCH_SCALE_WINDOW, --outstanding;
        }
        if (s->next - last_trim >= BENCH_SCALE_TRIM_EVERY || s->next == target) {
            for (; outstanding != 0; head = (head + 1) % BENCH_SCALE_WINDOW, --outstanding)
                if (many_read(s, sizes[head]) != 0)
                    return -1;
            if (bench_redis_trim_streams(s->c) != 0)
                return -1;
            last_trim = s->next;
            double secs = (double)(bench_now_ns() - t0) / BENCH_NS_PER_SEC;
            bench_say("waitlist-scale: %" PRIu64 " joined (%.0f joins/s)", s->next, (double)(s->next - from) / secs);
        }
    }
    double secs = (double)(bench_now_ns() - t0) / BENCH_NS_PER_SEC;
    if (redis_cpu_s(s->c, &cpu1) != 0)
        return -1;
    *joins_per_s = (double)(s->next - from) / secs;
    *cpu_us_per_join = s->next > from ? (cpu1 - cpu0) * 1e6 / (double)(s->next - from) : 0;
    return 0;
}

/* ---- probes ----------------------------------------------------------------- */

/* calls and usec of cmdstat_fcall (INFO commandstats); 0 and 0 before the first FCALL since the reset. */
static int fcall_stats(redisContext *c, double *calls, double *usec)
{
    int ret = bench_redis_info_number(c, "commandstats", "cmdstat_fcall", "calls", calls);
    if (ret == 1) {
        *calls = *usec = 0;
        return 0;
    }
    return ret != 0 ? -1 : bench_redis_info_number(c, "commandstats", "cmdstat_fcall", "usec", usec) == 0 ? 0 : -1;
}

/* Starts p: the command statistics reset. */
static int probe_begin(scale_t *s, probe_t *p, const char *name, const char *fn)
{
    const char *reset[] = {"CONFIG", "RESETSTAT"};
    memset(p, 0, sizeof(*p));
    p->name = name, p->fn = fn, p->items = 1;
    bench_hist_reset(&p->client);
    bench_hist_reset(&p->server);
    return simple(s->c, "CONFIG RESETSTAT", 2, reset);
}

/*
 * One call, timed by the client (the FCALL alone), then by Redis: the growth
 * of fcall's usec in INFO commandstats, in whole microseconds. Returns the
 * reply (caller frees) or NULL (printed).
 */
static redisReply *probe_call(scale_t *s, probe_t *p, int argc, const char **argv, const size_t *argvlen)
{
    double calls, usec;
    uint64_t t0 = bench_now_ns();
    redisReply *reply = bench_redis_argv(s->c, p->fn, argc, argv, argvlen);
    if (reply == NULL)
        return NULL;
    bench_hist_record(&p->client, bench_now_ns() - t0);
    ++p->calls;
    if (fcall_stats(s->c, &calls, &usec) != 0 || calls != (double)p->calls) {
        bench_error("waitlist-scale: %s: INFO commandstats counts %.0f calls of %zu", p->name, calls, p->calls);
        freeReplyObject(reply);
        return NULL;
    }
    bench_hist_record(&p->server, (uint64_t)((usec - p->usec) * 1000.0));
    p->usec = usec;
    return reply;
}

static json_t *probe_json(const probe_t *p)
{
    json_t *o =
        json_pack("{s:I,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f}", "calls", (json_int_t)p->calls, "items_per_call", p->items,
                  "usec_per_call", p->usec_per_call, "server_p50_us", bench_hist_percentile(&p->server, 50) / 1e3, "server_p99_us",
                  bench_hist_percentile(&p->server, 99) / 1e3, "server_max_us", bench_hist_percentile(&p->server, 100) / 1e3,
                  "client_p50_us", bench_hist_percentile(&p->client, 50) / 1e3, "client_p99_us",
                  bench_hist_percentile(&p->client, 99) / 1e3, "client_mean_us", bench_hist_mean(&p->client) / 1e3);
    if (o != NULL && p->pos_n != 0)
        json_object_set_new(o, "mean_position", json_real((double)p->pos_sum / (double)p->pos_n));
    return o;
}

static void probe_print(const probe_t *p)
{
    printf("  %-24s %6zu calls  server p50 %7.1f p99 %7.1f mean %8.2f us  client p50 %7.1f p99 %7.1f us", p->name, p->calls,
           bench_hist_percentile(&p->server, 50) / 1e3, bench_hist_percentile(&p->server, 99) / 1e3, p->usec_per_call,
           bench_hist_percentile(&p->client, 50) / 1e3, bench_hist_percentile(&p->client, 99) / 1e3);
    if (p->items > 1)
        printf("  (%.2f us/item)", p->usec_per_call / p->items);
    if (p->pos_n != 0)
        printf("  mean position %.0f", (double)p->pos_sum / (double)p->pos_n);
    printf("\n");
}

/* Ends p (the exact mean from the statistics), prints it and adds it to calls. */
static int probe_finish(probe_t *p, json_t *calls)
{
    p->usec_per_call = p->calls != 0 ? p->usec / (double)p->calls : 0;
    probe_print(p);
    fflush(stdout);
    json_object_set_new(calls, p->name, probe_json(p));
    return 0;
}

static int probe_join(scale_t *s, json_t *calls)
{
    probe_t p;
    bench_join_item_t it;
    if (probe_begin(s, &p, "join", "ig_join") != 0)
        return -1;
    for (size_t i = 0; i != BENCH_SCALE_CALLS; ++i) {
        uint64_t who = s->next++;
        if (bench_join_item(&it, who, referrer_for(s, who), BENCH_SCALE_ADDR, s->email_key, &s->user_keys) != 0)
            return -1;
        const char *argv[BENCH_JOIN_CALL_ARGS];
        size_t argvlen[BENCH_JOIN_CALL_ARGS];
        ig_fcall_t c;
        bench_join_call(&c, argv, argvlen, &it, BENCH_SCALE_BOOST);
        redisReply *reply = probe_call(s, &p, (int)ig_fcall_end(&c), argv, argvlen);
        if (reply == NULL)
            return -1;
        int bad = joins_check(s, reply, 1, "ig_join");
        freeReplyObject(reply);
        if (bad)
            return -1;
    }
    return probe_finish(&p, calls);
}

static int probe_join_many(scale_t *s, many_call_t *m, json_t *calls)
{
    probe_t p;
    if (probe_begin(s, &p, "join_many_64", "ig_join_many") != 0)
        return -1;
    p.items = BENCH_SCALE_BATCH;
    for (size_t i = 0; i != BENCH_SCALE_MANY_CALLS; ++i) {
        if (many_build(s, m, BENCH_SCALE_BATCH) != 0)
            return -1;
        redisReply *reply = probe_call(s, &p, (int)m->argc, m->argv, m->argvlen);
        if (reply == NULL)
            return -1;
        int bad = joins_check(s, reply, BENCH_SCALE_BATCH, "ig_join_many");
        freeReplyObject(reply);
        if (bad)
            return -1;
    }
    return probe_finish(&p, calls);
}

/* The base priority class of person n (the score of its persona and use case; a referrer's boosts come on top). */
static int base_class(uint64_t n)
{
    bench_person_t person;
    if (bench_person(&person, n) != 0)
        return -1;
    return ig_priority_score(person.persona, strlen(person.persona), person.use_case, strlen(person.use_case));
}

/*
 * ig_position of calls persons drawn from [from, to) (of those whose base
 * class is cls, unless cls < 0). Persons admitted meanwhile answer
 * 'admitted'; they are measured too (the same first steps) but give no
 * position.
 */
static int probe_position(scale_t *s, json_t *calls, const char *name, uint64_t from, uint64_t to, int cls, size_t calls_n)
{
    probe_t p;
    bench_join_item_t it;
    if (probe_begin(s, &p, name, "ig_position") != 0)
        return -1;
    for (size_t i = 0; i != calls_n; ++i) {
        uint64_t who;
        do
            who = from + bench_rng_below(&s->rng, to - from);
        while (cls >= 0 && base_class(who) != cls);
        if (bench_join_item(&it, who, UINT64_MAX, BENCH_SCALE_ADDR, s->email_key, &s->user_keys) != 0)
            return -1;
        IG_FCALL_LOCAL(c, POSITION, 0);
        const char *keys[] = {IG_KEY_WL, IG_KEY_WL_COUNTERS, it.user_key};
        ig_fcall_strs(&c, keys, 3);
        ig_fcall_bin(&c, it.hash, sizeof(it.hash));
        redisReply *reply = probe_call(s, &p, (int)ig_fcall_end(&c), c.argv, c.lens);
        if (reply == NULL)
            return -1;
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 || reply->element[0]->type != REDIS_REPLY_STRING ||
            strcmp(reply->element[0]->str, "not_found") == 0) {
            bench_error("redis FCALL ig_position: person %" PRIu64 " is not on the waitlist", who);
            freeReplyObject(reply);
            return -1;
        }
        if (strcmp(reply->element[0]->str, "ok") == 0 && reply->elements >= 2 && reply->element[1]->type == REDIS_REPLY_INTEGER)
            p.pos_sum += reply->element[1]->integer, ++p.pos_n;
        freeReplyObject(reply);
    }
    return probe_finish(&p, calls);
}

static int probe_stats(scale_t *s, json_t *calls)
{
    probe_t p;
    IG_FCALL_LOCAL(c, STATS, 0);
    ig_fcall_str(&c, IG_KEY_WL);
    ig_fcall_str(&c, IG_KEY_WL_COUNTERS);
    if (probe_begin(s, &p, "stats", "ig_stats") != 0)
        return -1;
    for (size_t i = 0; i != BENCH_SCALE_CALLS; ++i) {
        redisReply *reply = probe_call(s, &p, (int)ig_fcall_end(&c), c.argv, c.lens);
        if (reply == NULL)
            return -1;
        freeReplyObject(reply);
    }
    return probe_finish(&p, calls);
}

/* ig_admit of count, calls_n times, with fresh code bodies of bucket 0 as gateway/people.c makes them. */
static int probe_admit(scale_t *s, json_t *calls, const char *name, size_t count, size_t calls_n)
{
    static char bodies[BENCH_SCALE_ADMIT_MAX][IG_CODE_BODY_LEN + 1], keys[BENCH_SCALE_ADMIT_MAX][IG_KEY_MAX_BYTES];
    const char *argv[IG_CALL_ARGC(ADMIT, BENCH_SCALE_ADMIT_MAX)];
    size_t lens[IG_CALL_ARGC(ADMIT, BENCH_SCALE_ADMIT_MAX)];
    char exp[24];
    probe_t p;

    if (probe_begin(s, &p, name, "ig_admit") != 0)
        return -1;
    p.items = (double)count;
    snprintf(exp, sizeof(exp), "%lld", (long long)time(NULL) + 14 * 86400LL);
    for (size_t i = 0; i != calls_n; ++i) {
        ig_fcall_t c;
        const char *fixed[] = {IG_KEY_WL, IG_KEY_WL_EVENTS, IG_KEY_WL_GATE, IG_KEY_WL_COUNTERS};
        ig_fcall_begin(&c, IG_CALL_ADMIT, count, argv, lens, IG_CALL_ARGC(ADMIT, BENCH_SCALE_ADMIT_MAX));
        ig_fcall_strs(&c, fixed, 4);
        for (size_t k = 0; k != count; ++k) {
            ig_code_generate_in(bodies[k], s->code_key, IG_WL_BUCKET, IG_BUCKETS_DEFAULT);
            ig_key_code_hash(keys[k], IG_WL_BUCKET, ig_code_subhash(bodies[k]));
            ig_fcall_str(&c, keys[k]);
        }
        ig_fcall_str(&c, IG_KEY_IDEM_NONE); /* no Idempotency-Key */
        ig_fcall_str(&c, exp);
        ig_fcall_str(&c, "bench");
        for (size_t k = 0; k != count; ++k)
            ig_fcall_str(&c, bodies[k]);
        ig_fcall_str(&c, ""); /* its fingerprint */
        redisReply *reply = probe_call(s, &p, (int)ig_fcall_end(&c), argv, lens);
        if (reply == NULL)
            return -1;
        int ok = reply->type == REDIS_REPLY_ARRAY && reply->elements == 1 + 2 * count;
        freeReplyObject(reply);
        if (!ok) {
            bench_error("redis FCALL ig_admit: %zu asked, another answer", count);
            return -1;
        }
    }
    return probe_finish(&p, calls);
}

/* ---- checkpoints ------------------------------------------------------------ */

/* The base classes that occur among the persons (the mix of waitlist.h), from a sample. */
static void classes_of_mix(int present[BENCH_SCALE_CLASSES])
{
    memset(present, 0, BENCH_SCALE_CLASSES * sizeof(present[0]));
    for (uint64_t n = 0; n != 20000; ++n) {
        int c = base_class(n);
        if (c >= 0 && c < BENCH_SCALE_CLASSES)
            present[c] = 1;
    }
}

static int checkpoint(scale_t *s, many_call_t *m, json_t *points, double cpu_us_per_join, double joins_per_s)
{
    long long mem;
    double accounted;
    int present[BENCH_SCALE_CLASSES];
    json_t *point = json_object(), *calls = json_object();
    uint64_t entries = s->next;
    int ret = -1;

    json_array_append_new(points, point);
    json_object_set_new(point, "calls", calls);
    if (bench_redis_trim_streams(s->c) != 0 || bench_redis_info_int(s->c, "memory", "used_memory", &mem) != 0)
        goto Exit;
    double per = (double)(mem - s->mem_base) / (double)entries;
    printf("waitlist-scale: %" PRIu64 " entries: used_memory %.1f MiB over the empty database's = %.1f bytes per entry; "
           "the fill ran at %.0f joins/s (ig_join_many of %d, pipelined), Redis CPU %.2f us per join\n"
           "  MEMORY USAGE per entry:",
           entries, (double)(mem - s->mem_base) / 1048576.0, per, joins_per_s, BENCH_SCALE_BATCH, cpu_us_per_join);
    if (bench_waitlist_key_usage(s->c, (double)entries, point, &accounted) != 0)
        goto Exit;
    printf(" the rest %.1f\n", per - accounted);
    json_object_set_new(point, "entries", json_integer((json_int_t)entries));
    json_object_set_new(point, "used_memory_bytes", json_integer(mem - s->mem_base));
    json_object_set_new(point, "bytes_per_entry", json_real(per));
    json_object_set_new(point, "fill_joins_per_s", json_real(joins_per_s));
    json_object_set_new(point, "fill_redis_cpu_us_per_join", json_real(cpu_us_per_join));
    fflush(stdout);

    /* Positions first: the admissions below take the head. Ranges in join order. */
    uint64_t pct = entries / 100 ? entries / 100 : 1;
    if (probe_position(s, calls, "position_first_1pct", 0, pct, -1, BENCH_SCALE_CALLS) != 0 ||
        probe_position(s, calls, "position_middle_1pct", entries / 2 - pct / 2, entries / 2 + pct / 2 + 1, -1, BENCH_SCALE_CALLS) !=
            0 ||
        probe_position(s, calls, "position_last_1pct", entries - pct, entries, -1, BENCH_SCALE_CALLS) != 0)
        goto Exit;
    classes_of_mix(present);
    for (int c = BENCH_SCALE_CLASSES - 1; c >= 0; --c) {
        char name[32];
        if (!present[c])
            continue;
        snprintf(name, sizeof(name), "position_class_%d", c);
        if (probe_position(s, calls, name, 0, entries, c, BENCH_SCALE_CLASS_CALLS) != 0)
            goto Exit;
    }
    if (probe_stats(s, calls) != 0 || probe_join(s, calls) != 0 || probe_join_many(s, m, calls) != 0 ||
        probe_admit(s, calls, "admit_1", 1, BENCH_SCALE_ADMIT_CALLS) != 0 ||
        probe_admit(s, calls, "admit_100", 100, BENCH_SCALE_ADMIT100_CALLS) != 0 || bench_redis_trim_streams(s->c) != 0)
        goto Exit;
    ret = 0;
Exit:
    return ret;
}

int bench_cmd_waitlist_scale(const bench_opts_t *o)
{
    scale_t s = {0};
    many_call_t *m = NULL;
    json_t *out = NULL, *points;
    unsigned char secret[IG_SECRET_KEY_BYTES];
    int ret = 1;

    if (o->redis_port == 0 || o->lua == NULL || o->waitlist == 0) {
        bench_error("waitlist-scale: needs --redis-port PORT (an empty private Redis on 127.0.0.1), --lua "
                    "lua/invitegate.lua,lua/waitlist.lua,lua/points.lua and --waitlist N");
        return 2;
    }
    /* Any keys do: this Redis serves no gateway. */
    randombytes_buf(s.email_key, sizeof(s.email_key));
    randombytes_buf(s.code_key, sizeof(s.code_key));
    randombytes_buf(secret, sizeof(secret));
    ig_user_keys_derive(&s.user_keys, secret);
    bench_rng_seed(&s.rng, o->seed);
    if ((m = malloc(sizeof(*m))) == NULL) {
        bench_error("out of memory");
        goto Exit;
    }
    if ((s.c = bench_redis_connect_port(o->redis_port)) == NULL)
        goto Exit;
    const char *dbsize[] = {"DBSIZE"};
    redisReply *reply = bench_redis_argv(s.c, "DBSIZE", 1, dbsize, NULL);
    long long keys = reply != NULL && reply->type == REDIS_REPLY_INTEGER ? reply->integer : -1;
    if (reply != NULL)
        freeReplyObject(reply);
    if (keys != 0) {
        bench_error("waitlist-scale: the Redis on 127.0.0.1:%u is not empty; it must be a private, empty one", o->redis_port);
        goto Exit;
    }
    if (bench_redis_load_library(s.c, o->lua) != 0 || bench_redis_info_int(s.c, "memory", "used_memory", &s.mem_base) != 0)
        goto Exit;
    out = json_pack("{s:s,s:s,s:I,s:i,s:i}", "kind", "waitlist_scale", "name", o->name ? o->name : "waitlist_scale", "target",
                    (json_int_t)o->waitlist, "batch", BENCH_SCALE_BATCH, "referral_percent", BENCH_JOIN_REFERRAL_PERCENT);
    points = json_array();
    json_object_set_new(out, "checkpoints", points);
    uint64_t marks[2] = {BENCH_SCALE_FIRST, o->waitlist};
    for (size_t i = o->waitlist > BENCH_SCALE_FIRST ? 0 : 1; i != 2; ++i) {
        double cpu_us, rate;
        bench_say("waitlist-scale: joining up to %" PRIu64 " people", marks[i]);
        if (fill_to(&s, m, marks[i], &cpu_us, &rate) != 0 || checkpoint(&s, m, points, cpu_us, rate) != 0)
            goto Exit;
    }
    ret = 0;
    if (o->json != NULL && bench_json_write(out, o->json) != 0)
        ret = 1;
Exit:
    json_decref(out);
    if (s.c != NULL)
        redisFree(s.c);
    free(m);
    sodium_memzero(secret, sizeof(secret));
    sodium_memzero(&s, sizeof(s));
    return ret;
}
