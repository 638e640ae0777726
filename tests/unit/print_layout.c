/*
 * Prints the Redis key layout (common/ig_keys.h) on sample inputs and the
 * library's call descriptions (common/ig_calls.h), one tab-separated line
 * each, for the tests that check their copies against them:
 * tests/integration/test_keys.py (tests/integration/keys.py) and
 * tests/integration/test_library.py (the comment blocks of lua/).
 *
 *   key   BUILDER  INPUT...  NAME   (code_location and batch: the bucket count first)
 *   call  NAME  RO  KEYS  NKEYS  ARGV  NARGV  ITEM_KEYS  N  ITEM_ARGV  N  IDEM  INSIDE  REPLY
 */
#include <stdio.h>
#include <string.h>
#include "ig_calls.h"
#include "ig_keys.h"

static void hex(char *out, const unsigned char *b, size_t n)
{
    for (size_t i = 0; i != n; ++i)
        sprintf(out + 2 * i, "%02x", b[i]);
}

int main(void)
{
    char k[IG_KEY_MAX_BYTES], h[2 * IG_EMAIL_HASH_BYTES + 1];
    static const unsigned sub_samples[][2] = {{0, 0}, {15, 1023}, {7, 239}, {10, 5}};
    static const char *const bodies[] = {"A7F3E9D2B4C5HJKM", "23456789ABCDEFGH", "F7F3E9D2B1C4", "0123456789AB",
                                         "ZZZZZZZZZZZZZZZZ"};
    static const unsigned char hashes[][IG_EMAIL_HASH_BYTES] = {{0, 0, 0, 0, 0, 0, 0, 0},
                                                                {0xff, 0xff, 1, 2, 3, 4, 5, 6},
                                                                {0x80, 0x01, 0, 0, 0, 0, 0, 9},
                                                                {0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0}};
    static const char *const referrals[] = {"23456789", "ZZZZZZZZ", "AB7CDEFG", "MNPQRSTU"};
    static const long prios[] = {0, 5, 17, 25, -1};
    static const unsigned long long seqs[] = {0, 1, 127, 128, 65536, 1000003};

    static const unsigned counts[] = {16, 32, 64, 256};

    printf("const\tIG_BUCKETS_DEFAULT\t%d\nconst\tIG_BUCKETS_MAX\t%d\nconst\tIG_SUBHASHES\t%d\nconst\tIG_WL_BUCKET\t%d\n"
           "const\tIG_USER_SUBHASHES\t%d\n",
           IG_BUCKETS_DEFAULT, IG_BUCKETS_MAX, IG_SUBHASHES, IG_WL_BUCKET, IG_USER_SUBHASHES);
    printf("const\tIG_KEY_MAX_BYTES\t%d\n", IG_KEY_MAX_BYTES);
    printf("key\twl\t%s\nkey\twl_seq\t%s\nkey\twl_counters\t%s\nkey\twl_events\t%s\nkey\twl_gate\t%s\n", IG_KEY_WL, IG_KEY_WL_SEQ,
           IG_KEY_WL_COUNTERS, IG_KEY_WL_EVENTS, IG_KEY_WL_GATE);
    printf("key\ttrust\t%s\nkey\tgate_mode\t%s\nkey\tgate_auto\t%s\nkey\tidem_none\t%s\n", IG_KEY_TRUST, IG_KEY_GATE_MODE,
           IG_KEY_GATE_AUTO, IG_KEY_IDEM_NONE);
    printf("key\tbuckets\t%s\n", IG_KEY_BUCKETS);
    for (size_t i = 0; i != sizeof(sub_samples) / sizeof(sub_samples[0]); ++i) {
        ig_key_code_hash(k, sub_samples[i][0], sub_samples[i][1]);
        printf("key\tcode_hash\t%u\t%u\t%s\n", sub_samples[i][0], sub_samples[i][1], k);
    }
    for (unsigned b = 0; b != IG_BUCKETS_DEFAULT; ++b) {
        ig_key_gate(k, b);
        printf("key\tgate\t%u\t%s\n", b, k);
        ig_key_events(k, b);
        printf("key\tevents\t%u\t%s\n", b, k);
    }
    for (size_t c = 0; c != sizeof(counts) / sizeof(counts[0]); ++c) {
        for (size_t i = 0; i != sizeof(bodies) / sizeof(bodies[0]); ++i) {
            ig_code_keys_t ck;
            ig_code_keys(&ck, bodies[i], counts[c]);
            printf("key\tcode_location\t%u\t%s\t%s\t%s\n", counts[c], bodies[i], ck.hash, ck.field);
            ig_key_redeemers(k, ck.bucket, bodies[i]);
            printf("key\tredeemers\t%u\t%s\t%s\n", ck.bucket, bodies[i], k);
        }
        static const char *const batches[] = {"B-1", "launch-2026", "x"};
        for (size_t i = 0; i != sizeof(batches) / sizeof(batches[0]); ++i) {
            unsigned b = ig_bucket_of(batches[i], strlen(batches[i]), counts[c]);
            ig_key_batch(k, b, batches[i]);
            printf("key\tbatch\t%u\t%s\t%s\n", counts[c], batches[i], k);
        }
    }
    for (size_t i = 0; i != sizeof(prios) / sizeof(prios[0]); ++i) {
        ig_key_wl_class(k, prios[i]);
        printf("key\twl_class\t%ld\t%s\n", prios[i], k);
        ig_key_wl_blocks(k, prios[i]);
        printf("key\twl_blocks\t%ld\t%s\n", prios[i], k);
    }
    for (size_t i = 0; i != sizeof(seqs) / sizeof(seqs[0]); ++i) {
        ig_key_wl_members(k, seqs[i]);
        printf("key\twl_members\t%llu\t%s\n", seqs[i], k);
    }
    for (size_t i = 0; i != sizeof(hashes) / sizeof(hashes[0]); ++i) {
        hex(h, hashes[i], IG_EMAIL_HASH_BYTES);
        ig_key_user(k, hashes[i]);
        printf("key\tuser\t%s\t%s\n", h, k);
        ig_key_shared(k, hashes[i]);
        printf("key\tshared\t%s\t%s\n", h, k);
        ig_key_points(k, hashes[i]);
        printf("key\tpoints\t%s\t%s\n", h, k);
    }
    for (size_t i = 0; i != sizeof(referrals) / sizeof(referrals[0]); ++i) {
        ig_key_referral(k, referrals[i]);
        printf("key\treferral\t%s\t%s\n", referrals[i], k);
    }
    ig_key_idem(k, 't', "ops", "00ff");
    printf("key\tidem\tt\tops\t00ff\t%s\n", k);
    ig_key_idem(k, 'a', "127.0.0.1", "abcdef");
    printf("key\tidem\ta\t127.0.0.1\tabcdef\t%s\n", k);
    ig_key_pattern(k, IG_KEY_ANY_BUCKET, "c");
    printf("key\tpattern\t*\tc\t%s\n", k);
    ig_key_pattern(k, IG_WL_BUCKET, "wl:b");
    printf("key\tpattern\t0\twl:b\t%s\n", k);

    for (int i = 0; i != IG_CALL_COUNT; ++i) {
        const ig_call_spec_t *s = &ig_call_specs[i];
        printf("call\t%s\t%d\t%s\t%u\t%s\t%u\t%s\t%u\t%s\t%u\t%d\t%s\t%s\n", s->name, s->ro, s->keys, s->nkeys, s->args, s->nargs,
               s->item_keys, s->nitem_keys, s->item_args, s->nitem_args, s->idem, s->inside, s->reply);
    }
    return 0;
}
