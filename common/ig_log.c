#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sodium.h>
#include "ig_log.h"

static unsigned char log_key[crypto_generichash_KEYBYTES];
static ig_log_level_t log_min_level = IG_LOG_INFO;

void ig_log_init(const unsigned char key[32], ig_log_level_t min_level)
{
    memcpy(log_key, key, sizeof(log_key));
    log_min_level = min_level;
}

void ig_log(ig_log_level_t level, const char *fmt, ...)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    char line[1024];
    struct timespec ts;
    struct tm tm;
    int n;
    va_list args;

    if (level < log_min_level)
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = snprintf(line, sizeof(line), "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s ", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, names[level]);
    va_start(args, fmt);
    n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, args);
    va_end(args);
    if (n > (int)sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    /* One write per line keeps lines from different threads whole. */
    fwrite(line, 1, (size_t)n, stderr);
}

void ig_log_redact(char out[IG_LOG_REDACT_BYTES], const char *s, size_t len)
{
    unsigned char h[6];
    crypto_generichash(h, sizeof(h), (const unsigned char *)s, len, log_key, sizeof(log_key));
    sodium_bin2hex(out, IG_LOG_REDACT_BYTES, h, sizeof(h));
}
