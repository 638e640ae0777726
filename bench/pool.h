/*
 * The bench's code pool and its redemption tickets.
 *
 * `invitegate-bench seed` generates the pool (single-use, multi-use and
 * e-mail-bound codes), issues it into Redis and saves it in a state
 * directory: codes.tsv (one code per line) and cursor (the next ticket).
 * Every later command loads it from there.
 *
 * A ticket is one redemption that should succeed: ticket t < num_codes uses
 * code t once (a bound code with its bound e-mail, any other code with a
 * fresh e-mail); later tickets cycle over the multi-use codes, pass p using
 * each for the (p+1)-th time, until every use is spent. E-mails are unique
 * per ticket (they carry the pool's tag and the ticket number), so a 200 is
 * always a new redemption, never a retry. Past the capacity, tickets wrap
 * onto spent codes with fresh e-mails and are refused (409 exhausted, 403
 * wrong_account): the run reports it.
 */
#ifndef BENCH_POOL_H
#define BENCH_POOL_H

#include <stddef.h>
#include <stdint.h>
#include "bench.h"
#include "ig_code.h"
#include "ig_email.h"

#define BENCH_POOL_TAG_BYTES 9
#define BENCH_POOL_PATH_BYTES 512
#define BENCH_EMAIL_BYTES 96
#define BENCH_BOUND_DOMAIN "bound.bench.example.com"
#define BENCH_OPEN_DOMAIN "bench.example.com"

/** Kinds of seeded code. */
typedef enum { BENCH_CODE_SINGLE, BENCH_CODE_MULTI, BENCH_CODE_BOUND, BENCH_CODE_KINDS } bench_code_kind_t;

typedef struct bench_code_t {
    char body[IG_CODE_BODY_LEN + 1]; /**< the 16-character body */
    unsigned char kind;              /**< bench_code_kind_t */
} bench_code_t;

typedef struct bench_pool_t {
    bench_code_t *codes;             /**< owned; num_codes entries */
    size_t num_codes;                /**< codes issued */
    size_t *multi;                   /**< owned; indexes of the multi-use codes */
    size_t num_multi;                /**< multi-use codes */
    unsigned multi_max;              /**< max_uses of every multi-use code */
    char tag[BENCH_POOL_TAG_BYTES];  /**< random per pool: batch ids and e-mails */
    uint64_t cursor;                 /**< next ticket */
    char dir[BENCH_POOL_PATH_BYTES]; /**< state directory (empty: not saved) */
} bench_pool_t;

/** One redemption to send. */
typedef struct bench_ticket_t {
    const bench_code_t *code;      /**< borrowed from the pool */
    char email[BENCH_EMAIL_BYTES]; /**< normalised form (as the gateway stores it) */
    size_t email_len;
    int expect_ok; /**< 0 once the pool's capacity is spent */
} bench_ticket_t;

/** Shares of the pool by kind, for bench_pool_generate. */
typedef struct bench_pool_mix_t {
    size_t codes;       /**< total codes */
    double multi_frac;  /**< share of multi-use codes */
    double bound_frac;  /**< share of single-use codes bound to an e-mail */
    unsigned multi_max; /**< max_uses of the multi-use codes (>= 2) */
} bench_pool_mix_t;

/**
 * Fills pool with new random codes checked with code_key, in random order of
 * kinds. Returns 0, or -1 (printed). The pool owns its memory until
 * bench_pool_dispose.
 */
int bench_pool_generate(bench_pool_t *pool, const bench_pool_mix_t *mix, const unsigned char code_key[IG_CODE_KEY_BYTES]);

/** Writes codes.tsv and cursor into dir (created if needed) and remembers dir. Returns 0 or -1. */
int bench_pool_save(bench_pool_t *pool, const char *dir);

/** Loads a pool saved by bench_pool_save. Returns 0 or -1 (printed). */
int bench_pool_load(bench_pool_t *pool, const char *dir);

/** Writes the cursor back to the state directory. Returns 0 or -1. */
int bench_pool_save_cursor(const bench_pool_t *pool);

/** Frees what the pool owns. */
void bench_pool_dispose(bench_pool_t *pool);

/** max_uses of a code of the pool. */
unsigned bench_pool_max_uses(const bench_pool_t *pool, const bench_code_t *code);

/** Redemptions the pool allows in all. */
uint64_t bench_pool_capacity(const bench_pool_t *pool);

/** Hands out the next ticket (advances the cursor). */
void bench_pool_next_ticket(bench_pool_t *pool, bench_ticket_t *t);

/** The e-mail a bound code was issued to (normalised form); returns its length. */
size_t bench_pool_bound_email(char out[BENCH_EMAIL_BYTES], const char *body);

/** Batch id of the codes of one kind: "bench-TAG-KIND". */
void bench_pool_batch_id(char out[48], const bench_pool_t *pool, bench_code_kind_t kind);

#endif
