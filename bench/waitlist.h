/*
 * The bench's waitlist people and the list of those seeded.
 *
 * Person n (n = 0, 1, ...) is deterministic: a realistic address
 * (first.last, firstlast or first_last followed by n, at a mix of free and
 * company domains, some capitalised, some gmail ones with a "+tag"), a
 * persona and a use case of the launch's mix (some longer than 20 words,
 * some naming marketing, content, automation or time, which raise the
 * priority score). The number n keeps addresses unique after the gateway's
 * normalisation, which removes dots and tags of gmail addresses: names hold
 * no digits, so the digits before the "@" or "+" are n.
 *
 * `seed --waitlist M` joins persons 0..M-1 and saves their normalised
 * addresses in the state directory (waitlist.txt); `position` asks for
 * them. The `join` workload joins persons M, M+1, ... (join_cursor in the
 * state directory), so every join is a new entry.
 */
#ifndef BENCH_WAITLIST_H
#define BENCH_WAITLIST_H

#include <stddef.h>
#include <stdint.h>
#include "ig_email.h"
#include "pool.h"

/** Referral codes a fraction of joins carry (percent): an existing entry's, as a shared /r/CODE link would give. */
#define BENCH_JOIN_REFERRAL_PERCENT 15

/** One person of the waitlist. */
typedef struct bench_person_t {
    char raw[BENCH_EMAIL_BYTES];        /**< the address as typed (what a join sends) */
    size_t raw_len;                     /**< bytes of raw */
    char email[IG_EMAIL_MAX_BYTES + 1]; /**< its normal form (what the gateway stores) */
    size_t email_len;                   /**< bytes of email */
    const char *persona;                /**< static: solo_founder, small_team, agency, content_creator, other */
    const char *use_case;               /**< static: plain ASCII without quotes or backslashes */
} bench_person_t;

/** Fills p with person n. Returns 0, or -1 when the address fails normalisation (never for these). */
int bench_person(bench_person_t *p, uint64_t n);

/** The seeded waitlist of a state directory. */
typedef struct bench_waitlist_t {
    char *text;                      /**< owned: the normalised addresses, NUL-separated */
    size_t *offsets;                 /**< owned: where each starts in text */
    size_t num;                      /**< entries seeded */
    uint64_t join_cursor;            /**< joins sent so far by the `join` operation */
    char dir[BENCH_POOL_PATH_BYTES]; /**< state directory (empty: not saved) */
} bench_waitlist_t;

/**
 * Builds the list of persons 0..num-1 in wl (which owns its memory until
 * bench_waitlist_dispose). Returns 0 or -1 (printed).
 */
int bench_waitlist_generate(bench_waitlist_t *wl, size_t num);

/** Address of entry i (normalised, NUL-terminated). */
static inline const char *bench_waitlist_email(const bench_waitlist_t *wl, size_t i)
{
    return wl->text + wl->offsets[i];
}

/** Writes waitlist.txt and join_cursor into dir and remembers dir. Returns 0 or -1 (printed). */
int bench_waitlist_save(bench_waitlist_t *wl, const char *dir);

/** Writes join_cursor back to the state directory. Returns 0 or -1 (printed). */
int bench_waitlist_save_cursor(const bench_waitlist_t *wl);

/**
 * Loads the list bench_waitlist_save wrote into dir; a state directory
 * without one (no waitlist seeded) gives an empty list. Returns 0 or -1
 * (printed).
 */
int bench_waitlist_load(bench_waitlist_t *wl, const char *dir);

/** Frees what wl owns. */
void bench_waitlist_dispose(bench_waitlist_t *wl);

/**
 * Percent-encodes s (len bytes) for a path segment: every byte but the
 * unreserved characters of RFC 3986. Returns the length written, or -1 when
 * cap is too small (out always NUL-terminated when cap > 0).
 */
int bench_percent_encode(char *out, size_t cap, const char *s, size_t len);

#endif
