/* Message helpers and small I/O utilities of the harness (bench.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench.h"

static void vmessage(const char *lead, const char *fmt, va_list args)
{
    fputs(lead, stderr);
    vfprintf(stderr, fmt, args);
    fputc('\n', stderr);
}

void bench_error(const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    vmessage("invitegate-bench: error: ", fmt, args);
    va_end(args);
}

void bench_warn(const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    vmessage("invitegate-bench: warning: ", fmt, args);
    va_end(args);
}

void bench_say(const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    vmessage("==> ", fmt, args);
    va_end(args);
}

char *bench_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long size;

    if (f == NULL) {
        bench_error("cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        bench_error("cannot size %s: %s", path, strerror(errno));
        goto Exit;
    }
    if ((buf = malloc((size_t)size + 1)) == NULL) {
        bench_error("out of memory reading %s", path);
        goto Exit;
    }
    if (fread(buf, 1, (size_t)size, f) != (size_t)size) {
        bench_error("cannot read %s", path);
        free(buf);
        buf = NULL;
        goto Exit;
    }
    buf[size] = '\0';
    if (len != NULL)
        *len = (size_t)size;
Exit:
    fclose(f);
    return buf;
}

int bench_write_counter(const char *dir, const char *name, uint64_t value)
{
    char path[1024], tmp[1040];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    if ((f = fopen(tmp, "w")) == NULL) {
        bench_error("cannot write %s: %s", tmp, strerror(errno));
        return -1;
    }
    fprintf(f, "%" PRIu64 "\n", value);
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        bench_error("cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}
