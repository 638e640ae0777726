/*
 * The waitlist priority score of seed 004 (calculate_priority_score), exactly:
 *
 *   persona points: solo_founder 10, small_team 15, agency 20,
 *                   content_creator 8, anything else 5;
 *   +10 when the use case has more than 20 words (Python's str.split(): runs
 *       of Unicode whitespace separate words);
 *   +5 when the lower-cased use case contains marketing, content,
 *       automation or time (as substrings, like Python's `in`).
 *
 * Referral boosts are added by the caller.
 */
#ifndef IG_PRIORITY_H
#define IG_PRIORITY_H

#include <stddef.h>

#define IG_PRIORITY_MAX 35

/** Points of a persona name (persona_len bytes); unknown personas are "other". */
int ig_priority_persona_points(const char *persona, size_t persona_len);

/** Words in a UTF-8 text as Python's str.split() counts them. */
size_t ig_priority_word_count(const char *text, size_t len);

/** The seed's score of (persona, use_case). */
int ig_priority_score(const char *persona, size_t persona_len, const char *use_case, size_t use_case_len);

/**
 * The estimated wait of API.md for a waitlist position, given the admission
 * rate in admissions per day times 1000 (-1: no admission yet, "unknown").
 * Ranges: "less than a day", "1-3 days", "3-5 days", "5-7 days",
 * "1-2 weeks", "2-3 weeks", "3-4 weeks", "1-2 months", "2-3 months",
 * "more than 3 months".
 */
const char *ig_waitlist_estimate(long long position, long long rate_milli);

#endif
