/*
 * Fuzz target: the client address of a request (gateway/client.c) and the
 * address and block parsers under it (common/ig_net.c).
 *
 * Input, one part a line: the trusted blocks (trusted_proxies, comma-
 * separated; the ones ig_cidr_parse refuses are dropped), the peer address,
 * then each further line one X-Forwarded-For field as received.
 *
 * Checks: every address parsed is written back by ig_addr_format as text
 * that inet_pton reads as the same address, and that ig_addr_parse reads
 * back unchanged; a block holds its own first address and ig_cidr_contains
 * agrees with a bit-by-bit comparison; gw_client_derive names the client a
 * reference walk finds: the entries of all fields, in order, walked from
 * the right while their addresses are trusted, stopping at the first
 * untrusted one (the client), at one that is no address (the last trusted
 * hop is), or at the left end (the left-most hop is); an untrusted peer is
 * its own client.
 */
#include <arpa/inet.h>
#include "client.h"
#include "fuzz.h"

#define MAX_LINES 64
#define MAX_BLOCKS 16
#define MAX_ENTRIES 4096

/* Checks the text form of a against inet_pton and ig_addr_parse. */
static void check_format(const ig_addr_t *a)
{
    char text[IG_ADDR_TEXT_BYTES];
    unsigned char b[16] = {0};
    ig_addr_t again;

    ig_addr_format(text, a);
    FUZZ_CHECK(memchr(text, '\0', sizeof(text)) != NULL);
    if (ig_addr_is_v4(a)) {
        FUZZ_CHECK(inet_pton(AF_INET, text, b + 12) == 1);
        b[10] = b[11] = 0xff;
    } else {
        FUZZ_CHECK(inet_pton(AF_INET6, text, b) == 1);
    }
    FUZZ_CHECK(memcmp(b, a->b, 16) == 0);
    FUZZ_CHECK(ig_addr_parse(&again, text, strlen(text)) == 0 && memcmp(&again, a, sizeof(again)) == 0);
}

/* Whether the first prefix bits of a and b agree. */
static int same_prefix(const ig_addr_t *a, const ig_addr_t *b, unsigned prefix)
{
    for (unsigned i = 0; i != prefix; ++i)
        if (((a->b[i / 8] ^ b->b[i / 8]) >> (7 - i % 8)) & 1)
            return 0;
    return 1;
}

static int trusted_by(const ig_cidr_t *blocks, size_t n, const ig_addr_t *a)
{
    int in = 0;
    for (size_t i = 0; i != n; ++i) {
        FUZZ_CHECK(ig_cidr_contains(&blocks[i], a) == same_prefix(&blocks[i].addr, a, blocks[i].prefix));
        in |= same_prefix(&blocks[i].addr, a, blocks[i].prefix);
    }
    FUZZ_CHECK(ig_cidr_list_contains(blocks, n, a) == in);
    return in;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *lines[MAX_LINES];
    size_t lens[MAX_LINES], n = fuzz_lines(lines, lens, MAX_LINES, data, size);
    ig_cidr_t blocks[MAX_BLOCKS];
    size_t nblocks = 0;
    ig_addr_t peer, got, want;

    if (n < 2)
        return 0;
    for (const char *b = lines[0], *lend = lines[0] + lens[0]; b < lend && nblocks != MAX_BLOCKS;) {
        const char *comma = memchr(b, ',', (size_t)(lend - b)), *e = comma != NULL ? comma : lend;
        const char *why = NULL;
        if (ig_cidr_parse(&blocks[nblocks], &why, b, (size_t)(e - b)) == 0) {
            FUZZ_CHECK(blocks[nblocks].prefix <= 128 && ig_cidr_contains(&blocks[nblocks], &blocks[nblocks].addr));
            check_format(&blocks[nblocks].addr);
            ++nblocks;
        } else {
            FUZZ_CHECK(why != NULL && why[0] != '\0');
        }
        b = e + 1;
    }
    if (ig_addr_parse(&peer, lines[1], lens[1]) != 0)
        return 0;
    check_format(&peer);

    /* The reference: the entries of every field, left to right, blanks trimmed, empty ones skipped. */
    const char *entry[MAX_ENTRIES];
    size_t entry_len[MAX_ENTRIES], nentries = 0;
    for (size_t f = 2; f < n; ++f) {
        const char *s = lines[f], *fend = s + lens[f];
        for (;;) {
            const char *comma = memchr(s, ',', (size_t)(fend - s)), *e = comma != NULL ? comma : fend, *b = s;
            while (b != e && (*b == ' ' || *b == '\t'))
                ++b;
            while (e != b && (e[-1] == ' ' || e[-1] == '\t'))
                --e;
            if (b != e) {
                if (nentries == MAX_ENTRIES)
                    return 0;
                entry[nentries] = b;
                entry_len[nentries++] = (size_t)(e - b);
            }
            if (comma == NULL)
                break;
            s = comma + 1;
        }
    }
    want = peer;
    if (trusted_by(blocks, nblocks, &peer)) {
        for (size_t i = nentries; i-- != 0;) {
            ig_addr_t hop;
            if (gw_client_parse_hop(&hop, entry[i], entry_len[i]) != 0)
                break;
            check_format(&hop);
            want = hop;
            if (!trusted_by(blocks, nblocks, &hop))
                break;
        }
    }
    gw_client_derive(&got, &peer, lines + 2, lens + 2, n - 2, blocks, nblocks);
    FUZZ_CHECK(memcmp(&got, &want, sizeof(got)) == 0);
    return 0;
}
