/*
 * Structured logging: one line per event on stderr (the journal), as
 * `level=... msg="..." key=value ...`. E-mail addresses and codes never appear
 * in clear: log ig_log_redact() of them.
 */
#ifndef IG_LOG_H
#define IG_LOG_H

#include <stddef.h>

#define IG_LOG_REDACT_BYTES 13

typedef enum { IG_LOG_DEBUG, IG_LOG_INFO, IG_LOG_WARN, IG_LOG_ERROR } ig_log_level_t;

/** Sets the key used by ig_log_redact (copied) and the minimum level. */
void ig_log_init(const unsigned char key[32], ig_log_level_t min_level);

/** Writes one line: the level, then the printf-formatted key=value text. */
void ig_log(ig_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Writes to out a 12-hex-digit keyed hash of s: stable, not reversible. */
void ig_log_redact(char out[IG_LOG_REDACT_BYTES], const char *s, size_t len);

#define ig_info(...) ig_log(IG_LOG_INFO, __VA_ARGS__)
#define ig_warn(...) ig_log(IG_LOG_WARN, __VA_ARGS__)
#define ig_error(...) ig_log(IG_LOG_ERROR, __VA_ARGS__)

#endif
