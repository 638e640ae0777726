/* PostgreSQL text-format array literals (sync/pgarray.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <cmocka.h>
#include "pgarray.h"

#define MAX_ELEMENTS 6000

/* One element as PostgreSQL's array input would read it back. */
typedef struct element_t {
    int is_null;
    char *text; /* owned, NUL-terminated; NULL for SQL NULL */
    size_t len;
} element_t;

static void free_elements(element_t *e, size_t n)
{
    for (size_t i = 0; i != n; ++i)
        free(e[i].text);
}

/*
 * Reads a one-dimensional array literal the way PostgreSQL's array_in does:
 * elements between braces separated by commas, a double-quoted element with
 * backslash escaping the next character, an unquoted element ending at a
 * comma or the closing brace, the unquoted word NULL (any case) for SQL NULL.
 * Anything left after the closing brace is an error. Returns the number of
 * elements or -1.
 */
static long parse_literal(element_t *out, size_t max, const char *lit)
{
    const char *p = lit;
    char *scratch = malloc(strlen(lit) + 1);
    long n = -1;
    size_t count = 0;

    assert_non_null(scratch);
    if (*p++ != '{')
        goto Exit;
    if (*p == '}') {
        n = p[1] == '\0' ? 0 : -1;
        goto Exit;
    }
    for (;;) {
        size_t len = 0;
        int quoted = *p == '"';
        if (count == max)
            goto Exit;
        if (quoted) {
            for (++p; *p != '"'; ++p) {
                if (*p == '\\')
                    ++p;
                if (*p == '\0')
                    goto Exit;
                scratch[len++] = *p;
            }
            ++p;
        } else {
            for (; *p != ',' && *p != '}'; ++p) {
                if (*p == '\0' || *p == '"' || *p == '{' || *p == '\\')
                    goto Exit;
                scratch[len++] = *p;
            }
        }
        scratch[len] = '\0';
        if (!quoted && strcasecmp(scratch, "NULL") == 0) {
            out[count++] = (element_t){.is_null = 1};
        } else if (!quoted && len == 0) {
            goto Exit;
        } else {
            char *text = malloc(len + 1);
            assert_non_null(text);
            memcpy(text, scratch, len + 1);
            out[count++] = (element_t){.text = text, .len = len};
        }
        if (*p == '}') {
            n = p[1] == '\0' ? (long)count : -1;
            goto Exit;
        }
        if (*p++ != ',')
            goto Exit;
    }
Exit:
    if (n < 0)
        free_elements(out, count);
    free(scratch);
    return n;
}

/* Asserts that lit reads back as exactly the n strings of want (NULL meaning SQL NULL). */
static void assert_reads_back(const char *lit, const char *const *want, size_t n)
{
    static element_t got[MAX_ELEMENTS];
    long count = parse_literal(got, MAX_ELEMENTS, lit);
    assert_int_equal(count, (long)n);
    for (size_t i = 0; i != n; ++i) {
        if (want[i] == NULL) {
            assert_true(got[i].is_null);
            continue;
        }
        assert_false(got[i].is_null);
        assert_int_equal(got[i].len, strlen(want[i]));
        assert_memory_equal(got[i].text, want[i], got[i].len);
    }
    free_elements(got, (size_t)count);
}

static void empty_array_is_braces(void **state)
{
    sync_pgarray_t a;
    sync_pgarray_init(&a);
    assert_int_equal(a.count, 0);
    assert_string_equal(sync_pgarray_finish(&a), "{}");
    assert_string_equal(sync_pgarray_finish(&a), "{}");
    sync_pgarray_dispose(&a);
}

static void text_elements_are_always_quoted(void **state)
{
    sync_pgarray_t a;
    sync_pgarray_init(&a);
    sync_pgarray_add_str(&a, "abc");
    assert_string_equal(sync_pgarray_finish(&a), "{\"abc\"}");
    sync_pgarray_add_str(&a, "A7F3E9D2B4C5HJKM");
    sync_pgarray_add_str(&a, "3-1700000000000-0");
    assert_string_equal(sync_pgarray_finish(&a), "{\"abc\",\"A7F3E9D2B4C5HJKM\",\"3-1700000000000-0\"}");
    assert_int_equal(a.count, 3);
    sync_pgarray_dispose(&a);
}

static void sql_null_is_the_bare_word(void **state)
{
    sync_pgarray_t a;
    sync_pgarray_init(&a);
    sync_pgarray_add_str(&a, NULL);
    sync_pgarray_add_text(&a, NULL, 0);
    sync_pgarray_add_text(&a, NULL, 7); /* the length is ignored for NULL */
    sync_pgarray_add_str(&a, "x");
    assert_string_equal(sync_pgarray_finish(&a), "{NULL,NULL,NULL,\"x\"}");
    const char *want[] = {NULL, NULL, NULL, "x"};
    assert_reads_back(sync_pgarray_finish(&a), want, 4);
    sync_pgarray_dispose(&a);
}

static void the_word_null_stays_text(void **state)
{
    const char *words[] = {"NULL", "null", "NuLl", " NULL", "NULL "};
    sync_pgarray_t a;
    sync_pgarray_init(&a);
    for (size_t i = 0; i != sizeof(words) / sizeof(words[0]); ++i)
        sync_pgarray_add_str(&a, words[i]);
    assert_string_equal(sync_pgarray_finish(&a), "{\"NULL\",\"null\",\"NuLl\",\" NULL\",\"NULL \"}");
    assert_reads_back(sync_pgarray_finish(&a), words, 5);
    sync_pgarray_dispose(&a);
}

static void empty_text_is_not_null(void **state)
{
    sync_pgarray_t a;
    sync_pgarray_init(&a);
    sync_pgarray_add_str(&a, "");
    sync_pgarray_add_text(&a, "ignored", 0);
    sync_pgarray_add_str(&a, NULL);
    assert_string_equal(sync_pgarray_finish(&a), "{\"\",\"\",NULL}");
    const char *want[] = {"", "", NULL};
    assert_reads_back(sync_pgarray_finish(&a), want, 3);
    sync_pgarray_dispose(&a);
}

static void quotes_and_backslashes_are_escaped(void **state)
{
    sync_pgarray_t a;
    sync_pgarray_init(&a);
    sync_pgarray_add_str(&a, "a\"b\\c");
    assert_string_equal(sync_pgarray_finish(&a), "{\"a\\\"b\\\\c\"}");
    sync_pgarray_reset(&a);
    sync_pgarray_add_str(&a, "\"");
    sync_pgarray_add_str(&a, "\\");
    sync_pgarray_add_str(&a, "\\\"");
    sync_pgarray_add_str(&a, "ends with \\");
    sync_pgarray_add_str(&a, "\"\"");
    assert_string_equal(sync_pgarray_finish(&a), "{\"\\\"\",\"\\\\\",\"\\\\\\\"\",\"ends with \\\\\",\"\\\"\\\"\"}");
    const char *want[] = {"\"", "\\", "\\\"", "ends with \\", "\"\""};
    assert_reads_back(sync_pgarray_finish(&a), want, 5);
    sync_pgarray_dispose(&a);
}

/* Commas, braces, spaces and other punctuation stay inside the element. */
static void shape_characters_stay_inside_one_element(void **state)
{
    const char *texts[] = {",",    "{",          "}",  "{}",         "}{",   "a,b",      "{a,b}",   "{\"a\",NULL}",
                           " ",    "  padded  ", "\t", "line\nnext", "\r\n", "'single'", "x\\,y",   "NULL,NULL",
                           "{{}}", "\\N",        "$1", "--",         "a;b",  "ARRAY[1]", "}\",\"{", "\"},{\""};
    size_t n = sizeof(texts) / sizeof(texts[0]);
    sync_pgarray_t a;
    sync_pgarray_init(&a);
    for (size_t i = 0; i != n; ++i)
        sync_pgarray_add_str(&a, texts[i]);
    assert_int_equal(a.count, n);
    assert_reads_back(sync_pgarray_finish(&a), texts, n);
    /* Each on its own, too: the first and last positions take the brace. */
    for (size_t i = 0; i != n; ++i) {
        sync_pgarray_reset(&a);
        sync_pgarray_add_str(&a, texts[i]);
        assert_reads_back(sync_pgarray_finish(&a), &texts[i], 1);
    }
    sync_pgarray_dispose(&a);
}

static void utf8_passes_through_unchanged(void **state)
{
    const char *texts[] = {"\xc3\xa9t\xc3\xa9",            /* été */
                           "\xe6\x97\xa5\xe6\x9c\xac",     /* 日本 */
                           "\xf0\x9f\x98\x80",             /* U+1F600 */
                           "\xef\xbf\xbf\xf4\x8f\xbf\xbf", /* U+FFFF U+10FFFF */
                           "j\xc3\xb6rg\"\\@example.com"};
    sync_pgarray_t a;
    sync_pgarray_init(&a);
    for (size_t i = 0; i != 5; ++i)
        sync_pgarray_add_str(&a, texts[i]);
    assert_string_equal(sync_pgarray_finish(&a), "{\"\xc3\xa9t\xc3\xa9\",\"\xe6\x97\xa5\xe6\x9c\xac\",\"\xf0\x9f\x98\x80\","
                                                 "\"\xef\xbf\xbf\xf4\x8f\xbf\xbf\",\"j\xc3\xb6rg\\\"\\\\@example.com\"}");
    assert_reads_back(sync_pgarray_finish(&a), texts, 5);
    sync_pgarray_dispose(&a);
}

static void add_text_takes_len_bytes(void **state)
{
    sync_pgarray_t a;
    sync_pgarray_init(&a);
    sync_pgarray_add_text(&a, "abcdef", 3);
    sync_pgarray_add_text(&a, "\"\\xyz", 2);
    assert_string_equal(sync_pgarray_finish(&a), "{\"abc\",\"\\\"\\\\\"}");
    sync_pgarray_dispose(&a);
}

static void integers_are_bare_decimal(void **state)
{
    sync_pgarray_t a;
    sync_pgarray_init(&a);
    sync_pgarray_add_int(&a, 0);
    sync_pgarray_add_int(&a, 1);
    sync_pgarray_add_int(&a, -1);
    sync_pgarray_add_int(&a, INT_MAX);
    sync_pgarray_add_int(&a, 253402300799000LL);
    sync_pgarray_add_int(&a, LLONG_MAX);
    sync_pgarray_add_int(&a, LLONG_MIN);
    assert_string_equal(sync_pgarray_finish(&a), "{0,1,-1,2147483647,253402300799000,9223372036854775807,-9223372036854775808}");
    assert_int_equal(a.count, 7);
    sync_pgarray_dispose(&a);
}

static void integers_and_nulls_mix(void **state)
{
    sync_pgarray_t a;
    sync_pgarray_init(&a);
    sync_pgarray_add_int(&a, 7);
    sync_pgarray_add_text(&a, NULL, 0);
    sync_pgarray_add_int(&a, -7);
    assert_string_equal(sync_pgarray_finish(&a), "{7,NULL,-7}");
    sync_pgarray_dispose(&a);
}

static void reset_empties_and_keeps_the_buffer(void **state)
{
    sync_pgarray_t a;
    sync_pgarray_init(&a);
    for (int i = 0; i != 1000; ++i)
        sync_pgarray_add_str(&a, "A7F3E9D2B4C5HJKM");
    sync_pgarray_finish(&a);
    char *buf = a.buf;
    size_t cap = a.cap;
    assert_non_null(buf);

    sync_pgarray_reset(&a);
    assert_int_equal(a.count, 0);
    assert_string_equal(sync_pgarray_finish(&a), "{}");
    sync_pgarray_add_str(&a, "next batch");
    sync_pgarray_add_int(&a, 42);
    assert_string_equal(sync_pgarray_finish(&a), "{\"next batch\",42}");
    assert_int_equal(a.count, 2);
    assert_ptr_equal(a.buf, buf);
    assert_int_equal(a.cap, cap);
    sync_pgarray_dispose(&a);
}

/* The header allows changes after finish; the next finish covers them all. */
static void elements_added_after_finish_are_kept(void **state)
{
    sync_pgarray_t a;
    sync_pgarray_init(&a);
    assert_string_equal(sync_pgarray_finish(&a), "{}");
    sync_pgarray_add_str(&a, "a");
    assert_string_equal(sync_pgarray_finish(&a), "{\"a\"}");
    sync_pgarray_add_str(&a, "b");
    sync_pgarray_add_str(&a, NULL);
    assert_string_equal(sync_pgarray_finish(&a), "{\"a\",\"b\",NULL}");
    sync_pgarray_add_int(&a, 5);
    assert_string_equal(sync_pgarray_finish(&a), "{\"a\",\"b\",NULL,5}");
    sync_pgarray_dispose(&a);
}

static void dispose_returns_to_an_empty_array(void **state)
{
    sync_pgarray_t a;
    sync_pgarray_init(&a);
    sync_pgarray_dispose(&a); /* nothing allocated yet */
    sync_pgarray_add_str(&a, "x");
    sync_pgarray_dispose(&a);
    assert_null(a.buf);
    assert_int_equal(a.len, 0);
    assert_int_equal(a.cap, 0);
    assert_int_equal(a.count, 0);
    sync_pgarray_add_str(&a, "y");
    assert_string_equal(sync_pgarray_finish(&a), "{\"y\"}");
    sync_pgarray_dispose(&a);
    sync_pgarray_dispose(&a);
}

/* Elements that need every byte escaped, around and far past the first allocation. */
static void worst_case_elements_fit(void **state)
{
    static char quotes[20001];
    static const char *want[1];
    sync_pgarray_t a;
    sync_pgarray_init(&a);
    for (size_t n = 4070; n != 4110; ++n) {
        memset(quotes, '"', n);
        quotes[n] = '\0';
        sync_pgarray_reset(&a);
        sync_pgarray_add_str(&a, quotes);
        const char *lit = sync_pgarray_finish(&a);
        assert_int_equal(strlen(lit), 2 * n + 4);
        want[0] = quotes;
        assert_reads_back(lit, want, 1);
    }
    sync_pgarray_dispose(&a);

    memset(quotes, '\\', sizeof(quotes) - 1);
    quotes[sizeof(quotes) - 1] = '\0';
    sync_pgarray_init(&a);
    sync_pgarray_add_str(&a, quotes);
    want[0] = quotes;
    assert_reads_back(sync_pgarray_finish(&a), want, 1);
    sync_pgarray_dispose(&a);
}

/* Long integers and NULLs ending at every offset around the buffer's growth points. */
static void elements_across_buffer_boundaries(void **state)
{
    static const char *want_tail = ",-9223372036854775808,NULL,9223372036854775807";
    for (size_t shift = 0; shift != 24; ++shift) {
        sync_pgarray_t a;
        char text[24];
        memset(text, 'x', shift);
        text[shift] = '\0';
        sync_pgarray_init(&a);
        sync_pgarray_add_str(&a, text);
        size_t want_len = shift + 4; /* {"x...x"} */
        for (int i = 0; i != 500; ++i) {
            sync_pgarray_add_int(&a, LLONG_MIN);
            sync_pgarray_add_text(&a, NULL, 0);
            sync_pgarray_add_int(&a, LLONG_MAX);
            want_len += strlen(want_tail);
            const char *lit = sync_pgarray_finish(&a);
            assert_int_equal(strlen(lit), want_len);
            assert_string_equal(lit + want_len - strlen(want_tail) - 1, ",-9223372036854775808,NULL,9223372036854775807}");
        }
        sync_pgarray_dispose(&a);
    }
}

/* Runs of NULLs, which take no room for escapes, ending at every offset too. */
static void nulls_across_buffer_boundaries(void **state)
{
    for (size_t shift = 0; shift != 10; ++shift) {
        sync_pgarray_t a;
        char text[16];
        memset(text, 'x', shift);
        text[shift] = '\0';
        sync_pgarray_init(&a);
        sync_pgarray_add_str(&a, text);
        size_t want_len = shift + 4;
        for (int i = 0; i != 2000; ++i) {
            sync_pgarray_add_str(&a, NULL);
            want_len += strlen(",NULL");
            const char *lit = sync_pgarray_finish(&a);
            assert_int_equal(strlen(lit), want_len);
            assert_string_equal(lit + want_len - 6, ",NULL}");
        }
        sync_pgarray_dispose(&a);
    }
}

/* Random non-NUL bytes and NULLs read back exactly, however many and however long. */
static void random_elements_read_back(void **state)
{
    static char storage[MAX_ELEMENTS][40];
    static const char *want[MAX_ELEMENTS];
    const char pick[] = "\"\\{},NUL \t\nab\xc3\xa9";
    unsigned seed = 12345;
    sync_pgarray_t a;
    sync_pgarray_init(&a);
    for (int round = 0; round != 20; ++round) {
        size_t n = (size_t)(rand_r(&seed) % MAX_ELEMENTS);
        sync_pgarray_reset(&a);
        for (size_t i = 0; i != n; ++i) {
            if (rand_r(&seed) % 10 == 0) {
                want[i] = NULL;
                sync_pgarray_add_str(&a, NULL);
                continue;
            }
            size_t len = (size_t)(rand_r(&seed) % 39);
            for (size_t j = 0; j != len; ++j)
                storage[i][j] = rand_r(&seed) % 4 == 0 ? (char)(1 + rand_r(&seed) % 255) : pick[rand_r(&seed) % (sizeof(pick) - 1)];
            storage[i][len] = '\0';
            want[i] = storage[i];
            sync_pgarray_add_text(&a, storage[i], len);
        }
        assert_int_equal(a.count, n);
        assert_reads_back(sync_pgarray_finish(&a), want, n);
    }
    sync_pgarray_dispose(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(empty_array_is_braces),
        cmocka_unit_test(text_elements_are_always_quoted),
        cmocka_unit_test(sql_null_is_the_bare_word),
        cmocka_unit_test(the_word_null_stays_text),
        cmocka_unit_test(empty_text_is_not_null),
        cmocka_unit_test(quotes_and_backslashes_are_escaped),
        cmocka_unit_test(shape_characters_stay_inside_one_element),
        cmocka_unit_test(utf8_passes_through_unchanged),
        cmocka_unit_test(add_text_takes_len_bytes),
        cmocka_unit_test(integers_are_bare_decimal),
        cmocka_unit_test(integers_and_nulls_mix),
        cmocka_unit_test(reset_empties_and_keeps_the_buffer),
        cmocka_unit_test(elements_added_after_finish_are_kept),
        cmocka_unit_test(dispose_returns_to_an_empty_array),
        cmocka_unit_test(worst_case_elements_fit),
        cmocka_unit_test(elements_across_buffer_boundaries),
        cmocka_unit_test(nulls_across_buffer_boundaries),
        cmocka_unit_test(random_elements_read_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
