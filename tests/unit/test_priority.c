/* Seed 004's waitlist priority formula, on a table of cases. The expected
 * scores are what the seed's Python calculate_priority_score returns. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "ig_priority.h"

static const char twenty_one[] = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
                                 "sixteen seventeen eighteen nineteen twenty twentyone";
static const char twenty[] = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
                             "sixteen seventeen eighteen nineteen twenty";

static void persona_points_follow_the_seed(void **state)
{
    static const struct {
        const char *persona;
        int points;
    } cases[] = {{"solo_founder", 10}, {"small_team", 15}, {"agency", 20}, {"content_creator", 8}, {"other", 5}, {"", 5},
                 {"Agency", 5},        {"agency ", 5},     {"unknown", 5}};
    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i)
        assert_int_equal(ig_priority_persona_points(cases[i].persona, strlen(cases[i].persona)), cases[i].points);
}

static void scores_on_a_table_of_cases(void **state)
{
    char long_with_keyword[512];
    snprintf(long_with_keyword, sizeof(long_with_keyword), "%s marketing", twenty);
    static const struct {
        const char *persona;
        const char *use_case;
        int score;
    } fixed[] = {
        {"solo_founder", "Marketing automation for my startup", 15},
        {"small_team", "we build things", 15},
        {"agency", "saves TIME", 25},
        {"content_creator", "", 8},
        {"other", "sometimes", 10},      /* "time" inside a word counts, as with Python's `in` */
        {"nobody", "CONTENT", 10},       /* unknown persona is other */
        {"agency", "mark eting", 20},    /* split keywords do not count */
        {"small_team", "automatic", 15}, /* no keyword */
    };
    for (size_t i = 0; i != sizeof(fixed) / sizeof(fixed[0]); ++i) {
        int got = ig_priority_score(fixed[i].persona, strlen(fixed[i].persona), fixed[i].use_case, strlen(fixed[i].use_case));
        if (got != fixed[i].score)
            fail_msg("(%s, \"%s\") scored %d, expected %d", fixed[i].persona, fixed[i].use_case, got, fixed[i].score);
    }
    assert_int_equal(ig_priority_score("agency", 6, twenty, strlen(twenty)), 20);                       /* 20 words: no bonus */
    assert_int_equal(ig_priority_score("agency", 6, twenty_one, strlen(twenty_one)), 30);               /* 21 words: +10 */
    assert_int_equal(ig_priority_score("agency", 6, long_with_keyword, strlen(long_with_keyword)), 35); /* both bonuses */
}

static void words_split_like_python(void **state)
{
    static const struct {
        const char *text;
        size_t words;
    } cases[] = {
        {"", 0},
        {"   ", 0},
        {"one", 1},
        {"  one  two  ", 2},
        {"a\tb\nc\rd\ve\ff", 6},
        {"a\x1c"
         "b\x1f"
         "c",
         3}, /* Python counts the separators 0x1c-0x1f as spaces */
        {"a\xc2\xa0"
         "b",
         2}, /* U+00A0 no-break space */
        {"a\xe3\x80\x80"
         "b\xe2\x80\x83"
         "c",
         3},                             /* U+3000, U+2003 */
        {"caf\xc3\xa9 cr\xc3\xa8me", 2}, /* letters outside ASCII are not spaces */
        {"a\xe2\x80\x8b"
         "b",
         1}, /* U+200B zero-width space is not whitespace in Python */
    };
    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        size_t got = ig_priority_word_count(cases[i].text, strlen(cases[i].text));
        if (got != cases[i].words)
            fail_msg("case %zu: %zu words, expected %zu", i, got, cases[i].words);
    }
}

static void estimated_wait_ranges(void **state)
{
    assert_string_equal(ig_waitlist_estimate(10, -1), "unknown");
    assert_string_equal(ig_waitlist_estimate(10, 0), "more than 3 months");
    assert_string_equal(ig_waitlist_estimate(10, 50000), "less than a day"); /* 50 a day */
    assert_string_equal(ig_waitlist_estimate(100, 50000), "1-3 days");
    assert_string_equal(ig_waitlist_estimate(200, 50000), "3-5 days");
    assert_string_equal(ig_waitlist_estimate(300, 50000), "5-7 days");
    assert_string_equal(ig_waitlist_estimate(800, 50000), "2-3 weeks");
    assert_string_equal(ig_waitlist_estimate(2000, 50000), "1-2 months");
    assert_string_equal(ig_waitlist_estimate(100000, 50000), "more than 3 months");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(estimated_wait_ranges),
        cmocka_unit_test(persona_points_follow_the_seed),
        cmocka_unit_test(scores_on_a_table_of_cases),
        cmocka_unit_test(words_split_like_python),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
