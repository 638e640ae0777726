#include <stdlib.h>
#include <string.h>
#include "idem.h"
#include "ig_keys.h"
#include "people.h"

void gw_person_derive(gw_person_t *p)
{
    ig_email_hash(p->hash8, p->email.addr, p->email.len, gw.email_key);
    ig_referral_code(p->referral_code, p->email.addr, p->email.len, &gw.user_keys);
    ig_key_user(p->user_key, p->hash8);
    ig_key_shared(p->shared_key, p->hash8);
    ig_key_points(p->points_key, p->hash8);
    ig_key_referral(p->referral_key, p->referral_code);
}

void gw_call_issuing(gw_req_t *rq, gw_req_reply_cb on_reply, ig_call_id_t id, size_t count, const char *const *keys, size_t nkeys,
                     const char *const *args, const size_t *lens, size_t nargs)
{
    struct fresh_code {
        char body[IG_CODE_BODY_LEN + 1];
        char key[IG_KEY_MAX_BYTES];
    } *codes = malloc(count * sizeof(*codes));
    size_t cap = 5 + nkeys + nargs + 2 * count;
    const char **argv = malloc(cap * sizeof(*argv));
    size_t *argvlen = malloc(cap * sizeof(*argvlen));
    ig_fcall_t c;
    if (codes == NULL || argv == NULL || argvlen == NULL)
        h2o_fatal("no memory");
    ig_fcall_begin(&c, id, count, argv, argvlen, cap);
    ig_fcall_strs(&c, keys, nkeys);
    for (size_t i = 0; i != count; ++i) {
        ig_code_generate_in(codes[i].body, gw.code_key, IG_WL_BUCKET, gw.cfg.buckets);
        ig_key_code_hash(codes[i].key, IG_WL_BUCKET, ig_code_subhash(codes[i].body));
        ig_fcall_str(&c, codes[i].key);
    }
    ig_fcall_str(&c, gw_idem_call_key(rq));
    for (size_t i = 0; i != nargs; ++i)
        ig_fcall_bin(&c, args[i], lens[i]);
    for (size_t i = 0; i != count; ++i)
        ig_fcall_str(&c, codes[i].body);
    ig_fcall_str(&c, gw_idem_call_fp(rq));
    gw_fcall(rq, on_reply, &c);
    free(argvlen);
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
