#include <stdlib.h>
#include <string.h>
#include "ig_keys.h"
#include "people.h"

void gw_person_derive(gw_person_t *p)
{
    ig_email_hash(p->hash8, p->email.addr, p->email.len, gw.email_key);
    ig_referral_code(p->referral_code, p->email.addr, p->email.len, &gw.user_keys);
}

void gw_call(gw_req_t *rq, gw_req_reply_cb on_reply, const char *const *argv, size_t argc, const unsigned char *hash8,
             const unsigned char *hash8_2)
{
    size_t small[32] = {0}, *lens = argc <= 32 ? small : malloc(argc * sizeof(*lens));
    if (lens == NULL)
        h2o_fatal("no memory");
    for (size_t i = 0; i != argc; ++i)
        lens[i] = argv[i] == (const char *)hash8 || argv[i] == (const char *)hash8_2 ? IG_EMAIL_HASH_BYTES : strlen(argv[i]);
    rq->on_reply = on_reply;
    if (gw_req_redis(rq, (int)argc, (const char **)argv, lens) != 0)
        gw_req_unavailable(rq);
    if (lens != small)
        free(lens);
}

void *gw_req_state(gw_req_t *rq, size_t size)
{
    void *st = calloc(1, size);
    if (st == NULL)
        h2o_fatal("no memory");
    rq->state = st;
    rq->free_state = free;
    return st;
}

const char *gw_reply_str(redisReply *reply, size_t i, size_t *len)
{
    if (i < reply->elements && reply->element[i]->type == REDIS_REPLY_STRING) {
        *len = reply->element[i]->len;
        return reply->element[i]->str;
    }
    *len = 0;
    return "";
}

const char *gw_take_verdict_or_404(gw_req_t *rq, redisReply *reply, const char *err, const char *not_found_message)
{
    const char *verdict = err == NULL ? gw_verdict_of(reply) : NULL;
    if (verdict != NULL && strcmp(verdict, "not_found") == 0) {
        gw_req_fail(rq, 404, "not_found", not_found_message);
        return NULL;
    }
    return gw_take_verdict(rq, reply, err);
}

void gw_call_issuing(gw_req_t *rq, gw_req_reply_cb on_reply, const char *fn, size_t count, const char *const *args, size_t nargs,
                     const unsigned char *hash8)
{
    struct fresh_code {
        char body[IG_CODE_BODY_LEN + 1];
        char key[IG_KEY_MAX_BYTES];
    } *codes = malloc(count * sizeof(*codes));
    size_t argc = 0;
    const char **argv = malloc((6 + nargs + 2 * count) * sizeof(*argv));
    char numkeys[24];
    if (codes == NULL || argv == NULL)
        h2o_fatal("no memory");
    snprintf(numkeys, sizeof(numkeys), "%zu", 3 + count);
    argv[argc++] = "FCALL", argv[argc++] = fn, argv[argc++] = numkeys;
    argv[argc++] = GW_WL_KEY, argv[argc++] = GW_WL_STREAM, argv[argc++] = GW_WL_GATE;
    for (size_t i = 0; i != count; ++i) {
        do
            ig_code_generate(codes[i].body, gw.code_key);
        while (ig_code_bucket(codes[i].body) != IG_WL_BUCKET);
        snprintf(codes[i].key, sizeof(codes[i].key), "ig:{%u}:c:%u", IG_WL_BUCKET, ig_code_subhash(codes[i].body));
        argv[argc++] = codes[i].key;
    }
    for (size_t i = 0; i != nargs; ++i)
        argv[argc++] = args[i];
    for (size_t i = 0; i != count; ++i)
        argv[argc++] = codes[i].body;
    gw_call(rq, on_reply, argv, argc, hash8, NULL);
    free(argv);
    free(codes);
}

gw_person_t *gw_path_person(gw_req_t *rq, h2o_iovec_t param, size_t state_size)
{
    gw_error_t err;
    gw_person_t *p = gw_req_state(rq, state_size);
    if (gw_parse_path_email(&p->email, &err, param.base, param.len) != 0) {
        gw_req_error(rq, &err, 0);
        return NULL;
    }
    gw_person_derive(p);
    return p;
}
