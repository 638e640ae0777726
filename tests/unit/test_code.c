/* Invite codes: generation, keyed check, normalisation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>
#include "ig_code.h"
#include "ig_keys.h"

static unsigned char key[IG_CODE_KEY_BYTES], other_key[IG_CODE_KEY_BYTES];

static int setup(void **state)
{
    if (sodium_init() < 0)
        return -1;
    randombytes_buf(key, sizeof(key));
    randombytes_buf(other_key, sizeof(other_key));
    return 0;
}

static void generated_codes_use_the_alphabet_and_verify(void **state)
{
    char code[IG_CODE_BODY_LEN + 1];
    for (int i = 0; i != 10000; ++i) {
        ig_code_generate(code, key);
        assert_int_equal(strlen(code), IG_CODE_BODY_LEN);
        for (int j = 0; j != IG_CODE_BODY_LEN; ++j) {
            assert_true(ig_code_char_value(code[j]) >= 0);
            assert_null(strchr("01IL", code[j]));
        }
        assert_int_equal(ig_code_verify(code, key), 0);
    }
}

static void alphabet_is_32_distinct_characters(void **state)
{
    const char *a = IG_CODE_ALPHABET;
    assert_int_equal(strlen(a), 32);
    for (int i = 0; i != 32; ++i)
        assert_int_equal(ig_code_char_value(a[i]), i);
    assert_int_equal(ig_code_char_value('0'), -1);
    assert_int_equal(ig_code_char_value('1'), -1);
    assert_int_equal(ig_code_char_value('I'), -1);
    assert_int_equal(ig_code_char_value('L'), -1);
    assert_int_equal(ig_code_char_value('\0'), -1);
}

/* Every single-character change of a code must fail the check most of the time;
 * with 15 check bits, a mistype passes with probability 2^-15. */
static void mistyped_codes_fail_the_check(void **state)
{
    char code[IG_CODE_BODY_LEN + 1];
    int passed = 0;
    for (int n = 0; n != 200; ++n) {
        ig_code_generate(code, key);
        assert_int_equal(ig_code_verify(code, key), 0);
        for (int pos = 0; pos != IG_CODE_BODY_LEN; ++pos) {
            char saved = code[pos];
            code[pos] = IG_CODE_ALPHABET[(ig_code_char_value(saved) + 1 + n % 31) % 32];
            /* A real mistype: another character of the alphabet in that place. */
            assert_int_not_equal(code[pos], saved);
            assert_true(ig_code_char_value(code[pos]) >= 0);
            passed += ig_code_verify(code, key) == 0;
            code[pos] = saved;
        }
        /* Putting the character back gives the valid code again. */
        assert_int_equal(ig_code_verify(code, key), 0);
    }
    /* 3,200 mistypes; at 2^-15 each, more than two passing would be a broken check. */
    assert_true(passed <= 2);
}

static void codes_do_not_verify_under_another_key(void **state)
{
    char code[IG_CODE_BODY_LEN + 1];
    int passed = 0;
    for (int i = 0; i != 1000; ++i) {
        ig_code_generate(code, key);
        passed += ig_code_verify(code, other_key) == 0;
    }
    assert_true(passed <= 2);
}

static void normalise_accepts_case_dashes_spaces_and_prefix(void **state)
{
    char out[IG_CODE_BODY_LEN + 1];
    const char *inputs[] = {"VOBEE-A7F3E9D2B4C5HJKM", "vobee-a7f3e9d2b4c5hjkm",      "A7F3E9D2B4C5HJKM",
                            "a7f3-e9d2-b4c5-hjkm",    " VOBEE A7F3 E9D2 B4C5 HJKM ", "vobeeA7F3E9D2B4C5HJKM"};
    for (size_t i = 0; i != sizeof(inputs) / sizeof(inputs[0]); ++i) {
        assert_int_equal(ig_code_normalise(out, inputs[i], strlen(inputs[i]), "VOBEE-"), 0);
        assert_string_equal(out, "A7F3E9D2B4C5HJKM");
    }
}

static void normalise_rejects_bad_input(void **state)
{
    char out[IG_CODE_BODY_LEN + 1];
    const char *inputs[] = {"",
                            "A7F3E9D2B4C5HJK",         /* 15 characters */
                            "A7F3E9D2B4C5HJKMN",       /* 17 characters */
                            "A7F3E9D2B4C5HJK0",        /* 0 is not in the alphabet */
                            "A7F3E9D2B4C5HJKI",        /* neither is I */
                            "OTHER-A7F3E9D2B4C5HJKM",  /* another prefix */
                            "A7F3E9D2B4C5HJK\xc3\xa9", /* UTF-8 */
                            "A7F3E9D2B4C5HJK/",        /* punctuation */
                            "----------------------------------------------------------------------A7F3E9D2B4C5HJKM"};
    for (size_t i = 0; i != sizeof(inputs) / sizeof(inputs[0]); ++i)
        assert_int_equal(ig_code_normalise(out, inputs[i], strlen(inputs[i]), "VOBEE-"), -1);
    /* An embedded NUL is not skipped over. */
    assert_int_equal(ig_code_normalise(out, "A7F3E9D2\0B4C5HJKM", 17, "VOBEE-"), -1);
}

static void normalise_accepts_imported_codes(void **state)
{
    char out[IG_CODE_BODY_LEN + 1];
    const char *inputs[] = {"VOBEE-A7F3E9D2B1C4", "vobee-a7f3e9d2b1c4", "A7F3E9D2B1C4", "a7f3-e9d2-b1c4", " VOBEE A7F3E9D2B1C4 "};
    for (size_t i = 0; i != sizeof(inputs) / sizeof(inputs[0]); ++i) {
        assert_int_equal(ig_code_normalise(out, inputs[i], strlen(inputs[i]), "VOBEE-"), IG_CODE_IMPORTED);
        assert_string_equal(out, "A7F3E9D2B1C4");
        assert_int_equal(ig_code_form(out, strlen(out)), IG_CODE_IMPORTED);
    }
    /* All digits, 0 and 1 included (not in the alphabet of issued codes). */
    assert_int_equal(ig_code_normalise(out, "VOBEE-010101010101", 18, "VOBEE-"), IG_CODE_IMPORTED);
    assert_string_equal(out, "010101010101");
    /* An issued code is still the issued form. */
    assert_int_equal(ig_code_normalise(out, "VOBEE-A7F3E9D2B4C5HJKM", 22, "VOBEE-"), IG_CODE_ISSUED);
    assert_int_equal(ig_code_form(out, strlen(out)), IG_CODE_ISSUED);
}

/*
 * A prefix of four characters and an imported body are 16 characters: often
 * all of the alphabet (no 0 or 1 among the hex digits), so they read as an
 * issued body. Without a valid check they are the imported code.
 */
static void read_tells_a_four_character_prefix_from_an_issued_body(void **state)
{
    unsigned char key[IG_CODE_KEY_BYTES], secret[32] = {7};
    char out[IG_CODE_BODY_LEN + 1], issued[IG_CODE_BODY_LEN + 1], shown[40];

    ig_code_key_derive(key, secret);
    assert_int_equal(ig_code_normalise(out, "DROP-A7F3E9D2B4C5", 17, "DROP-"), IG_CODE_ISSUED);
    assert_int_equal(ig_code_read(out, "DROP-A7F3E9D2B4C5", 17, "DROP-", key), IG_CODE_IMPORTED);
    assert_string_equal(out, "A7F3E9D2B4C5");
    assert_int_equal(ig_code_read(out, "drop a7f3-e9d2-b4c5", 19, "DROP-", key), IG_CODE_IMPORTED);
    assert_string_equal(out, "A7F3E9D2B4C5");
    assert_int_equal(ig_code_read(out, "A7F3E9D2B4C5", 12, "DROP-", key), IG_CODE_IMPORTED);
    /* Another prefix: an issued body with a wrong check, refused. */
    assert_int_equal(ig_code_read(out, "DROP-A7F3E9D2B4C5", 17, "VOBEE-", key), IG_CODE_INVALID);
    /* Issued codes, with or without the prefix, stay issued, whatever they start with. */
    for (int i = 0; i != 1000; ++i) {
        ig_code_generate(issued, key);
        memcpy(issued, "DROP", 4);
        if (ig_code_verify(issued, key) != 0)
            ig_code_generate(issued, key);
        snprintf(shown, sizeof(shown), "DROP-%s", issued);
        assert_int_equal(ig_code_read(out, shown, strlen(shown), "DROP-", key), IG_CODE_ISSUED);
        assert_string_equal(out, issued);
        assert_int_equal(ig_code_read(out, issued, IG_CODE_BODY_LEN, "DROP-", key), IG_CODE_ISSUED);
        assert_string_equal(out, issued);
    }
}

static void normalise_rejects_bad_imported_codes(void **state)
{
    char out[IG_CODE_BODY_LEN + 1];
    const char *inputs[] = {"VOBEE-A7F3E9D2B1C",   /* 11 hex digits */
                            "VOBEE-A7F3E9D2B1C45", /* 13 hex digits */
                            "VOBEE-A7F3E9D2B1CG",  /* G is not hex */
                            "VOBEE-A7F3E9D2B1C/",  /* punctuation */
                            "OTHER-A7F3E9D2B1C4",  /* another prefix */
                            "A7F3E9D2B1C45678"};   /* 16 characters with a 1: neither form */
    for (size_t i = 0; i != sizeof(inputs) / sizeof(inputs[0]); ++i)
        assert_int_equal(ig_code_normalise(out, inputs[i], strlen(inputs[i]), "VOBEE-"), IG_CODE_INVALID);
    assert_int_equal(ig_code_form("A7F3E9D2B1C", 11), IG_CODE_INVALID);
    assert_int_equal(ig_code_form("a7f3e9d2b1c4", 12), IG_CODE_INVALID); /* a body is upper case */
}

static void imported_codes_have_their_own_fields(void **state)
{
    ig_code_keys_t k;
    ig_code_keys(&k, "F7F3E9D2B1C4", IG_BUCKETS_DEFAULT);
    assert_int_equal(k.bucket, 15);
    assert_string_equal(k.hash, "ig:{15}:c:239"); /* 0x7 * 32 + 0xF */
    assert_string_equal(k.field, "3E9D2B1C4");
    ig_code_keys(&k, "F7F3E9D2B1C4", 256);
    assert_int_equal(k.bucket, 127); /* 0xF + 16 * 0x7 */
    assert_string_equal(k.hash, "ig:{127}:c:239");
    ig_code_keys(&k, "A7F3E9D2B4C5HJKM", IG_BUCKETS_DEFAULT);
    assert_string_equal(k.field, "3E9D2B4C5HJKM");
}

static const unsigned bucket_counts[] = {16, 32, 64, 128, 256};

static void bucket_counts_are_powers_of_two_from_16_to_256(void **state)
{
    for (size_t i = 0; i != sizeof(bucket_counts) / sizeof(bucket_counts[0]); ++i)
        assert_true(ig_buckets_valid(bucket_counts[i]));
    assert_false(ig_buckets_valid(0));
    assert_false(ig_buckets_valid(1));
    assert_false(ig_buckets_valid(8));
    assert_false(ig_buckets_valid(3));
    assert_false(ig_buckets_valid(48));
    assert_false(ig_buckets_valid(512));
}

/* Up to 32 buckets (16 for imported codes) a code's bucket is its first character's value: the layout before the count was chosen.
 */
static void small_counts_keep_the_first_character_mapping(void **state)
{
    char code[IG_CODE_BODY_LEN + 1];
    static const char *const imported[] = {"F7F3E9D2B1C4", "0123456789AB", "A7F3E9D2B4C5"};
    for (int i = 0; i != 2000; ++i) {
        ig_code_generate(code, key);
        for (unsigned b = 1; b <= 32; b *= 2)
            assert_int_equal(ig_code_bucket(code, b), (unsigned)ig_code_char_value(code[0]) % b);
    }
    for (size_t i = 0; i != sizeof(imported) / sizeof(imported[0]); ++i)
        for (unsigned b = 1; b <= 16; b *= 2)
            assert_int_equal(ig_code_bucket(imported[i], b), (unsigned)ig_code_digit(IG_CODE_IMPORTED, imported[i][0]) % b);
}

static void buckets_spread_evenly(void **state)
{
    char code[IG_CODE_BODY_LEN + 1];
    for (size_t c = 0; c != sizeof(bucket_counts) / sizeof(bucket_counts[0]); ++c) {
        unsigned buckets = bucket_counts[c], counts[IG_BUCKETS_MAX] = {0}, expect = 32000 / buckets;
        for (int i = 0; i != 32000; ++i) {
            ig_code_generate(code, key);
            unsigned b = ig_code_bucket(code, buckets);
            assert_true(b < buckets);
            assert_true(ig_code_subhash(code) < IG_SUBHASHES);
            ++counts[b];
        }
        /* Within 40 % of the mean: over four standard deviations at 256 buckets (125 each). */
        for (unsigned b = 0; b != buckets; ++b)
            assert_in_range(counts[b], expect * 6 / 10, expect * 14 / 10);
    }
}

static void codes_made_for_a_bucket_live_there(void **state)
{
    char code[IG_CODE_BODY_LEN + 1];
    for (size_t c = 0; c != sizeof(bucket_counts) / sizeof(bucket_counts[0]); ++c) {
        unsigned buckets = bucket_counts[c];
        for (unsigned b = 0; b < buckets; b += buckets / 8 - 1) {
            for (int i = 0; i != 50; ++i) {
                ig_code_generate_in(code, key, b, buckets);
                assert_int_equal(ig_code_bucket(code, buckets), b);
                assert_int_equal(ig_code_form(code, strlen(code)), IG_CODE_ISSUED);
                assert_int_equal(ig_code_verify(code, key), 0);
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(generated_codes_use_the_alphabet_and_verify),
        cmocka_unit_test(alphabet_is_32_distinct_characters),
        cmocka_unit_test(mistyped_codes_fail_the_check),
        cmocka_unit_test(codes_do_not_verify_under_another_key),
        cmocka_unit_test(normalise_accepts_case_dashes_spaces_and_prefix),
        cmocka_unit_test(normalise_rejects_bad_input),
        cmocka_unit_test(normalise_accepts_imported_codes),
        cmocka_unit_test(read_tells_a_four_character_prefix_from_an_issued_body),
        cmocka_unit_test(normalise_rejects_bad_imported_codes),
        cmocka_unit_test(imported_codes_have_their_own_fields),
        cmocka_unit_test(bucket_counts_are_powers_of_two_from_16_to_256),
        cmocka_unit_test(small_counts_keep_the_first_character_mapping),
        cmocka_unit_test(buckets_spread_evenly),
        cmocka_unit_test(codes_made_for_a_bucket_live_there),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
