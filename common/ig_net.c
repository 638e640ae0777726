#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include "ig_net.h"

static const unsigned char v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

int ig_addr_is_v4(const ig_addr_t *a)
{
    return memcmp(a->b, v4_mapped_prefix, sizeof(v4_mapped_prefix)) == 0;
}

static void set_v4(ig_addr_t *out, const void *in_addr)
{
    memcpy(out->b, v4_mapped_prefix, sizeof(v4_mapped_prefix));
    memcpy(out->b + 12, in_addr, 4);
}

/* Copies s[0..len) to buf with a NUL; -1 when it does not fit or holds a NUL. */
static int copy_text(char *buf, size_t cap, const char *s, size_t len)
{
    if (len == 0 || len >= cap || memchr(s, '\0', len) != NULL)
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    return 0;
}

int ig_addr_parse(ig_addr_t *out, const char *s, size_t len)
{
    char buf[IG_ADDR_TEXT_BYTES];
    struct in_addr v4;
    if (copy_text(buf, sizeof(buf), s, len) != 0)
        return -1;
    if (inet_pton(AF_INET, buf, &v4) == 1) {
        set_v4(out, &v4);
        return 0;
    }
    return inet_pton(AF_INET6, buf, out->b) == 1 ? 0 : -1;
}

int ig_addr_from_sockaddr(ig_addr_t *out, const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        set_v4(out, &((const struct sockaddr_in *)sa)->sin_addr);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        memcpy(out->b, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
        return 0;
    }
    return -1;
}

void ig_addr_client(ig_addr_t *out, const ig_addr_t *a)
{
    memset(out, 0, sizeof(*out));
    memcpy(out->b, a->b, ig_addr_is_v4(a) ? sizeof(a->b) : 8);
}

void ig_addr_format(char out[IG_ADDR_TEXT_BYTES], const ig_addr_t *a)
{
    const char *ok = ig_addr_is_v4(a) ? inet_ntop(AF_INET, a->b + 12, out, IG_ADDR_TEXT_BYTES)
                                      : inet_ntop(AF_INET6, a->b, out, IG_ADDR_TEXT_BYTES);
    if (ok == NULL) /* impossible: the buffer holds any address */
        strcpy(out, "unknown");
}

int ig_cidr_parse(ig_cidr_t *out, const char **why, const char *s, size_t len)
{
    const char *slash = memchr(s, '/', len);
    size_t alen = slash != NULL ? (size_t)(slash - s) : len;
    unsigned prefix = 0, max;

    if (ig_addr_parse(&out->addr, s, alen) != 0) {
        *why = "not an IPv4 or IPv6 address";
        return -1;
    }
    /* An IPv4 block is written with an IPv4 prefix, whatever the literal looked like. */
    max = ig_addr_is_v4(&out->addr) ? 32 : 128;
    if (slash == NULL) {
        prefix = max;
    } else {
        const char *p = slash + 1, *end = s + len;
        if (p == end || end - p > 3) {
            *why = "bad prefix length";
            return -1;
        }
        for (; p != end; ++p) {
            if (*p < '0' || *p > '9') {
                *why = "bad prefix length";
                return -1;
            }
            prefix = prefix * 10 + (unsigned)(*p - '0');
        }
        if (prefix > max) {
            *why = max == 32 ? "prefix over 32 for an IPv4 address" : "prefix over 128";
            return -1;
        }
    }
    out->prefix = prefix + (128 - max);
    ig_cidr_t first = *out;
    for (unsigned bit = out->prefix; bit != 128; ++bit)
        first.addr.b[bit / 8] &= (unsigned char)~(0x80u >> (bit % 8));
    if (memcmp(first.addr.b, out->addr.b, 16) != 0) {
        *why = "address bits set after the prefix (write the block's first address)";
        return -1;
    }
    return 0;
}

int ig_cidr_contains(const ig_cidr_t *c, const ig_addr_t *a)
{
    unsigned full = c->prefix / 8, rest = c->prefix % 8;
    if (memcmp(c->addr.b, a->b, full) != 0)
        return 0;
    if (rest == 0)
        return 1;
    unsigned char mask = (unsigned char)(0xff00u >> rest);
    return (a->b[full] & mask) == c->addr.b[full];
}

int ig_cidr_list_contains(const ig_cidr_t *list, size_t n, const ig_addr_t *a)
{
    for (size_t i = 0; i != n; ++i)
        if (ig_cidr_contains(&list[i], a))
            return 1;
    return 0;
}

int ig_sockaddr_parse(struct sockaddr_storage *ss, socklen_t *len, const char *host, uint16_t port)
{
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

    memset(ss, 0, sizeof(*ss));
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons(port);
        *len = sizeof(*in4);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        *len = sizeof(*in6);
        return 0;
    }
    return -1;
}
