/*
 * Fuzz target: gw_head_check (gateway/head.c), the gateway's own reading of
 * an HTTP/1.x request head, against the parser h2o 2.2.5 serves requests
 * with (picohttpparser's phr_parse_request, exported by libh2o-evloop).
 *
 * Each input is what a connection received. When h2o's parser takes it as a
 * request, as h2o calls it (at most H2O_MAX_REQLEN bytes, H2O_MAX_HEADERS
 * headers), the checker gets the method and version h2o found and must
 * read the same head: never "unreadable", and a refusal exactly when the
 * headers h2o parsed hold a Content-Length that is not one decimal number,
 * two Content-Lengths of different values, Transfer-Encoding beside
 * Content-Length, more than one Host, or (HTTP/1.1) none. Any other input
 * only runs the checker, for the sanitizers.
 */
#include <strings.h>
#include "fuzz.h"
#include "head.h"

/* picohttpparser's interface as h2o 2.2.5 builds it (its header is not installed). */
struct phr_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};
int phr_parse_request(const char *buf, size_t len, const char **method, size_t *method_len, const char **path, size_t *path_len,
                      int *minor_version, struct phr_header *headers, size_t *num_headers, size_t last_len);

/* lib/http1.c of h2o 2.2.5. */
#define H2O_MAX_HEADERS 100
#define H2O_MAX_REQLEN (8192 + 4096 * (H2O_MAX_HEADERS))

static int named(const struct phr_header *h, const char *name)
{
    return h->name != NULL && h->name_len == strlen(name) && strncasecmp(h->name, name, h->name_len) == 0;
}

/*
 * The number a Content-Length value states, as its digits without leading
 * zeros, blanks around it ignored: NULL when the value is not one decimal
 * number.
 */
static const char *stated_length(const struct phr_header *h, size_t *n)
{
    const char *v = h->value, *end = h->value + h->value_len;
    for (; v != end && (*v == ' ' || *v == '\t'); ++v)
        ;
    for (; end != v && (end[-1] == ' ' || end[-1] == '\t'); --end)
        ;
    if (v == end)
        return NULL;
    for (const char *p = v; p != end; ++p)
        if (*p < '0' || *p > '9')
            return NULL;
    while (end - v > 1 && *v == '0')
        ++v;
    *n = (size_t)(end - v);
    return v;
}

/* Whether h2o's parse of the head calls for a refusal. */
static int must_refuse(const struct phr_header *headers, size_t num_headers, int host_required)
{
    const char *length = NULL;
    size_t length_len = 0, hosts = 0;
    int transfer_encoding = 0;

    for (size_t i = 0; i != num_headers; ++i) {
        const char *v;
        size_t n;
        if (named(&headers[i], "host")) {
            ++hosts;
        } else if (named(&headers[i], "transfer-encoding")) {
            transfer_encoding = 1;
        } else if (named(&headers[i], "content-length")) {
            if ((v = stated_length(&headers[i], &n)) == NULL)
                return 1;
            if (length != NULL && (n != length_len || memcmp(v, length, n) != 0))
                return 1;
            length = v, length_len = n;
        }
    }
    return (length != NULL && transfer_encoding) || hosts > 1 || (host_required && hosts == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data, *method, *path;
    size_t method_len, path_len, num_headers = H2O_MAX_HEADERS;
    struct phr_header headers[H2O_MAX_HEADERS];
    int minor_version;
    int reqlen = phr_parse_request(buf, size < H2O_MAX_REQLEN ? size : H2O_MAX_REQLEN, &method, &method_len, &path, &path_len,
                                   &minor_version, headers, &num_headers, 0);

    if (reqlen <= 0) {
        /* h2o answers or waits by itself: the gateway never sees this; it must still be read safely. */
        gw_head_check(buf, size, "GET", 3, 1);
        gw_head_check(buf, size, "POST", 4, 0);
        return 0;
    }
    /* h2o: req->version = 0x100 | (minor_version != 0); the gateway asks for Host from 0x101 on. */
    int host_required = minor_version != 0;
    const char *why = gw_head_check(buf, size, method, method_len, host_required);
    FUZZ_CHECK(why != gw_head_unreadable);
    FUZZ_CHECK((why != NULL) == must_refuse(headers, num_headers, host_required));
    return 0;
}
