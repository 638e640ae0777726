#include <stdio.h>
#include <string.h>
#include "ig_calls.h"
#include "ig_keys.h"
#include "redeemers.h"

/*
 * Redeemers per call: one ig_register_many per this many (a batch holds a
 * few hundred events), so bucket 0's master runs one function call for a
 * whole batch rather than one per redemption (its fixed cost was most of
 * what a redemption cost that master).
 */
#define SYNC_REDEEMERS_PER_CALL 256

/* One redeemer's arguments, alive until the call is sent. */
typedef struct redeemer_t {
    unsigned char hash8[IG_EMAIL_HASH_BYTES];
    char code[IG_REFERRAL_CODE_LEN + 1];
    char user_key[IG_KEY_MAX_BYTES], referral_key[IG_KEY_MAX_BYTES];
    const char *email;
} redeemer_t;

/* Sends one ig_register_many for the n redeemers of r and takes its reply. Returns 0 or -1 (errstr set). */
static int register_many(redisContext *redis, const redeemer_t *r, size_t n, char *errstr, size_t errstr_len)
{
    static _Thread_local const char *argv[IG_CALL_ARGC(REGISTER_MANY, SYNC_REDEEMERS_PER_CALL)];
    static _Thread_local size_t lens[IG_CALL_ARGC(REGISTER_MANY, SYNC_REDEEMERS_PER_CALL)];
    redisReply *reply;
    ig_fcall_t c;
    int ret = 0;

    ig_fcall_begin(&c, IG_CALL_REGISTER_MANY, n, argv, lens, IG_CALL_ARGC(REGISTER_MANY, SYNC_REDEEMERS_PER_CALL));
    ig_fcall_str(&c, IG_KEY_WL_SEQ);
    for (size_t i = 0; i != n; ++i) {
        ig_fcall_str(&c, r[i].user_key);
        ig_fcall_str(&c, r[i].referral_key);
    }
    for (size_t i = 0; i != n; ++i) {
        ig_fcall_bin(&c, r[i].hash8, sizeof(r[i].hash8));
        ig_fcall_str(&c, r[i].email);
        ig_fcall_str(&c, r[i].code);
    }
    reply = redisCommandArgv(redis, (int)ig_fcall_end(&c), argv, lens);
    if (reply == NULL) {
        snprintf(errstr, errstr_len, "step=register_redeemers reason=\"%s\"", redis->errstr);
        return -1;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != n) {
        snprintf(errstr, errstr_len, "step=register_redeemers reason=\"%.*s\"",
                 reply->type == REDIS_REPLY_ERROR ? (int)(reply->len < 100 ? reply->len : 100) : 16,
                 reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply");
        ret = -1;
    }
    freeReplyObject(reply);
    return ret;
}

int sync_redeemers_register(redisContext *redis, const sync_keys_t *keys, const sync_batch_t *b, char *errstr, size_t errstr_len)
{
    static _Thread_local redeemer_t r[SYNC_REDEEMERS_PER_CALL]; /* each lane thread its own */
    size_t n = 0;

    for (size_t i = 0; i != b->num_events; ++i) {
        const sync_event_t *ev = &b->events[i];
        if (ev->type != SYNC_EVENT_REDEEMED || ev->email == NULL)
            continue;
        ig_email_hash(r[n].hash8, ev->email, strlen(ev->email), keys->email);
        ig_referral_code(r[n].code, ev->email, strlen(ev->email), &keys->user);
        ig_key_user(r[n].user_key, r[n].hash8);
        ig_key_referral(r[n].referral_key, r[n].code);
        r[n].email = ev->email;
        if (++n == SYNC_REDEEMERS_PER_CALL) {
            if (register_many(redis, r, n, errstr, errstr_len) != 0)
                return -1;
            n = 0;
        }
    }
    return n != 0 ? register_many(redis, r, n, errstr, errstr_len) : 0;
}
