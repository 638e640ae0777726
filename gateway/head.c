#include <string.h>
#include <strings.h>
#include "head.h"

const char gw_head_unreadable[] = "the request head could not be read";

/* Whether name[0..len) is the header name lit, ignoring case. */
static int name_is(const char *name, size_t len, const char *lit)
{
    return len == strlen(lit) && strncasecmp(name, lit, len) == 0;
}

/*
 * A Content-Length value, without the blanks around it, as its significant
 * digits ("0" for zero) in *digits[0..*n), so that equal values compare
 * equal as bytes whatever their length. Returns 0, or -1 when the value is
 * not one decimal number (a list such as "5, 5" included).
 */
static int decimal(const char **digits, size_t *n, const char *v, size_t len)
{
    while (len != 0 && (*v == ' ' || *v == '\t'))
        ++v, --len;
    while (len != 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
        --len;
    if (len == 0)
        return -1;
    for (size_t i = 0; i != len; ++i)
        if (v[i] < '0' || v[i] > '9')
            return -1;
    while (len > 1 && *v == '0')
        ++v, --len;
    *digits = v;
    *n = len;
    return 0;
}

const char *gw_head_check(const char *buf, size_t len, const char *method, size_t method_len, int host_required)
{
    const char *p = buf, *end = buf + len, *eol, *length = NULL;
    size_t length_len = 0, hosts = 0;
    int chunked = 0;

    if (end - p >= 2 && p[0] == '\r' && p[1] == '\n')
        p += 2;
    else if (p != end && p[0] == '\n')
        ++p;
    if ((size_t)(end - p) <= method_len || memcmp(p, method, method_len) != 0 || p[method_len] != ' ')
        return gw_head_unreadable;
    if ((eol = memchr(p, '\n', (size_t)(end - p))) == NULL)
        return gw_head_unreadable;
    for (p = eol + 1;; p = eol + 1) {
        if ((eol = memchr(p, '\n', (size_t)(end - p))) == NULL)
            return gw_head_unreadable;
        size_t n = (size_t)(eol - p);
        if (n != 0 && p[n - 1] == '\r')
            --n;
        if (n == 0)
            break; /* the empty line that ends the head */
        /* A line starting with a blank continues the previous one (obs-fold): h2o gives it no name. */
        const char *colon = memchr(p, ':', n);
        if (p[0] == ' ' || p[0] == '\t' || colon == NULL)
            continue;
        if (name_is(p, (size_t)(colon - p), "host")) {
            ++hosts;
        } else if (name_is(p, (size_t)(colon - p), "transfer-encoding")) {
            chunked = 1;
        } else if (name_is(p, (size_t)(colon - p), "content-length")) {
            const char *digits;
            size_t digits_len;
            if (decimal(&digits, &digits_len, colon + 1, n - (size_t)(colon - p) - 1) != 0)
                return "Content-Length must be one decimal number";
            if (length == NULL) {
                length = digits;
                length_len = digits_len;
            } else if (digits_len != length_len || memcmp(digits, length, length_len) != 0) {
                return "the request has Content-Length headers with different values";
            }
        }
    }
    if (length != NULL && chunked)
        return "the request has both Transfer-Encoding and Content-Length";
    if (host_required && hosts == 0)
        return "an HTTP/1.1 request must carry a Host header";
    if (hosts > 1)
        return "the request has more than one Host header";
    return NULL;
}
