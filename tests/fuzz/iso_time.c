/*
 * Fuzz target: gw_parse_iso_time, the ISO 8601 form of the "at" of a user
 * event (POST /api/users/{email}/events).
 *
 * Checks it against a reference built on the C library: the input is
 * accepted exactly when it has the documented shape
 * (YYYY-MM-DDTHH:MM:SS, then Z or a '.', 1 to 9 digits and Z), names a
 * calendar date and time that timegm() gives back unchanged, and lies from
 * GW_TIME_MIN_MS to GW_TIME_MAX_MS; an accepted time is then timegm()'s
 * seconds and the first three digits of the fraction.
 */
#include <ctype.h>
#include <time.h>
#include "fuzz.h"
#include "parse.h"

/* The longest time of the form: 19 characters, a '.', 9 digits and the Z. */
#define LONGEST 30

/* The reference: 0 and the milliseconds in *ms when s is a time of the documented form, else -1. */
static int reference(long long *ms, const char *s, size_t len)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd";
    char copy[LONGEST + 1], millis[4] = "000"; /* the first three digits of the fraction, padded */
    struct tm tm = {0};

    if (len < 20 || len > LONGEST || s[len - 1] != 'Z')
        return -1;
    for (size_t i = 0; i != 19; ++i)
        if (shape[i] == 'd' ? !isdigit((unsigned char)s[i]) : s[i] != shape[i])
            return -1;
    /* Then the Z, or a '.', 1 to 9 digits and the Z. */
    if (len != 20 && (s[19] != '.' || len == 21))
        return -1;
    for (size_t i = 20; i < len - 1; ++i)
        if (!isdigit((unsigned char)s[i]))
            return -1;
    memcpy(copy, s, len);
    copy[len] = '\0';
    if (sscanf(copy, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
        return -1;
    size_t fraction = len > 21 ? len - 21 : 0;
    memcpy(millis, copy + 20, fraction < 3 ? fraction : 3);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    struct tm want = tm;
    time_t t = timegm(&tm);
    /* timegm() normalises out-of-range fields (31 April becomes 1 May): a real date comes back as given. */
    if (tm.tm_year != want.tm_year || tm.tm_mon != want.tm_mon || tm.tm_mday != want.tm_mday || tm.tm_hour != want.tm_hour ||
        tm.tm_min != want.tm_min || tm.tm_sec != want.tm_sec)
        return -1;
    long long v = (long long)t * 1000 + atoi(millis);
    if (v < GW_TIME_MIN_MS || v > GW_TIME_MAX_MS)
        return -1;
    *ms = v;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    long long got = -7, want = -7;
    int ret = gw_parse_iso_time(&got, s, size);

    FUZZ_CHECK(ret == reference(&want, s, size));
    FUZZ_CHECK(got == want);
    return 0;
}
