/*
 * invitegate rehydrate, people: the waitlist, referral codes and referral
 * counts rebuilt from PostgreSQL after Redis lost them.
 *
 * PostgreSQL holds each join (waitlist: sequence number, base priority,
 * referral code joined with, admission time and code), the referral codes
 * of joiners and sharers (user_referral_codes), the redeemers
 * (redemptions), the tranches earned (referral_code_rewards) and the
 * shares (referrals). From them, one ig_rehydrate_person call per person
 * (lua/waitlist.lua) writes back what the live calls had built:
 *
 *   - a waiting person at their join sequence, in the class of their base
 *     priority plus the boosts of the referrals who joined after them (a
 *     referral boosts only a waiting referrer: ig_join), so positions are
 *     exactly as before;
 *   - an admitted person with their admission time and code;
 *   - a sharer or redeemer who never joined as a referrer only, at a
 *     sequence number reserved past the highest join (what ig_register
 *     gives them; nobody sees it);
 *   - each one's referral code, referral count and tranches earned.
 *
 * Then the waitlist's counters (joins and admissions, in total and per
 * day) and each recipient's first share. Nothing newer is overwritten
 * (ig_rehydrate_person says how): a person Redis holds keeps their state;
 * a join sequence number taken by a join made after Redis came back
 * empty is not overwritten, the person goes to the end of their class with
 * a fresh number (reported as moved).
 *
 * Erased people are left out: their address, and so their hash, is gone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ig_calls.h"
#include "ig_email.h"
#include "ig_keys.h"
#include "ig_user.h"
#include "rehydrate.h"

/*
 * Everyone Redis keeps a user record for: joiners, sharers and referrers
 * (PostgreSQL knows their address by user id), and redeemers (by address).
 */
#define RH_PEOPLE                                                                                                                  \
    "WITH people AS (SELECT e.email FROM user_emails AS e WHERE e.email IS NOT NULL AND ("                                         \
    "EXISTS (SELECT 1 FROM waitlist AS w WHERE w.id = e.user_id) "                                                                 \
    "OR EXISTS (SELECT 1 FROM user_referral_codes AS c WHERE c.user_id = e.user_id) "                                              \
    "OR EXISTS (SELECT 1 FROM referrals AS s WHERE s.inviter_user_id = e.user_id)) "                                               \
    "UNION SELECT r.email FROM redemptions AS r WHERE r.email NOT LIKE 'erased:%'), "                                              \
    "persons AS (SELECT p.email, e.user_id FROM people AS p LEFT JOIN user_emails AS e ON e.email = p.email) "

/* People who never joined: each takes one reserved sequence number. */
static const char SQL_REFERRERS_ONLY[] =
    RH_PEOPLE "SELECT count(*) FROM persons AS p WHERE NOT EXISTS (SELECT 1 FROM waitlist AS w WHERE w.id = p.user_id)";

/*
 * A person: e-mail, sequence (0: never joined), base priority, referral code
 * joined with, state, admitted at (ms), admission code, referrals, referrals
 * that boosted them (joined after them while they waited), tranches.
 */
static const char SQL_PEOPLE[] =
    "DECLARE rehydrate_people NO SCROLL CURSOR FOR " RH_PEOPLE ", refs AS (SELECT c.user_id, count(*) AS n, "
    "count(*) FILTER (WHERE w.id IS NOT NULL AND w.invited_at IS NULL AND r.seq > w.seq) AS boosted "
    "FROM waitlist AS r JOIN user_referral_codes AS c ON c.code = r.referred_by_code "
    "LEFT JOIN waitlist AS w ON w.id = c.user_id WHERE r.id <> c.user_id GROUP BY c.user_id), "
    "tranches AS (SELECT user_id, max(tranche) AS t FROM referral_code_rewards GROUP BY user_id) "
    "SELECT p.email, coalesce(w.seq, 0), coalesce(w.priority_score, 0), coalesce(w.referred_by_code, ''), "
    "CASE WHEN w.id IS NULL THEN '' WHEN w.invited_at IS NULL THEN 'w' ELSE 'a' END, "
    "coalesce(floor(extract(epoch FROM w.invited_at) * 1000)::bigint, 0), coalesce(w.admitted_code, ''), "
    "coalesce(refs.n, 0), coalesce(refs.boosted, 0), coalesce(tranches.t, 0) "
    "FROM persons AS p LEFT JOIN waitlist AS w ON w.id = p.user_id LEFT JOIN refs ON refs.user_id = p.user_id "
    "LEFT JOIN tranches ON tranches.user_id = p.user_id ORDER BY w.seq NULLS LAST, p.email";

/* The waitlist's counters as IG_KEY_WL_COUNTERS holds them (lua/waitlist.lua). */
static const char SQL_COUNTERS[] =
    "SELECT 'joined', count(*) FROM waitlist UNION ALL SELECT 'admitted', count(*) FROM waitlist_admissions "
    "UNION ALL SELECT 'j:' || floor(extract(epoch FROM created_at) / 86400)::bigint, count(*) FROM waitlist "
    "WHERE created_at IS NOT NULL GROUP BY 1 "
    "UNION ALL SELECT 'a:' || floor(extract(epoch FROM admitted_at) / 86400)::bigint, count(*) FROM waitlist_admissions GROUP BY 1 "
    "UNION ALL SELECT 'first_admit_day', min(floor(extract(epoch FROM admitted_at) / 86400)::bigint) FROM waitlist_admissions "
    "HAVING count(*) > 0";

/* Each recipient's first share: the referral code a join without one is credited to. */
static const char SQL_SHARES[] =
    "DECLARE rehydrate_shares NO SCROLL CURSOR FOR SELECT DISTINCT ON (invited_user_id) invited_email, invite_code "
    "FROM referrals WHERE invited_email NOT LIKE 'erased:%' AND invite_code IS NOT NULL ORDER BY invited_user_id, created_at";

/* Returns the integer reply r or -1 (printing what came instead). */
static long long reply_int(const cli_ctx_t *ctx, redisReply *r, const char *what)
{
    if (r != NULL && r->type == REDIS_REPLY_INTEGER)
        return r->integer;
    cli_error(ctx, "%s: %s", what, r == NULL ? "no reply" : r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    return -1;
}

/*
 * ig_rehydrate_waitlist: the sequence counter raised to floor, reserve
 * numbers reserved, the counters of res (NULL: none) raised. Sets *first to
 * the first reserved number; adds the counters changed to c. Returns 0 or -1.
 */
static int waitlist_call(const cli_ctx_t *ctx, redisContext *redis, int write, unsigned long long floor, unsigned long long reserve,
                         PGresult *res, cli_rh_people_t *c, unsigned long long *first)
{
    int rows = res == NULL ? 0 : PQntuples(res);
    size_t argc = IG_CALL_ARGC(REHYDRATE_WAITLIST, rows);
    const char **argv = calloc(argc, sizeof(*argv));
    size_t *lens = calloc(argc, sizeof(*lens));
    char floor_s[24], reserve_s[24];
    redisReply *r;
    ig_fcall_t call;
    int ret = -1;

    if (argv == NULL || lens == NULL)
        abort();
    snprintf(floor_s, sizeof(floor_s), "%llu", floor);
    snprintf(reserve_s, sizeof(reserve_s), "%llu", reserve);
    ig_fcall_begin(&call, IG_CALL_REHYDRATE_WAITLIST, (size_t)rows, argv, lens, argc);
    const char *fixed[] = {IG_KEY_WL_SEQ, IG_KEY_WL_COUNTERS, write ? "1" : "0", floor_s, reserve_s};
    ig_fcall_strs(&call, fixed, 5);
    for (int i = 0; i != rows; ++i) {
        ig_fcall_str(&call, PQgetvalue(res, i, 0));
        ig_fcall_str(&call, PQgetvalue(res, i, 1));
    }
    r = redisCommandArgv(redis, (int)ig_fcall_end(&call), argv, lens);
    free(argv);
    free(lens);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_INTEGER ||
        r->element[1]->type != REDIS_REPLY_INTEGER)
        cli_error(ctx, "ig_rehydrate_waitlist: %s",
                  r == NULL                      ? redis->errstr
                  : r->type == REDIS_REPLY_ERROR ? r->str
                                                 : "unexpected reply");
    else {
        c->counters += (unsigned long long)r->element[0]->integer;
        *first = (unsigned long long)r->element[1]->integer;
        ret = 0;
    }
    if (r != NULL)
        freeReplyObject(r);
    return ret;
}

/* Appends the ig_rehydrate_person call of row i of res at sequence seq. Returns 0 or -1. */
static int send_person(redisContext *redis, PGresult *res, int i, unsigned long long seq, unsigned boost, int write,
                       const sync_keys_t *keys)
{
    struct {
        unsigned char hash8[IG_EMAIL_HASH_BYTES];
        char code[IG_REFERRAL_CODE_LEN + 1];
        char keys[5][IG_KEY_MAX_BYTES]; /* user, wl_members, wl_class, wl_blocks, referral */
        char seq[24], prio[24];
    } call, *p = &call;
    const char *email = PQgetvalue(res, i, 0), *state = PQgetvalue(res, i, 4);
    long long prio = atoll(PQgetvalue(res, i, 2)) + (long long)boost * atoll(PQgetvalue(res, i, 8));

    ig_email_hash(p->hash8, email, strlen(email), keys->email);
    ig_referral_code(p->code, email, strlen(email), &keys->user);
    snprintf(p->seq, sizeof(p->seq), "%llu", seq);
    snprintf(p->prio, sizeof(p->prio), "%lld", prio);
    ig_key_user(p->keys[0], p->hash8);
    ig_key_wl_members(p->keys[1], seq);
    ig_key_wl_class(p->keys[2], (long)prio);
    ig_key_wl_blocks(p->keys[3], (long)prio);
    ig_key_referral(p->keys[4], p->code);
    IG_FCALL_LOCAL(c, REHYDRATE_PERSON, 0);
    const char *fixed[] = {IG_KEY_WL, p->keys[0], p->keys[1], p->keys[2], p->keys[3], p->keys[4], write ? "1" : "0"};
    ig_fcall_strs(&c, fixed, 7);
    ig_fcall_bin(&c, p->hash8, IG_EMAIL_HASH_BYTES);
    const char *rest[] = {email,
                          state,
                          p->seq,
                          p->prio,
                          PQgetvalue(res, i, 3),
                          PQgetvalue(res, i, 7),
                          PQgetvalue(res, i, 9),
                          PQgetvalue(res, i, 5),
                          PQgetvalue(res, i, 6),
                          p->code};
    ig_fcall_strs(&c, rest, 10);
    return redisAppendCommandArgv(redis, (int)ig_fcall_end(&c), c.argv, c.lens) == REDIS_OK ? 0 : -1;
}

/* Takes one person's reply; returns 1 for seq_taken, 0 for the others (counted into c), -1 on failure. */
static int take_person(const cli_ctx_t *ctx, redisContext *redis, cli_rh_people_t *c)
{
    redisReply *r = NULL;
    int ret = 0;
    const char *v;

    if (redisGetReply(redis, (void **)&r) != REDIS_OK) {
        cli_error(ctx, "ig_rehydrate_person: %s", redis->errstr);
        return -1;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 1 || r->element[0]->type != REDIS_REPLY_STRING) {
        cli_error(ctx, "ig_rehydrate_person: %s", r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        freeReplyObject(r);
        return -1;
    }
    v = r->element[0]->str;
    if (strcmp(v, "seq_taken") == 0)
        ret = 1;
    else {
        ++c->checked;
        c->created += strcmp(v, "created") == 0;
        c->updated += strcmp(v, "updated") == 0;
        c->kept += strcmp(v, "kept") == 0;
    }
    freeReplyObject(r);
    return ret;
}

typedef struct rh_walk_t {
    redisContext *redis;
    const sync_keys_t *keys;
    int write;
    unsigned long long next_seq; /* the next reserved sequence number */
    cli_rh_people_t *c;
} rh_walk_t;

/* One fetch of people: a pipeline of calls, their replies, then the people whose number was taken (cli_rows_fn). */
static int people_rows(cli_ctx_t *ctx, PGresult *res, void *arg)
{
    rh_walk_t *w = arg;
    int n = PQntuples(res), taken[CLI_PG_FETCH_ROWS];

    for (int i = 0; i != n; ++i) {
        unsigned long long seq = strtoull(PQgetvalue(res, i, 1), NULL, 10);
        if (send_person(w->redis, res, i, seq != 0 ? seq : w->next_seq++, ctx->cfg.waitlist_referral_boost, w->write, w->keys) !=
            0) {
            cli_error(ctx, "sending to Redis: %s", w->redis->errstr);
            return -1;
        }
    }
    for (int i = 0; i != n; ++i)
        if ((taken[i] = take_person(ctx, w->redis, w->c)) < 0)
            return -1;
    /* A join sequence number another join took since Redis came back: a fresh one, at the end of the class. */
    for (int i = 0; i != n; ++i) {
        unsigned long long fresh;
        if (!taken[i])
            continue;
        ++w->c->moved;
        if (!w->write) {
            ++w->c->checked;
            continue;
        }
        if (waitlist_call(ctx, w->redis, w->write, 0, 1, NULL, w->c, &fresh) != 0 ||
            send_person(w->redis, res, i, fresh, ctx->cfg.waitlist_referral_boost, w->write, w->keys) != 0 ||
            take_person(ctx, w->redis, w->c) != 0) {
            cli_error(ctx, "placing a person whose join sequence number is taken failed");
            return -1;
        }
    }
    return 0;
}

/* One fetch of first shares, each written unless Redis has one (cli_rows_fn). */
static int share_rows(cli_ctx_t *ctx, PGresult *res, void *arg)
{
    rh_walk_t *w = arg;
    int n = PQntuples(res);

    for (int i = 0; i != n; ++i) {
        const char *email = PQgetvalue(res, i, 0), *code = PQgetvalue(res, i, 1);
        unsigned char hash8[IG_EMAIL_HASH_BYTES];
        char key[IG_KEY_MAX_BYTES];
        ig_email_hash(hash8, email, strlen(email), w->keys->email);
        ig_key_shared(key, hash8);
        if (w->write)
            redisAppendCommand(w->redis, "HSETNX %s %b %s", key, hash8, sizeof(hash8), code);
        else
            redisAppendCommand(w->redis, "HEXISTS %s %b", key, hash8, sizeof(hash8));
    }
    for (int i = 0; i != n; ++i) {
        redisReply *r = NULL;
        long long v;
        if (redisGetReply(w->redis, (void **)&r) != REDIS_OK) {
            cli_error(ctx, "shares: %s", w->redis->errstr);
            return -1;
        }
        v = reply_int(ctx, r, w->write ? "HSETNX" : "HEXISTS");
        freeReplyObject(r);
        if (v < 0)
            return -1;
        w->c->shares += w->write ? (unsigned long long)v : (unsigned long long)!v;
    }
    return 0;
}

int cli_rehydrate_people(cli_ctx_t *ctx, redisContext *redis, PGconn *pg, const sync_keys_t *keys, int write, cli_rh_people_t *c)
{
    PGresult *res = NULL, *counters = NULL;
    unsigned long long floor, reserve, first;
    int ret = -1;

    if ((res = cli_pg_exec(ctx, pg, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", PGRES_COMMAND_OK)) == NULL)
        return -1;
    PQclear(res);
    if ((res = cli_pg_exec(ctx, pg, "SELECT coalesce(max(seq), 0) FROM waitlist", PGRES_TUPLES_OK)) == NULL)
        goto Exit;
    floor = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    if ((res = cli_pg_exec(ctx, pg, SQL_REFERRERS_ONLY, PGRES_TUPLES_OK)) == NULL)
        goto Exit;
    reserve = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    res = NULL;
    if ((counters = cli_pg_exec(ctx, pg, SQL_COUNTERS, PGRES_TUPLES_OK)) == NULL ||
        waitlist_call(ctx, redis, write, floor, reserve, counters, c, &first) != 0)
        goto Exit;
    rh_walk_t w = {redis, keys, write, first, c};
    if (cli_pg_each(ctx, pg, SQL_PEOPLE, "rehydrate_people", people_rows, &w) != 0 ||
        cli_pg_each(ctx, pg, SQL_SHARES, "rehydrate_shares", share_rows, &w) != 0)
        goto Exit;
    ret = 0;
Exit:
    PQclear(counters);
    PQclear(PQexec(pg, "ROLLBACK"));
    return ret;
}
