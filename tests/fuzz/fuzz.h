/*
 * What the fuzz targets of tests/fuzz share. Each target defines
 * LLVMFuzzerTestOneInput (and may define LLVMFuzzerInitialize); it is linked
 * with libFuzzer by an IG_FUZZ=ON build (scripts/fuzz), and with driver.c in
 * every build, which runs the target's seed corpus through it as a unit test.
 *
 * Beyond what the sanitizers catch, a target checks properties of what the
 * code under test returns (FUZZ_CHECK): a failed check aborts, which
 * libFuzzer reports as a crash and keeps the input.
 */
#ifndef IG_FUZZ_H
#define IG_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "ig_code.h"
#include "ig_email.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Aborts with the file, line and condition when cond is false; NDEBUG does not remove it. */
#define FUZZ_CHECK(cond)                                                                                                           \
    do {                                                                                                                           \
        if (!(cond)) {                                                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                                               \
            abort();                                                                                                               \
        }                                                                                                                          \
    } while (0)

/*
 * Checks that s[0..len) is an e-mail address in normal form, as every
 * producer of an event must write it: NUL-terminated at len, and given back
 * unchanged by ig_email_normalise (the sync daemon refuses anything else).
 */
static inline void fuzz_check_normal_email(const char *s, size_t len)
{
    char again[IG_EMAIL_MAX_BYTES + 1];
    FUZZ_CHECK(len > 0 && len <= IG_EMAIL_MAX_BYTES && strlen(s) == len);
    FUZZ_CHECK(ig_email_normalise(again, s, len) == (int)len);
    FUZZ_CHECK(memcmp(again, s, len) == 0);
}

/* Initialises libsodium and fills key with the check key of the codes in the seed corpora: bytes 0, 1, ..., 31. */
static inline void fuzz_code_key(unsigned char key[IG_CODE_KEY_BYTES])
{
    if (sodium_init() < 0)
        abort();
    for (size_t i = 0; i != IG_CODE_KEY_BYTES; ++i)
        key[i] = (unsigned char)i;
}

/*
 * Cuts data[0..size) at each '\n' into at most max lines (the last takes
 * the rest), lines[i] of lens[i] bytes without the newline. Returns their
 * number, at least 1 (an empty input is one empty line).
 */
static inline size_t fuzz_lines(const char **lines, size_t *lens, size_t max, const uint8_t *data, size_t size)
{
    const char *p = (const char *)data, *end = p + size;
    size_t n = 0;
    for (;;) {
        const char *nl = n + 1 != max ? memchr(p, '\n', (size_t)(end - p)) : NULL;
        lines[n] = p;
        lens[n++] = (size_t)((nl != NULL ? nl : end) - p);
        if (nl == NULL)
            return n;
        p = nl + 1;
    }
}

#endif
