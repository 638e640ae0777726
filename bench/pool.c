/* The code pool, its state files and its tickets (pool.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sodium.h>
#include "pool.h"

static const char *const kind_names[BENCH_CODE_KINDS] = {"single", "multi", "bound"};

/* Rebuilds the index of multi-use codes. Returns 0 or -1. */
static int index_multi(bench_pool_t *pool)
{
    free(pool->multi);
    pool->num_multi = 0;
    if ((pool->multi = malloc((pool->num_codes + 1) * sizeof(*pool->multi))) == NULL) {
        bench_error("out of memory indexing %zu codes", pool->num_codes);
        return -1;
    }
    for (size_t i = 0; i != pool->num_codes; ++i)
        if (pool->codes[i].kind == BENCH_CODE_MULTI)
            pool->multi[pool->num_multi++] = i;
    return 0;
}

int bench_pool_generate(bench_pool_t *pool, const bench_pool_mix_t *mix, const unsigned char code_key[IG_CODE_KEY_BYTES])
{
    size_t n = mix->codes, n_multi = (size_t)((double)n * mix->multi_frac), n_bound = (size_t)((double)n * mix->bound_frac);
    unsigned char tag[(BENCH_POOL_TAG_BYTES - 1) / 2];

    memset(pool, 0, sizeof(*pool));
    if (n == 0 || n_multi + n_bound > n || mix->multi_max < 2) {
        bench_error("pool: %zu codes with %zu multi-use and %zu bound (max_uses %u) is not a pool", n, n_multi, n_bound,
                    mix->multi_max);
        return -1;
    }
    if ((pool->codes = malloc(n * sizeof(*pool->codes))) == NULL) {
        bench_error("out of memory for %zu codes", n);
        return -1;
    }
    pool->num_codes = n;
    pool->multi_max = mix->multi_max;
    randombytes_buf(tag, sizeof(tag));
    sodium_bin2hex(pool->tag, sizeof(pool->tag), tag, sizeof(tag));
    for (size_t i = 0; i != n; ++i) {
        ig_code_generate(pool->codes[i].body, code_key);
        pool->codes[i].kind = i < n_multi ? BENCH_CODE_MULTI : i < n_multi + n_bound ? BENCH_CODE_BOUND : BENCH_CODE_SINGLE;
    }
    /* Interleave the kinds: consecutive tickets hit every kind, as real traffic would. */
    for (size_t i = n - 1; i > 0; --i) {
        size_t j = randombytes_uniform((uint32_t)(i + 1));
        unsigned char k = pool->codes[i].kind;
        pool->codes[i].kind = pool->codes[j].kind;
        pool->codes[j].kind = k;
    }
    return index_multi(pool);
}

static void state_path(char *out, size_t cap, const char *dir, const char *name)
{
    snprintf(out, cap, "%s/%s", dir, name);
}

int bench_pool_save_cursor(const bench_pool_t *pool)
{
    return pool->dir[0] == '\0' ? 0 : bench_write_counter(pool->dir, "cursor", pool->cursor);
}

int bench_pool_save(bench_pool_t *pool, const char *dir)
{
    char path[BENCH_POOL_PATH_BYTES + 16];
    FILE *f;

    if (strlen(dir) >= sizeof(pool->dir)) {
        bench_error("state directory path too long: %s", dir);
        return -1;
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        bench_error("cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    strcpy(pool->dir, dir);
    state_path(path, sizeof(path), dir, "codes.tsv");
    if ((f = fopen(path, "w")) == NULL) {
        bench_error("cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    fprintf(f, "# invitegate-bench pool tag=%s multi_max=%u codes=%zu\n", pool->tag, pool->multi_max, pool->num_codes);
    for (size_t i = 0; i != pool->num_codes; ++i)
        fprintf(f, "%s\t%s\n", pool->codes[i].body, kind_names[pool->codes[i].kind]);
    if (fclose(f) != 0) {
        bench_error("cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    return bench_pool_save_cursor(pool);
}

static int kind_of(const char *name)
{
    for (int k = 0; k != BENCH_CODE_KINDS; ++k)
        if (strcmp(name, kind_names[k]) == 0)
            return k;
    return -1;
}

int bench_pool_load(bench_pool_t *pool, const char *dir)
{
    char path[BENCH_POOL_PATH_BYTES + 16], line[128], kind[16];
    size_t cap = 0, n_header = 0;
    FILE *f = NULL;
    int ret = -1;

    memset(pool, 0, sizeof(*pool));
    if (strlen(dir) >= sizeof(pool->dir)) {
        bench_error("state directory path too long: %s", dir);
        return -1;
    }
    strcpy(pool->dir, dir);
    state_path(path, sizeof(path), dir, "codes.tsv");
    if ((f = fopen(path, "r")) == NULL) {
        bench_error("cannot open %s (run `invitegate-bench seed` first): %s", path, strerror(errno));
        return -1;
    }
    if (fgets(line, sizeof(line), f) == NULL ||
        sscanf(line, "# invitegate-bench pool tag=%8s multi_max=%u codes=%zu", pool->tag, &pool->multi_max, &n_header) != 3) {
        bench_error("%s: not a pool file (bad header)", path);
        goto Exit;
    }
    cap = n_header;
    if ((pool->codes = malloc((cap + 1) * sizeof(*pool->codes))) == NULL) {
        bench_error("out of memory for %zu codes", cap);
        goto Exit;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        bench_code_t *c;
        int k;
        if (pool->num_codes == cap) {
            bench_error("%s: more codes than its header says", path);
            goto Exit;
        }
        c = &pool->codes[pool->num_codes];
        if (sscanf(line, "%16s %15s", c->body, kind) != 2 || strlen(c->body) != IG_CODE_BODY_LEN || (k = kind_of(kind)) < 0) {
            bench_error("%s: bad line %zu", path, pool->num_codes + 2);
            goto Exit;
        }
        c->kind = (unsigned char)k;
        ++pool->num_codes;
    }
    if (pool->num_codes != n_header) {
        bench_error("%s: %zu codes, header says %zu", path, pool->num_codes, n_header);
        goto Exit;
    }
    fclose(f);
    state_path(path, sizeof(path), dir, "cursor");
    if ((f = fopen(path, "r")) == NULL || fscanf(f, "%" SCNu64, &pool->cursor) != 1) {
        bench_error("cannot read %s", path);
        goto Exit;
    }
    ret = index_multi(pool);
Exit:
    if (f != NULL)
        fclose(f);
    if (ret != 0)
        bench_pool_dispose(pool);
    return ret;
}

void bench_pool_dispose(bench_pool_t *pool)
{
    free(pool->codes);
    free(pool->multi);
    pool->codes = NULL;
    pool->multi = NULL;
    pool->num_codes = pool->num_multi = 0;
}

unsigned bench_pool_max_uses(const bench_pool_t *pool, const bench_code_t *code)
{
    return code->kind == BENCH_CODE_MULTI ? pool->multi_max : 1;
}

uint64_t bench_pool_capacity(const bench_pool_t *pool)
{
    return (uint64_t)pool->num_codes + (uint64_t)pool->num_multi * (pool->multi_max - 1);
}

size_t bench_pool_bound_email(char out[BENCH_EMAIL_BYTES], const char *body)
{
    char lower[IG_CODE_BODY_LEN + 1];
    for (size_t i = 0; i != IG_CODE_BODY_LEN; ++i)
        lower[i] = (char)(body[i] >= 'A' && body[i] <= 'Z' ? body[i] - 'A' + 'a' : body[i]);
    lower[IG_CODE_BODY_LEN] = '\0';
    return (size_t)snprintf(out, BENCH_EMAIL_BYTES, "inv-%s@" BENCH_BOUND_DOMAIN, lower);
}

void bench_pool_batch_id(char out[48], const bench_pool_t *pool, bench_code_kind_t kind)
{
    snprintf(out, 48, "bench-%s-%s", pool->tag, kind_names[kind]);
}

void bench_pool_next_ticket(bench_pool_t *pool, bench_ticket_t *t)
{
    uint64_t n = pool->num_codes, m = pool->num_multi, ticket = pool->cursor++;

    t->expect_ok = ticket < bench_pool_capacity(pool);
    if (ticket < n) {
        t->code = &pool->codes[ticket];
    } else if (t->expect_ok) {
        t->code = &pool->codes[pool->multi[(ticket - n) % m]];
    } else {
        t->code = &pool->codes[ticket % n];
    }
    if (t->expect_ok && t->code->kind == BENCH_CODE_BOUND)
        t->email_len = bench_pool_bound_email(t->email, t->code->body);
    else
        t->email_len = (size_t)snprintf(t->email, sizeof(t->email), "u%s-%" PRIu64 "@" BENCH_OPEN_DOMAIN, pool->tag, ticket);
}
