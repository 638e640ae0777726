/* E-mail validation and normalisation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "ig_email.h"

static void check(const char *in, const char *expected)
{
    char out[IG_EMAIL_MAX_BYTES + 1];
    int n = ig_email_normalise(out, in, strlen(in));
    if (expected == NULL) {
        if (n != -1)
            fail_msg("accepted \"%s\" as \"%s\"", in, out);
        return;
    }
    if (n < 0)
        fail_msg("refused \"%s\"", in);
    assert_string_equal(out, expected);
    assert_int_equal(n, strlen(expected));
}

static void case_is_folded(void **state)
{
    check("User@Example.COM", "user@example.com");
    check("a@b.co", "a@b.co");
}

static void gmail_ignores_dots_and_plus_tags(void **state)
{
    check("John.Doe+launch@gmail.com", "johndoe@gmail.com");
    check("j.o.h.n@GMAIL.com", "john@gmail.com");
    check("john.doe@googlemail.com", "johndoe@gmail.com");
}

static void plus_tags_dropped_where_providers_ignore_them(void **state)
{
    check("jane+news@outlook.com", "jane@outlook.com");
    check("jane.doe+x@icloud.com", "jane.doe@icloud.com");
}

/* The normal form is itself a valid address that normalises to itself (the sync daemon refuses any other). */
static void a_tag_cut_after_a_dot_is_refused(void **state)
{
    check("mail.+shop@outlook.com", NULL);
    check("a.+%40@proton.me", NULL);
    check("jane.+@yahoo.com", NULL);
    check("john.+x@gmail.com", "john@gmail.com");
    check("jane.doe+x.y@icloud.com", "jane.doe@icloud.com");
    check("jane.+x@example.org", "jane.+x@example.org");
}

static void other_providers_keep_dots_and_tags(void **state)
{
    check("first.last+tag@example.org", "first.last+tag@example.org");
    check("o'brien@corp.example.com", "o'brien@corp.example.com");
}

static void invalid_addresses_are_refused(void **state)
{
    const char *bad[] = {"",
                         "plain",
                         "@example.com",
                         "user@",
                         "user@localhost",
                         "user@example",
                         "user@example.c1",
                         "user@@example.com",
                         ".user@example.com",
                         "user.@example.com",
                         "us..er@example.com",
                         "user name@example.com",
                         "user@exa mple.com",
                         "user@-example.com",
                         "user@example-.com",
                         "user@example..com",
                         "\"quoted\"@example.com",
                         "user@example.com\n",
                         "us\xc3\xa9r@example.com"};
    for (size_t i = 0; i != sizeof(bad) / sizeof(bad[0]); ++i)
        check(bad[i], NULL);
}

static void length_limits(void **state)
{
    char local[80], addr[400];
    memset(local, 'a', 64);
    local[64] = '\0';
    snprintf(addr, sizeof(addr), "%s@example.com", local);
    check(addr, addr);
    memset(local, 'a', 65);
    local[65] = '\0';
    snprintf(addr, sizeof(addr), "%s@example.com", local);
    check(addr, NULL);
    memset(addr, 'a', 300);
    memcpy(addr + 290, "@example.com", 13);
    check(addr, NULL);
    /* An embedded NUL never passes. */
    char out[IG_EMAIL_MAX_BYTES + 1];
    assert_int_equal(ig_email_normalise(out, "a@b.com\0x", 9), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(case_is_folded),
        cmocka_unit_test(gmail_ignores_dots_and_plus_tags),
        cmocka_unit_test(plus_tags_dropped_where_providers_ignore_them),
        cmocka_unit_test(a_tag_cut_after_a_dot_is_refused),
        cmocka_unit_test(other_providers_keep_dots_and_tags),
        cmocka_unit_test(invalid_addresses_are_refused),
        cmocka_unit_test(length_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
