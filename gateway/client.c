#include <string.h>
#include "client.h"

/* Whether s[0..len) is a port: 1 to 5 digits. */
static int is_port(const char *s, size_t len)
{
    if (len == 0 || len > 5)
        return 0;
    for (size_t i = 0; i != len; ++i)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

int gw_client_parse_hop(ig_addr_t *out, const char *s, size_t len)
{
    const char *colon;
    if (len != 0 && s[0] == '[') {
        /* [IPv6] or [IPv6]:port */
        const char *close = memchr(s, ']', len);
        if (close == NULL)
            return -1;
        size_t rest = len - (size_t)(close + 1 - s);
        if (rest != 0 && !(close[1] == ':' && is_port(close + 2, rest - 1)))
            return -1;
        return ig_addr_parse(out, s + 1, (size_t)(close - s - 1));
    }
    /* IPv4:port has exactly one colon; an IPv6 literal has two or more. */
    if ((colon = memchr(s, ':', len)) != NULL && memchr(colon + 1, ':', len - (size_t)(colon + 1 - s)) == NULL) {
        if (!is_port(colon + 1, len - (size_t)(colon + 1 - s)) || ig_addr_parse(out, s, (size_t)(colon - s)) != 0 ||
            !ig_addr_is_v4(out))
            return -1;
        return 0;
    }
    return ig_addr_parse(out, s, len);
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

void gw_client_derive(ig_addr_t *out, const ig_addr_t *peer, const char *const *values, const size_t *lens, size_t n,
                      const ig_cidr_t *trusted, size_t ntrusted)
{
    *out = *peer;
    if (!ig_cidr_list_contains(trusted, ntrusted, out))
        return;
    /* *out is the last trusted hop; walk the entries from the right. */
    for (size_t f = n; f-- != 0;) {
        const char *v = values[f];
        size_t end = lens[f];
        while (end != 0) {
            size_t start = end;
            while (start != 0 && v[start - 1] != ',')
                --start;
            size_t next = start != 0 ? start - 1 : 0, b = start, e = end;
            while (b != e && is_blank(v[b]))
                ++b;
            while (e != b && is_blank(v[e - 1]))
                --e;
            end = next;
            if (b == e) /* an empty list element */
                continue;
            ig_addr_t hop;
            if (gw_client_parse_hop(&hop, v + b, e - b) != 0)
                return;
            *out = hop;
            if (!ig_cidr_list_contains(trusted, ntrusted, out))
                return;
        }
    }
}
