/* Operations, workloads and their HTTP requests (workload.h). */
#include <stdio.h>
#include <string.h>
#include "workload.h"

#define NOT_YET "n/a until the waitlist lands"

/* The operations; `available` turns on when the product serves them. */
static const struct {
    const char *name;
    int available;
} ops[BENCH_OP_COUNT] = {
    [BENCH_OP_HEALTH] = {"health", 1}, [BENCH_OP_REDEEM] = {"redeem", 1},     [BENCH_OP_STATUS] = {"status", 1},
    [BENCH_OP_JOIN] = {"join", 0},     [BENCH_OP_POSITION] = {"position", 0},
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
    {"join", "POST /api/waitlist/join (" NOT_YET ")", {{BENCH_OP_JOIN, 100}}, 1},
    {"position", "GET /api/waitlist/position (" NOT_YET ")", {{BENCH_OP_POSITION, 100}}, 1},
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

int bench_http_request(char *buf, size_t cap, bench_op_t op, bench_req_ctx_t *ctx)
{
    bench_ticket_t t;
    char body[256];
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
        if (blen < 0 || (size_t)blen >= sizeof(body))
            return -1;
        n = snprintf(buf, cap,
                     "POST /api/invites/redeem HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     "Content-Length: %d\r\n\r\n%s",
                     blen, body);
        break;
    case BENCH_OP_JOIN:     /* the waitlist issue adds POST /api/waitlist/join here */
    case BENCH_OP_POSITION: /* and GET /api/waitlist/position here */
    case BENCH_OP_COUNT:
        return -1;
    }
    return n < 0 || (size_t)n >= cap ? -1 : n;
}
