/* Operations, workloads and their HTTP requests (workload.h). */
#include <stdio.h>
#include <string.h>
#include "workload.h"

#define NOT_YET "n/a: not served yet"

/* The operations; `available` turns on when the product serves them. */
static const struct {
    const char *name;
    int available;
} ops[BENCH_OP_COUNT] = {
    [BENCH_OP_HEALTH] = {"health", 1}, [BENCH_OP_REDEEM] = {"redeem", 1},     [BENCH_OP_STATUS] = {"status", 1},
    [BENCH_OP_JOIN] = {"join", 1},     [BENCH_OP_POSITION] = {"position", 1},
};

typedef struct mix_entry_t {
    bench_op_t op;
    unsigned weight; /* percent */
} mix_entry_t;

/* The workloads. */
static const struct {
    const char *name;
    const char *what;
    mix_entry_t mix[BENCH_OP_COUNT];
    size_t n;
} workloads[] = {
    {"health", "GET /health: the HTTP ceiling (the cheapest route)", {{BENCH_OP_HEALTH, 100}}, 1},
    {"redeem", "POST /api/invites/redeem with a unique e-mail per request over the code pool", {{BENCH_OP_REDEEM, 100}}, 1},
    {"status", "GET /api/invites/{code}/status of random pool codes", {{BENCH_OP_STATUS, 100}}, 1},
    {"join",
     "POST /api/waitlist/join: a new person each, "
     "15% with the referral code of a seeded entry",
     {{BENCH_OP_JOIN, 100}},
     1},
    {"position", "GET /api/waitlist/{email}/position of random seeded entries (seed --waitlist M)", {{BENCH_OP_POSITION, 100}}, 1},
    {"launch",
     "launch-day mix: 50% status, 30% redeem, 15% join, 5% position",
     {{BENCH_OP_STATUS, 50}, {BENCH_OP_REDEEM, 30}, {BENCH_OP_JOIN, 15}, {BENCH_OP_POSITION, 5}},
     4},
};

const char *bench_op_name(bench_op_t op)
{
    return op < BENCH_OP_COUNT ? ops[op].name : "?";
}

int bench_op_find(const char *name)
{
    for (int i = 0; i != BENCH_OP_COUNT; ++i)
        if (strcmp(ops[i].name, name) == 0)
            return i;
    return -1;
}

int bench_mix_resolve(bench_mix_t *mix, const char *name)
{
    size_t used = 0;
    unsigned total = 0;

    memset(mix, 0, sizeof(*mix));
    for (size_t w = 0; w != sizeof(workloads) / sizeof(workloads[0]); ++w) {
        if (strcmp(workloads[w].name, name) != 0)
            continue;
        mix->workload = workloads[w].name;
        for (size_t i = 0; i != workloads[w].n; ++i) {
            const mix_entry_t *e = &workloads[w].mix[i];
            if (!ops[e->op].available) {
                used += (size_t)snprintf(mix->skipped + used, sizeof(mix->skipped) - used, "%s%s %u%%", used ? ", " : "",
                                         ops[e->op].name, e->weight);
                if (used >= sizeof(mix->skipped))
                    used = sizeof(mix->skipped) - 1;
                continue;
            }
            total += e->weight;
            mix->ops[mix->num_ops] = e->op;
            mix->cumulative[mix->num_ops++] = total;
        }
        if (used != 0)
            snprintf(mix->skipped + used, sizeof(mix->skipped) - used, " " NOT_YET);
        if (mix->num_ops == 0) {
            bench_error("workload %s: %s", name, NOT_YET);
            return -1;
        }
        return 0;
    }
    bench_error("unknown workload %s (invitegate-bench --help lists them)", name);
    return -1;
}

int bench_mix_has(const bench_mix_t *mix, bench_op_t op)
{
    for (size_t i = 0; i != mix->num_ops; ++i)
        if (mix->ops[i] == op)
            return 1;
    return 0;
}

bench_op_t bench_mix_pick(const bench_mix_t *mix, bench_rng_t *rng)
{
    if (mix->num_ops == 1)
        return mix->ops[0];
    unsigned r = (unsigned)bench_rng_below(rng, mix->cumulative[mix->num_ops - 1]);
    for (size_t i = 0; i != mix->num_ops; ++i)
        if (r < mix->cumulative[i])
            return mix->ops[i];
    return mix->ops[mix->num_ops - 1];
}

void bench_workloads_print(FILE *f)
{
    for (size_t w = 0; w != sizeof(workloads) / sizeof(workloads[0]); ++w)
        fprintf(f, "  %-9s %s\n", workloads[w].name, workloads[w].what);
}

/* The join body of the next person: a new address, a persona, a use case, sometimes a referral code. */
static int join_body(char *body, size_t cap, bench_req_ctx_t *ctx)
{
    bench_person_t p;
    char ref[IG_REFERRAL_CODE_LEN + 1] = "";
    bench_waitlist_t *wl = ctx->wl;

    if (bench_person(&p, wl->num + wl->join_cursor++) != 0)
        return -1;
    if (wl->num != 0 && ctx->user_keys != NULL && bench_rng_below(&ctx->rng, 100) < BENCH_JOIN_REFERRAL_PERCENT) {
        const char *referrer = bench_waitlist_email(wl, bench_rng_below(&ctx->rng, wl->num));
        ig_referral_code(ref, referrer, strlen(referrer), ctx->user_keys);
    }
    return snprintf(body, cap, "{\"email\":\"%s\",\"use_case\":\"%s\",\"persona\":\"%s\"%s%s%s}", p.raw, p.use_case, p.persona,
                    ref[0] ? ",\"referral_code\":\"" : "", ref, ref[0] ? "\"" : "");
}

int bench_http_request(char *buf, size_t cap, bench_op_t op, bench_req_ctx_t *ctx)
{
    bench_ticket_t t;
    char body[640], path[3 * IG_EMAIL_MAX_BYTES + 1];
    int n = -1, blen;

    ctx->past_capacity = 0;
    switch (op) {
    case BENCH_OP_HEALTH:
        n = snprintf(buf, cap, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        break;
    case BENCH_OP_STATUS: {
        const bench_code_t *code = &ctx->pool->codes[bench_rng_below(&ctx->rng, ctx->pool->num_codes)];
        n = snprintf(buf, cap, "GET /api/invites/%s%s/status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", ctx->code_prefix, code->body);
        break;
    }
    case BENCH_OP_REDEEM:
        bench_pool_next_ticket(ctx->pool, &t);
        ctx->past_capacity = !t.expect_ok;
        blen = snprintf(body, sizeof(body), "{\"code\":\"%s%s\",\"email\":\"%s\"}", ctx->code_prefix, t.code->body, t.email);
        goto Post;
    case BENCH_OP_JOIN:
        if (ctx->wl == NULL)
            return -1;
        blen = join_body(body, sizeof(body), ctx);
        goto Post;
    case BENCH_OP_POSITION: {
        if (ctx->wl == NULL || ctx->wl->num == 0)
            return -1;
        const char *email = bench_waitlist_email(ctx->wl, bench_rng_below(&ctx->rng, ctx->wl->num));
        if (bench_percent_encode(path, sizeof(path), email, strlen(email)) < 0)
            return -1;
        n = snprintf(buf, cap, "GET /api/waitlist/%s/position HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", path);
        break;
    }
    case BENCH_OP_COUNT:
        return -1;
    }
    return n < 0 || (size_t)n >= cap ? -1 : n;
Post:
    if (blen < 0 || (size_t)blen >= sizeof(body))
        return -1;
    n = snprintf(buf, cap, "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
                 op == BENCH_OP_JOIN ? "/api/waitlist/join" : "/api/invites/redeem", blen, body);
    return n < 0 || (size_t)n >= cap ? -1 : n;
}
