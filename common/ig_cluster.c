#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "ig_cluster.h"

/* CRC16-CCITT (XMODEM): polynomial 0x1021, initial value 0, as Redis Cluster uses. */
static uint16_t crc16(const char *buf, size_t len)
{
    uint16_t crc = 0;
    for (size_t i = 0; i != len; ++i) {
        crc ^= (uint16_t)((unsigned char)buf[i] << 8);
        for (int b = 0; b != 8; ++b)
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

unsigned ig_cluster_keyslot(const char *key, size_t len)
{
    const char *open = memchr(key, '{', len);
    if (open != NULL) {
        size_t rest = len - (size_t)(open + 1 - key);
        const char *close = memchr(open + 1, '}', rest);
        /* "{}" hashes the whole key, as Redis does. */
        if (close != NULL && close != open + 1)
            return crc16(open + 1, (size_t)(close - open - 1)) & (IG_CLUSTER_SLOTS - 1);
    }
    return crc16(key, len) & (IG_CLUSTER_SLOTS - 1);
}

static int is_word(const char *s, size_t len, const char *word)
{
    return strlen(word) == len && strncasecmp(s, word, len) == 0;
}

int ig_cluster_command_slot(int argc, const char *const *argv, const size_t *argvlen)
{
    static const char *const keyless[] = {"CONFIG", "PING", "INFO", "FUNCTION", "CLUSTER", "COMMAND", "ASKING", "READONLY"};
    if (argc < 2)
        return -1;
    if (is_word(argv[0], argvlen[0], "FCALL") || is_word(argv[0], argvlen[0], "FCALL_RO") || is_word(argv[0], argvlen[0], "EVAL") ||
        is_word(argv[0], argvlen[0], "EVALSHA")) {
        /* numkeys is a short decimal; "0", a malformed number or no key at all: keyless (Redis answers the error). */
        if (argc < 4 || argvlen[2] == 0 || argvlen[2] > 5 || (argvlen[2] == 1 && argv[2][0] == '0'))
            return -1;
        for (size_t i = 0; i != argvlen[2]; ++i)
            if (argv[2][i] < '0' || argv[2][i] > '9')
                return -1;
        return (int)ig_cluster_keyslot(argv[3], argvlen[3]);
    }
    for (size_t i = 0; i != sizeof(keyless) / sizeof(keyless[0]); ++i)
        if (is_word(argv[0], argvlen[0], keyless[i]))
            return -1;
    return (int)ig_cluster_keyslot(argv[1], argvlen[1]);
}

/* Parses a decimal number of len digits no larger than max; -1 on anything else. */
static long parse_num(const char *s, size_t len, long max)
{
    long v = 0;
    if (len == 0 || len > 6)
        return -1;
    for (size_t i = 0; i != len; ++i) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v <= max ? v : -1;
}

int ig_cluster_addr_parse(ig_cluster_addr_t *out, const char *text, size_t len)
{
    const char *colon = NULL;
    for (size_t i = len; i != 0; --i)
        if (text[i - 1] == ':') {
            colon = text + i - 1;
            break;
        }
    if (colon == NULL)
        return -1;
    size_t hlen = (size_t)(colon - text);
    long port = parse_num(colon + 1, len - hlen - 1, 65535);
    if (port <= 0)
        return -1;
    if (hlen >= 2 && text[0] == '[' && text[hlen - 1] == ']') {
        ++text;
        hlen -= 2;
    }
    if (hlen >= sizeof(out->host) || memchr(text, '\0', hlen) != NULL)
        return -1;
    memcpy(out->host, text, hlen);
    out->host[hlen] = '\0';
    out->port = (uint16_t)port;
    return 0;
}

ig_cluster_redirect_t ig_cluster_parse_redirect(unsigned *slot, ig_cluster_addr_t *addr, const char *err, size_t len)
{
    ig_cluster_redirect_t kind;
    size_t skip;
    if (len > 6 && memcmp(err, "MOVED ", 6) == 0)
        kind = IG_CLUSTER_MOVED, skip = 6;
    else if (len > 4 && memcmp(err, "ASK ", 4) == 0)
        kind = IG_CLUSTER_ASK, skip = 4;
    else
        return IG_CLUSTER_NOT_REDIRECT;
    const char *p = err + skip, *end = err + len;
    const char *space = memchr(p, ' ', (size_t)(end - p));
    if (space == NULL)
        return IG_CLUSTER_NOT_REDIRECT;
    long s = parse_num(p, (size_t)(space - p), IG_CLUSTER_SLOTS - 1);
    ig_cluster_addr_t a;
    if (s < 0 || ig_cluster_addr_parse(&a, space + 1, (size_t)(end - space - 1)) != 0)
        return IG_CLUSTER_NOT_REDIRECT;
    *slot = (unsigned)s;
    *addr = a;
    return kind;
}

/* A node entry of CLUSTER SLOTS: [ip, port, id, ...]. */
static int parse_node(ig_cluster_addr_t *out, const redisReply *node, const char *asked_host)
{
    if (node->type != REDIS_REPLY_ARRAY || node->elements < 2 || node->element[0]->type != REDIS_REPLY_STRING ||
        node->element[1]->type != REDIS_REPLY_INTEGER || node->element[1]->integer <= 0 || node->element[1]->integer > 65535)
        return -1;
    const redisReply *ip = node->element[0];
    /* "?" is what Redis says when the preferred endpoint is unknown: the node asked. */
    const char *host = ip->len == 0 || (ip->len == 1 && ip->str[0] == '?') ? asked_host : ip->str;
    size_t hlen = host == ip->str ? ip->len : strlen(host);
    if (hlen == 0 || hlen >= sizeof(out->host) || memchr(host, '\0', hlen) != NULL)
        return -1;
    memcpy(out->host, host, hlen);
    out->host[hlen] = '\0';
    out->port = (uint16_t)node->element[1]->integer;
    return 0;
}

int ig_cluster_parse_slots(ig_cluster_map_t *map, const redisReply *reply, const char *asked_host)
{
    map->ranges = NULL;
    map->num_ranges = 0;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0 || reply->elements > IG_CLUSTER_SLOTS)
        return -1;
    if ((map->ranges = calloc(reply->elements, sizeof(map->ranges[0]))) == NULL)
        return -1;
    for (size_t i = 0; i != reply->elements; ++i) {
        const redisReply *e = reply->element[i];
        ig_cluster_range_t *r = &map->ranges[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 || e->element[0]->type != REDIS_REPLY_INTEGER ||
            e->element[1]->type != REDIS_REPLY_INTEGER)
            goto Error;
        long long first = e->element[0]->integer, last = e->element[1]->integer;
        if (first < 0 || last < first || last >= IG_CLUSTER_SLOTS || parse_node(&r->master, e->element[2], asked_host) != 0)
            goto Error;
        r->first = (uint16_t)first;
        r->last = (uint16_t)last;
    }
    map->num_ranges = reply->elements;
    return 0;
Error:
    ig_cluster_map_free(map);
    return -1;
}

void ig_cluster_map_free(ig_cluster_map_t *map)
{
    free(map->ranges);
    map->ranges = NULL;
    map->num_ranges = 0;
}

int ig_cluster_map_covers_all(const ig_cluster_map_t *map)
{
    unsigned char seen[IG_CLUSTER_SLOTS] = {0};
    size_t n = 0;
    for (size_t i = 0; i != map->num_ranges; ++i)
        for (unsigned s = map->ranges[i].first; s <= map->ranges[i].last; ++s)
            if (!seen[s]) {
                seen[s] = 1;
                ++n;
            }
    return n == IG_CLUSTER_SLOTS;
}
