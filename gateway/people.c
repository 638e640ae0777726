#include <stdlib.h>
#include <string.h>
#include "ig_keys.h"
#include "people.h"

void gw_person_derive(gw_person_t *p)
{
    ig_email_hash(p->hash8, p->email.addr, p->email.len, gw.email_key);
    ig_referral_code(p->referral_code, p->email.addr, p->email.len, &gw.user_keys);
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
    return gw_req_limit_email(rq, p->hash8) == 0 ? p : NULL;
}
