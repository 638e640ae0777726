#include <stdio.h>
#include <string.h>
#include "ig_calls.h"
#include "ig_keys.h"
#include "redeemers.h"

int sync_redeemers_register(redisContext *redis, const sync_keys_t *keys, const sync_batch_t *b, char *errstr, size_t errstr_len)
{
    size_t sent = 0;
    int failed = 0;

    for (size_t i = 0; i != b->num_events; ++i) {
        const sync_event_t *ev = &b->events[i];
        unsigned char hash8[IG_EMAIL_HASH_BYTES];
        char code[IG_REFERRAL_CODE_LEN + 1];
        if (ev->type != SYNC_EVENT_REDEEMED || ev->email == NULL)
            continue;
        ig_email_hash(hash8, ev->email, strlen(ev->email), keys->email);
        ig_referral_code(code, ev->email, strlen(ev->email), &keys->user);
        char user_key[IG_KEY_MAX_BYTES], referral_key[IG_KEY_MAX_BYTES];
        IG_FCALL_LOCAL(c, REGISTER, 0);
        ig_key_user(user_key, hash8);
        ig_key_referral(referral_key, code);
        ig_fcall_str(&c, IG_KEY_WL_SEQ);
        ig_fcall_str(&c, user_key);
        ig_fcall_str(&c, referral_key);
        ig_fcall_bin(&c, hash8, sizeof(hash8));
        ig_fcall_str(&c, ev->email);
        ig_fcall_str(&c, code);
        if (redisAppendCommandArgv(redis, (int)ig_fcall_end(&c), c.argv, c.lens) != REDIS_OK) {
            snprintf(errstr, errstr_len, "step=register_redeemers reason=\"out of memory\"");
            failed = 1;
            break;
        }
        ++sent;
    }
    for (size_t i = 0; i != sent; ++i) {
        redisReply *reply = NULL;
        if (redisGetReply(redis, (void **)&reply) != REDIS_OK) {
            snprintf(errstr, errstr_len, "step=register_redeemers reason=\"%s\"", redis->errstr);
            return -1;
        }
        if (reply->type == REDIS_REPLY_ERROR && failed++ == 0)
            snprintf(errstr, errstr_len, "step=register_redeemers reason=\"%.*s\"", (int)(reply->len < 100 ? reply->len : 100),
                     reply->str);
        freeReplyObject(reply);
    }
    return failed ? -1 : 0;
}
