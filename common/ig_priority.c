#include <string.h>
#include <strings.h>
#include "ig_priority.h"

int ig_priority_persona_points(const char *persona, size_t persona_len)
{
    static const struct {
        const char *name;
        int points;
    } personas[] = {{"solo_founder", 10}, {"small_team", 15}, {"agency", 20}, {"content_creator", 8}, {"other", 5}};
    for (size_t i = 0; i != sizeof(personas) / sizeof(personas[0]); ++i)
        if (strlen(personas[i].name) == persona_len && memcmp(personas[i].name, persona, persona_len) == 0)
            return personas[i].points;
    return 5;
}

/*
 * Length of the whitespace character at s (as Python's str.isspace() sees
 * it), or 0. ASCII: \t \n \v \f \r, 0x1c-0x1f and space; Unicode: U+0085,
 * U+00A0, U+1680, U+2000-U+200A, U+2028, U+2029, U+202F, U+205F, U+3000.
 */
static size_t space_len(const unsigned char *s, size_t left)
{
    if ((s[0] >= 0x09 && s[0] <= 0x0d) || (s[0] >= 0x1c && s[0] <= 0x20))
        return 1;
    if (left >= 2 && s[0] == 0xc2 && (s[1] == 0x85 || s[1] == 0xa0))
        return 2;
    if (left >= 3) {
        unsigned cp = ((unsigned)(s[0] & 0x0f) << 12) | ((unsigned)(s[1] & 0x3f) << 6) | (s[2] & 0x3f);
        if ((s[0] & 0xf0) != 0xe0 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
            return 0;
        if (cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f || cp == 0x205f ||
            cp == 0x3000)
            return 3;
    }
    return 0;
}

size_t ig_priority_word_count(const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t words = 0, i = 0;
    int in_word = 0;
    while (i < len) {
        size_t n = space_len(s + i, len - i);
        if (n != 0) {
            in_word = 0;
            i += n;
        } else {
            if (!in_word)
                ++words;
            in_word = 1;
            ++i;
        }
    }
    return words;
}

/* Case-insensitive ASCII substring search: exact for these ASCII keywords, since
 * no non-ASCII character lower-cases to a sequence containing them. */
static int contains(const char *hay, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= len; ++i)
        if (strncasecmp(hay + i, needle, n) == 0)
            return 1;
    return 0;
}

int ig_priority_score(const char *persona, size_t persona_len, const char *use_case, size_t use_case_len)
{
    static const char *const keywords[] = {"marketing", "content", "automation", "time"};
    int score = ig_priority_persona_points(persona, persona_len);
    if (ig_priority_word_count(use_case, use_case_len) > 20)
        score += 10;
    for (size_t i = 0; i != sizeof(keywords) / sizeof(keywords[0]); ++i) {
        if (contains(use_case, use_case_len, keywords[i])) {
            score += 5;
            break;
        }
    }
    return score;
}

const char *ig_waitlist_estimate(long long position, long long rate_milli)
{
    static const struct {
        double below_days;
        const char *text;
    } ranges[] = {{1, "less than a day"}, {3, "1-3 days"},   {5, "3-5 days"},    {7, "5-7 days"},   {14, "1-2 weeks"},
                  {21, "2-3 weeks"},      {28, "3-4 weeks"}, {60, "1-2 months"}, {90, "2-3 months"}};
    if (rate_milli < 0)
        return "unknown";
    if (rate_milli == 0)
        return "more than 3 months";
    double days = (double)position * 1000.0 / (double)rate_milli;
    for (size_t i = 0; i != sizeof(ranges) / sizeof(ranges[0]); ++i)
        if (days < ranges[i].below_days)
            return ranges[i].text;
    return "more than 3 months";
}
