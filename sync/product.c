#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sodium.h>
#include "ig_keys.h"
#include "pgarray.h"
#include "product.h"

/* An event time ($n, Unix milliseconds) as timestamptz, as apply.c writes them. */
#define AT(n) "(timestamptz 'epoch' + $" #n "::bigint * interval '1 millisecond')"

/* Most parameters of one statement. */
#define MAX_PARAMS 10

/*
 * Records that an event named the person. An address given again after its
 * erasure is recorded again: rows written from then on hold it in clear, and
 * a later erasure must find it.
 */
static const char SQL_REMEMBER[] = "INSERT INTO user_emails AS e (user_id, email, first_seen_at) VALUES ($1, $2, " AT(
    3) ") "
       "ON CONFLICT (user_id) DO UPDATE SET email = EXCLUDED.email, erased_at = NULL "
       "WHERE e.email IS NULL";

static const char SQL_JOIN[] =
    "INSERT INTO waitlist (id, email, use_case, persona, priority_score, seq, referral_code, referred_by_code, joined_ip, "
    "created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, " AT(10) ") ON CONFLICT DO NOTHING";

static const char SQL_OWN_CODE[] =
    "INSERT INTO user_referral_codes (user_id, code, created_at) VALUES ($1, $2, " AT(3) ") ON CONFLICT DO NOTHING";

/* A referral by code; never to oneself, nor to someone the newcomer referred (a cycle). */
static const char SQL_REFER[] =
    "INSERT INTO user_referral_relationships (referrer_user_id, referred_user_id, referral_code, level, status, created_at) "
    "SELECT $1, $2, $3, 1, 'PENDING', " AT(
        4) " WHERE $1::uuid <> $2::uuid AND NOT EXISTS "
           "(SELECT 1 FROM user_referral_relationships WHERE referrer_user_id = $2 AND referred_user_id = $1) "
           "ON CONFLICT DO NOTHING";

/* Without a referral code: the earliest share to the newcomer, under the same conditions. */
static const char SQL_REFER_BY_SHARE[] =
    "INSERT INTO user_referral_relationships (referrer_user_id, referred_user_id, referral_code, level, status, created_at) "
    "SELECT s.inviter_user_id, $1, s.invite_code, 1, 'PENDING', " AT(
        2) " FROM referrals AS s "
           "WHERE s.invited_user_id = $1 AND s.inviter_user_id <> $1 AND s.invite_code IS NOT NULL AND NOT EXISTS "
           "(SELECT 1 FROM user_referral_relationships WHERE referrer_user_id = $1 AND referred_user_id = s.inviter_user_id) "
           "ORDER BY s.created_at, s.id LIMIT 1 ON CONFLICT DO NOTHING";

static const char SQL_ADMIT[] =
    "UPDATE waitlist SET invited_at = " AT(2) ", admitted_code = $3 WHERE id = $1 AND invited_at IS NULL";

static const char SQL_ADMISSION[] = "INSERT INTO waitlist_admissions (event_id, user_id, email, code, admitted_at) "
                                    "VALUES ($1, $2, $3, $4, " AT(5) ") ON CONFLICT DO NOTHING";

static const char SQL_SHARE[] =
    "INSERT INTO referrals (id, inviter_email, invited_email, invite_code, created_at, inviter_user_id, "
    "invited_user_id) VALUES ($1, $2, $3, $4, " AT(5) ", $6, $7) ON CONFLICT DO NOTHING";

static const char SQL_CLICK[] = "UPDATE user_referral_codes SET click_count = click_count + 1 WHERE code = $1";

static const char SQL_EARNED[] = "INSERT INTO referral_code_rewards (user_id, tranche, codes, earned_at, event_id) "
                                 "VALUES ($1, $2, $3, " AT(4) ", $5) ON CONFLICT DO NOTHING";

static const char SQL_LIFECYCLE[] = "INSERT INTO user_lifecycle_events (event_id, user_id, kind, amount_cents, at) "
                                    "VALUES ($1, $2, $3, $4, " AT(5) ") ON CONFLICT DO NOTHING";

/* Churned or flagged before: from then on the user's payments earn nothing. */
static const char SQL_BLOCKED[] = "SELECT EXISTS (SELECT 1 FROM user_lifecycle_events WHERE user_id = $1 "
                                  "AND kind IN ('churned', 'fraud_flagged'))";

/*
 * Activation of a PENDING relationship: ACTIVE, or EXPIRED when it was
 * older than referral_expire_days ($3) at the event's time.
 */
static const char SQL_ACTIVATE[] =
    "UPDATE user_referral_relationships SET "
    "status = CASE WHEN created_at >= " AT(
        2) " - $3::int * interval '1 day' THEN 'ACTIVE' ELSE 'EXPIRED' END, "
           "activated_at = CASE WHEN created_at >= " AT(2) " - $3::int * interval '1 day' THEN " AT(
               2) " END "
                  "WHERE referred_user_id = $1 AND status = 'PENDING' RETURNING id, status, referrer_user_id";

/* The payer's relationship, its referrer's own referrer, and whether it is past its expiry. */
static const char SQL_PAYER[] = "SELECT r.id, r.status, r.referrer_user_id, r.created_at < " AT(
    2) " - $3::int * interval '1 day', "
       "(SELECT up.referrer_user_id FROM user_referral_relationships AS up WHERE up.referred_user_id = r.referrer_user_id "
       "AND up.referrer_user_id <> $1) FROM user_referral_relationships AS r WHERE r.referred_user_id = $1 FOR UPDATE OF r";

static const char SQL_SET_STATUS[] = "UPDATE user_referral_relationships SET status = $2::text, "
                                     "rewarded_at = CASE WHEN $2::text = 'REWARDED' THEN " AT(3) " ELSE rewarded_at END "
                                                                                                 "WHERE id = $1";

/*
 * A referral reward: the next month ($8 = rows of this relationship, type
 * and user so far + 1), unless the cap ($9) is reached. The unique indexes
 * on (event, type, user) and (relationship, type, user, month) make a
 * second application insert nothing.
 */
static const char SQL_REWARD[] =
    "INSERT INTO user_point_transactions (user_id, delta, type, ref_id, note, created_at, event_id, period) "
    "SELECT $1, $2, $3, $4, $5, " AT(
        6) ", $7, c.n + 1 FROM (SELECT count(*) AS n FROM user_point_transactions "
           "WHERE ref_id = $4 AND type = $3 AND user_id = $1) AS c WHERE c.n < $8 ON CONFLICT DO NOTHING";

static const char SQL_SPEND[] = "INSERT INTO user_point_transactions (user_id, delta, type, note, created_at, event_id) "
                                "VALUES ($1, $2, $3, $4, " AT(5) ", $6) ON CONFLICT DO NOTHING";

/* The referrer whose referral counts a lifecycle event of $1 changes. */
static const char SQL_REFERRER[] = "SELECT referrer_user_id FROM user_referral_relationships WHERE referred_user_id = $1";

/*
 * Erasure: the address becomes 'erased:<user_id>' wherever a column holds
 * it (NOT NULL columns keep a value, and a bound code stays bound), the
 * join's client address is dropped, and user_emails keeps the person as
 * erased (email NULL, erased_at), which is how a redemption or a bound code
 * from before the erasure that is applied after it gets anonymised too
 * (invites.c). Redemptions are found by user id, or by address for rows
 * written before they carried one; only those from before the erasure
 * ($2): a person who comes back later is a new record. Taken after
 * SQL_ERASE_LOCK (see invites.c, SQL_LOCK).
 */
static const char SQL_ERASE_LOCK[] = "LOCK TABLE redemptions IN SHARE ROW EXCLUSIVE MODE";
static const char SQL_ERASE[] =
    "WITH p AS (SELECT e.user_id, e.email, 'erased:' || e.user_id::text AS anon FROM user_emails AS e "
    "WHERE e.user_id = $1 AND e.email IS NOT NULL), "
    "w AS (UPDATE waitlist AS t SET email = p.anon, joined_ip = NULL FROM p WHERE t.id = p.user_id OR t.email = p.email), "
    "r1 AS (UPDATE referrals AS t SET inviter_email = CASE WHEN t.inviter_user_id = p.user_id THEN p.anon ELSE t.inviter_email "
    "END, "
    "invited_email = CASE WHEN t.invited_user_id = p.user_id THEN p.anon ELSE t.invited_email END "
    "FROM p WHERE t.inviter_user_id = p.user_id OR t.invited_user_id = p.user_id), "
    "d AS (UPDATE redemptions AS t SET email = 'erased:' || $1::text WHERE (t.user_id = $1::uuid OR (t.user_id IS NULL "
    "AND t.email = (SELECT email FROM p))) AND t.redeemed_at <= " AT(
        2) " AND t.email <> 'erased:' || $1::text), "
           "i AS (UPDATE invites AS t SET issued_to = p.anon FROM p WHERE t.issued_to = p.email), "
           "a AS (UPDATE waitlist_admissions AS t SET email = p.anon FROM p WHERE t.user_id = p.user_id OR t.email = p.email) "
           "INSERT INTO user_emails AS t (user_id, email, first_seen_at, erased_at) VALUES ($1, NULL, " AT(2) ", " AT(
               2) ") "
                  "ON CONFLICT (user_id) DO UPDATE SET email = NULL, erased_at = EXCLUDED.erased_at";

/* Balances of the touched users ($1), from their ledger rows. */
static const char SQL_BALANCES[] =
    "INSERT INTO user_point_balances AS b (user_id, balance, total_earned, total_spent, updated_at) "
    "SELECT u.id, COALESCE(sum(t.delta), 0), COALESCE(sum(t.delta) FILTER (WHERE t.delta > 0), 0), "
    "COALESCE(sum(t.delta) FILTER (WHERE t.delta < 0), 0), clock_timestamp() "
    "FROM unnest($1::uuid[]) AS u(id) LEFT JOIN user_point_transactions AS t ON t.user_id = u.id GROUP BY u.id ORDER BY u.id "
    "ON CONFLICT (user_id) DO UPDATE SET balance = EXCLUDED.balance, total_earned = EXCLUDED.total_earned, "
    "total_spent = EXCLUDED.total_spent, updated_at = EXCLUDED.updated_at";

void sync_product_init(sync_product_t *p, const ig_config_t *cfg, const sync_keys_t *keys)
{
    memset(p, 0, sizeof(*p));
    p->cfg = cfg;
    p->keys = keys;
    for (size_t i = 0; i != SYNC_PRODUCT_ARRAYS; ++i)
        sync_pgarray_init(&p->arrays[i]);
}

void sync_product_dispose(sync_product_t *p)
{
    for (size_t i = 0; i != SYNC_PRODUCT_ARRAYS; ++i)
        sync_pgarray_dispose(&p->arrays[i]);
    free(p->items);
    free(p->slots);
    free(p->touched);
    sync_product_init(p, p->cfg, p->keys);
}

void sync_product_reset(sync_product_t *p)
{
    p->num_touched = 0;
}

/* Adds a user whose balance must be recomputed and written back (once). */
static void touch(sync_product_t *p, const char *uid)
{
    for (size_t i = 0; i != p->num_touched; ++i)
        if (strcmp(p->touched[i].s, uid) == 0)
            return;
    if (p->num_touched == p->cap_touched) {
        size_t cap = p->cap_touched == 0 ? 16 : p->cap_touched * 2;
        sync_user_id_t *t = realloc(p->touched, cap * sizeof(*t));
        if (t == NULL)
            abort();
        p->touched = t;
        p->cap_touched = cap;
    }
    snprintf(p->touched[p->num_touched++].s, IG_USER_ID_BYTES, "%s", uid);
}

/*
 * Runs sql with n text parameters (NULL = SQL NULL). Returns the result
 * (the caller clears it) when it succeeded, otherwise NULL with p->errstr
 * naming the event and the step.
 */
static PGresult *run(sync_product_t *p, PGconn *conn, const sync_event_t *ev, const char *step, const char *sql, int n,
                     const char *const *values)
{
    PGresult *res = PQexecParams(conn, sql, n, NULL, values, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    char desc[SYNC_DB_DESC_BYTES];

    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return res;
    sync_db_describe(desc, sizeof(desc), conn, res, 1);
    snprintf(p->errstr, sizeof(p->errstr), "step=%s event=%s type=%s %s", step, ev->event_id, sync_event_type_name(ev->type), desc);
    PQclear(res);
    return NULL;
}

/* run() for a statement whose result is not needed. */
static int exec(sync_product_t *p, PGconn *conn, const sync_event_t *ev, const char *step, const char *sql, int n,
                const char *const *values)
{
    PGresult *res = run(p, conn, ev, step, sql, n, values);
    if (res == NULL)
        return -1;
    PQclear(res);
    return 0;
}

/* Records that the event named email (user id uid). */
static int remember(sync_product_t *p, PGconn *conn, const sync_event_t *ev, const char *uid, const char *email, const char *at)
{
    const char *v[] = {uid, email, at};
    return exec(p, conn, ev, "remember_email", SQL_REMEMBER, 3, v);
}

/* The person's own referral code row. */
static int own_code(sync_product_t *p, PGconn *conn, const sync_event_t *ev, const char *uid, const char *email, const char *at)
{
    char code[IG_REFERRAL_CODE_LEN + 1];
    ig_referral_code(code, email, strlen(email), &p->keys->user);
    const char *v[] = {uid, code, at};
    return exec(p, conn, ev, "referral_code", SQL_OWN_CODE, 3, v);
}

static int apply_joined(sync_product_t *p, PGconn *conn, const sync_event_t *ev, const char *uid, const char *at)
{
    char score[24], seq[24], code[IG_REFERRAL_CODE_LEN + 1];
    sync_user_id_t referrer;

    snprintf(score, sizeof(score), "%lld", ev->score);
    snprintf(seq, sizeof(seq), "%lld", ev->seq);
    ig_referral_code(code, ev->email, strlen(ev->email), &p->keys->user);
    const char *join[] = {uid, ev->email, ev->use_case, ev->persona, score, seq, code, ev->ref, ev->ip, at};
    if (remember(p, conn, ev, uid, ev->email, at) != 0 || exec(p, conn, ev, "insert_waitlist", SQL_JOIN, 10, join) != 0 ||
        own_code(p, conn, ev, uid, ev->email, at) != 0)
        return -1;
    if (ev->ref == NULL) {
        const char *v[] = {uid, at};
        return exec(p, conn, ev, "refer_by_share", SQL_REFER_BY_SHARE, 2, v);
    }
    sync_user_id_of(&referrer, ev->ref_email, p->keys);
    const char *v[] = {referrer.s, uid, ev->ref, at};
    if (remember(p, conn, ev, referrer.s, ev->ref_email, at) != 0 || own_code(p, conn, ev, referrer.s, ev->ref_email, at) != 0)
        return -1;
    return exec(p, conn, ev, "refer", SQL_REFER, 4, v);
}

static int apply_admitted(sync_product_t *p, PGconn *conn, const sync_event_t *ev, const char *uid, const char *at)
{
    const char *admit[] = {uid, at, ev->code};
    const char *log[] = {ev->event_id, uid, ev->email, ev->code, at};
    if (remember(p, conn, ev, uid, ev->email, at) != 0)
        return -1;
    if (exec(p, conn, ev, "admit", SQL_ADMIT, 3, admit) != 0)
        return -1;
    return exec(p, conn, ev, "admission", SQL_ADMISSION, 5, log);
}

static int apply_shared(sync_product_t *p, PGconn *conn, const sync_event_t *ev, const char *at)
{
    sync_user_id_t inviter, recipient;
    char code[IG_REFERRAL_CODE_LEN + 1];

    sync_user_id_of(&inviter, ev->inviter, p->keys);
    sync_user_id_of(&recipient, ev->recipient, p->keys);
    ig_referral_code(code, ev->inviter, strlen(ev->inviter), &p->keys->user);
    const char *v[] = {ev->share_id, ev->inviter, ev->recipient, code, at, inviter.s, recipient.s};
    if (remember(p, conn, ev, inviter.s, ev->inviter, at) != 0 || remember(p, conn, ev, recipient.s, ev->recipient, at) != 0)
        return -1;
    return exec(p, conn, ev, "insert_share", SQL_SHARE, 7, v);
}

/*
 * Inserts a referral reward of amount points to uid for relationship rel,
 * unless cap rows of this type already exist for it. Touches uid.
 */
static int reward(sync_product_t *p, PGconn *conn, const sync_event_t *ev, const char *uid, unsigned amount, const char *type,
                  const char *rel, const char *note, const char *at, unsigned cap)
{
    char delta[16], limit[16];

    if (amount == 0 || cap == 0)
        return 0;
    snprintf(delta, sizeof(delta), "%u", amount);
    snprintf(limit, sizeof(limit), "%u", cap);
    const char *v[] = {uid, delta, type, rel, note, at, ev->event_id, limit};
    if (exec(p, conn, ev, "reward", SQL_REWARD, 8, v) != 0)
        return -1;
    touch(p, uid);
    return 0;
}

static int apply_activated(sync_product_t *p, PGconn *conn, const sync_event_t *ev, const char *uid, const char *at)
{
    char days[16];
    PGresult *res;
    int ret = 0;

    snprintf(days, sizeof(days), "%u", p->cfg->referral_expire_days);
    const char *v[] = {uid, at, days};
    if ((res = run(p, conn, ev, "activate", SQL_ACTIVATE, 3, v)) == NULL)
        return -1;
    if (PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 1), "ACTIVE") == 0) {
        /* The referrer's count of active referrals changed too. */
        touch(p, PQgetvalue(res, 0, 2));
        ret = reward(p, conn, ev, uid, p->cfg->points_welcome, "REFERRAL_WELCOME", PQgetvalue(res, 0, 0), "Welcome bonus", at, 1);
    }
    PQclear(res);
    return ret;
}

static int apply_paid(sync_product_t *p, PGconn *conn, const sync_event_t *ev, const char *uid, const char *at)
{
    const ig_config_t *cfg = p->cfg;
    char days[16];
    PGresult *res;
    int ret = -1;

    snprintf(days, sizeof(days), "%u", cfg->referral_expire_days);
    const char *v[] = {uid, at, days};
    if ((res = run(p, conn, ev, "payer", SQL_PAYER, 3, v)) == NULL)
        return -1;
    if (PQntuples(res) != 1) {
        ret = 0; /* not referred: a payment earns nobody anything */
        goto Exit;
    }
    const char *rel = PQgetvalue(res, 0, 0), *status = PQgetvalue(res, 0, 1), *referrer = PQgetvalue(res, 0, 2);
    const char *grand = PQgetisnull(res, 0, 4) ? NULL : PQgetvalue(res, 0, 4);
    int past_expiry = strcmp(PQgetvalue(res, 0, 3), "t") == 0;
    if (strcmp(status, "EXPIRED") == 0 || (strcmp(status, "PENDING") == 0 && past_expiry)) {
        const char *set[] = {rel, "EXPIRED", at};
        ret = strcmp(status, "EXPIRED") == 0 ? 0 : exec(p, conn, ev, "expire", SQL_SET_STATUS, 3, set);
        goto Exit;
    }
    if (strcmp(status, "REWARDED") != 0) {
        const char *set[] = {rel, "REWARDED", at};
        if (exec(p, conn, ev, "rewarded", SQL_SET_STATUS, 3, set) != 0 ||
            reward(p, conn, ev, referrer, cfg->points_first_payment, "REFERRAL_FIRST_PAYMENT", rel,
                   "First payment of a referred user", at, 1) != 0)
            goto Exit;
        /* REWARDED counts as an active referral even without an activation. */
        touch(p, referrer);
    } else if (reward(p, conn, ev, referrer, cfg->points_recurring, "REFERRAL_RECURRING", rel, "Monthly payment of a referred user",
                      at, cfg->points_recurring_months) != 0) {
        goto Exit;
    }
    if (grand != NULL && reward(p, conn, ev, grand, cfg->points_l2, "REFERRAL_L2", rel, "Payment of a friend's referral", at,
                                cfg->points_l2_months) != 0)
        goto Exit;
    ret = 0;

Exit:
    PQclear(res);
    return ret;
}

static int apply_lifecycle(sync_product_t *p, PGconn *conn, const sync_event_t *ev, const char *uid, const char *at)
{
    char amount[24];
    PGresult *res;
    int blocked = 0;

    if (remember(p, conn, ev, uid, ev->email, at) != 0)
        return -1;
    if (ev->lifecycle == SYNC_LIFECYCLE_PAID) {
        const char *v[] = {uid};
        if ((res = run(p, conn, ev, "blocked", SQL_BLOCKED, 1, v)) == NULL)
            return -1;
        blocked = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
        PQclear(res);
    }
    snprintf(amount, sizeof(amount), "%lld", ev->amount);
    const char *row[] = {ev->event_id, uid, ev->kind, ev->amount >= 0 ? amount : NULL, at};
    if (exec(p, conn, ev, "insert_lifecycle", SQL_LIFECYCLE, 5, row) != 0)
        return -1;
    switch (ev->lifecycle) {
    case SYNC_LIFECYCLE_ACTIVATED:
        return apply_activated(p, conn, ev, uid, at);
    case SYNC_LIFECYCLE_PAID:
        return blocked ? 0 : apply_paid(p, conn, ev, uid, at);
    default: {
        /* The referrer's counts of active and flagged referrals may change. */
        const char *v[] = {uid};
        if ((res = run(p, conn, ev, "referrer", SQL_REFERRER, 1, v)) == NULL)
            return -1;
        if (PQntuples(res) == 1)
            touch(p, PQgetvalue(res, 0, 0));
        PQclear(res);
        return 0;
    }
    }
}

static int apply_spent(sync_product_t *p, PGconn *conn, const sync_event_t *ev, const char *uid, const char *at)
{
    char delta[24];
    snprintf(delta, sizeof(delta), "%lld", -ev->amount);
    const char *v[] = {uid, delta, ev->kind, ev->note, at, ev->event_id};
    if (remember(p, conn, ev, uid, ev->email, at) != 0 || exec(p, conn, ev, "insert_spend", SQL_SPEND, 6, v) != 0)
        return -1;
    touch(p, uid);
    return 0;
}

int sync_product_apply(sync_product_t *p, PGconn *conn, const sync_event_t *ev)
{
    char at[24], tranche[24];
    sync_user_id_t uid;

    snprintf(at, sizeof(at), "%lld", ev->at_ms);
    if (ev->email != NULL)
        sync_user_id_of(&uid, ev->email, p->keys);
    switch (ev->type) {
    case SYNC_EVENT_JOINED:
        return apply_joined(p, conn, ev, uid.s, at);
    case SYNC_EVENT_ADMITTED:
        return apply_admitted(p, conn, ev, uid.s, at);
    case SYNC_EVENT_SHARED:
        return apply_shared(p, conn, ev, at);
    case SYNC_EVENT_CLICKED: {
        const char *v[] = {ev->ref};
        return exec(p, conn, ev, "click", SQL_CLICK, 1, v);
    }
    case SYNC_EVENT_EARNED: {
        snprintf(tranche, sizeof(tranche), "%lld", ev->tranche);
        const char *v[] = {uid.s, tranche, ev->codes, at, ev->event_id};
        if (remember(p, conn, ev, uid.s, ev->email, at) != 0)
            return -1;
        return exec(p, conn, ev, "earned", SQL_EARNED, 5, v);
    }
    case SYNC_EVENT_LIFECYCLE:
        return apply_lifecycle(p, conn, ev, uid.s, at);
    case SYNC_EVENT_SPENT:
        return apply_spent(p, conn, ev, uid.s, at);
    case SYNC_EVENT_ERASED: {
        const char *v[] = {ev->uid, at};
        if (exec(p, conn, ev, "erase_lock", SQL_ERASE_LOCK, 0, NULL) != 0)
            return -1;
        return exec(p, conn, ev, "erase", SQL_ERASE, 2, v);
    }
    default:
        return 0;
    }
}

int sync_product_finish(sync_product_t *p, PGconn *conn)
{
    sync_pgarray_t ids;
    const char *values[1];
    PGresult *res;
    char desc[SYNC_DB_DESC_BYTES];
    int ret = 0;

    if (p->num_touched == 0)
        return 0;
    sync_pgarray_init(&ids);
    for (size_t i = 0; i != p->num_touched; ++i)
        sync_pgarray_add_str(&ids, p->touched[i].s);
    values[0] = sync_pgarray_finish(&ids);
    res = PQexecParams(conn, SQL_BALANCES, 1, NULL, values, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        sync_db_describe(desc, sizeof(desc), conn, res, 1);
        snprintf(p->errstr, sizeof(p->errstr), "step=balances users=%zu %s", p->num_touched, desc);
        ret = -1;
    }
    PQclear(res);
    sync_pgarray_dispose(&ids);
    return ret;
}

/* ── Runs of joined, clicked and admitted events ─────────────────────────── */

/*
 * The statements of a run. Each takes its rows as arrays in stream order
 * (WITH ORDINALITY numbers them), so that where several rows share a key
 * the first in stream order is the one that counts, as it would be applied
 * one event at a time.
 */

/* SQL_REMEMBER for everyone the run names, each once at their first mention, in user_id order. */
static const char SQL_RUN_REMEMBER[] =
    "INSERT INTO user_emails AS e (user_id, email, first_seen_at) "
    "SELECT DISTINCT ON (u.id) u.id, u.email, timestamptz 'epoch' + u.at_ms * interval '1 millisecond' "
    "FROM unnest($1::uuid[], $2::text[], $3::bigint[]) WITH ORDINALITY AS u(id, email, at_ms, ord) ORDER BY u.id, u.ord "
    "ON CONFLICT (user_id) DO UPDATE SET email = EXCLUDED.email, erased_at = NULL WHERE e.email IS NULL";

/* SQL_JOIN for every join of the run. */
static const char SQL_RUN_JOIN[] =
    "INSERT INTO waitlist (id, email, use_case, persona, priority_score, seq, referral_code, referred_by_code, joined_ip, "
    "created_at) SELECT u.id, u.email, u.use_case, u.persona, u.score, u.seq, u.code, u.ref, u.ip, "
    "timestamptz 'epoch' + u.at_ms * interval '1 millisecond' "
    "FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::int[], $6::bigint[], $7::text[], $8::text[], $9::text[], "
    "$10::bigint[]) WITH ORDINALITY AS u(id, email, use_case, persona, score, seq, code, ref, ip, at_ms, ord) "
    "ORDER BY u.ord ON CONFLICT DO NOTHING";

/* SQL_OWN_CODE for the joiners and their referrers. */
static const char SQL_RUN_CODES[] = "INSERT INTO user_referral_codes (user_id, code, created_at) "
                                    "SELECT u.id, u.code, timestamptz 'epoch' + u.at_ms * interval '1 millisecond' "
                                    "FROM unnest($1::uuid[], $2::text[], $3::bigint[]) WITH ORDINALITY AS u(id, code, at_ms, ord) "
                                    "ORDER BY u.ord ON CONFLICT DO NOTHING";

/*
 * What PostgreSQL holds about each join's referral ($1 the newcomers, $2
 * their referrers or NULL), as the run began: whether the newcomer is
 * referred already, whether they referred their referrer, and, for a join
 * without a referral code, the shares SQL_REFER_BY_SHARE could choose, in
 * its order. Only the joins with something to report have rows.
 */
static const char SQL_RUN_REFER_FACTS[] =
    "SELECT q.ord, q.referred, q.reverse, q.inviter, q.code FROM (SELECT u.ord, "
    "EXISTS (SELECT 1 FROM user_referral_relationships AS x WHERE x.referred_user_id = u.n) AS referred, "
    "(u.r IS NOT NULL AND EXISTS (SELECT 1 FROM user_referral_relationships AS x "
    "WHERE x.referrer_user_id = u.n AND x.referred_user_id = u.r)) AS reverse, "
    "s.inviter_user_id AS inviter, s.invite_code AS code, s.created_at, s.id "
    "FROM unnest($1::uuid[], $2::uuid[]) WITH ORDINALITY AS u(n, r, ord) LEFT JOIN LATERAL "
    "(SELECT s.inviter_user_id, s.invite_code, s.created_at, s.id FROM referrals AS s WHERE u.r IS NULL "
    "AND s.invited_user_id = u.n AND s.inviter_user_id <> u.n AND s.invite_code IS NOT NULL AND NOT EXISTS "
    "(SELECT 1 FROM user_referral_relationships AS y WHERE y.referrer_user_id = u.n AND y.referred_user_id = s.inviter_user_id)) "
    "AS s ON true) AS q WHERE q.referred OR q.reverse OR q.inviter IS NOT NULL ORDER BY q.ord, q.created_at, q.id";

/* The relationships the run decided to create. */
static const char SQL_RUN_REFER[] =
    "INSERT INTO user_referral_relationships (referrer_user_id, referred_user_id, referral_code, level, status, created_at) "
    "SELECT u.r, u.n, u.code, 1, 'PENDING', timestamptz 'epoch' + u.at_ms * interval '1 millisecond' "
    "FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::bigint[]) WITH ORDINALITY AS u(r, n, code, at_ms, ord) "
    "ORDER BY u.ord ON CONFLICT DO NOTHING";

/* SQL_CLICK for a group of clicks, counted per code. */
static const char SQL_RUN_CLICKS[] =
    "UPDATE user_referral_codes AS c SET click_count = c.click_count + u.n "
    "FROM (SELECT code, count(*)::int AS n FROM unnest($1::text[]) AS x(code) GROUP BY code) AS u WHERE c.code = u.code";

/* SQL_ADMIT for a group of admissions: the first of each person's counts. */
static const char SQL_RUN_ADMIT[] =
    "UPDATE waitlist AS w SET invited_at = timestamptz 'epoch' + u.at_ms * interval '1 millisecond', admitted_code = u.code "
    "FROM (SELECT DISTINCT ON (x.id) x.id, x.at_ms, x.code FROM unnest($1::uuid[], $2::bigint[], $3::text[]) "
    "WITH ORDINALITY AS x(id, at_ms, code, ord) ORDER BY x.id, x.ord) AS u WHERE w.id = u.id AND w.invited_at IS NULL";

/* SQL_ADMISSION for every admission of the run. */
static const char SQL_RUN_ADMISSIONS[] =
    "INSERT INTO waitlist_admissions (event_id, user_id, email, code, admitted_at) "
    "SELECT u.event_id, u.id, u.email, u.code, timestamptz 'epoch' + u.at_ms * interval '1 millisecond' "
    "FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::bigint[]) AS u(event_id, id, email, code, at_ms) "
    "ON CONFLICT DO NOTHING";

/* The array parameters of a run, one per column; each RUN_* list gives a statement its $1, $2, ... in order. */
enum {
    C_MAIL_ID,
    C_MAIL_EMAIL,
    C_MAIL_AT,
    C_JOIN_ID,
    C_JOIN_EMAIL,
    C_JOIN_USE_CASE,
    C_JOIN_PERSONA,
    C_JOIN_SCORE,
    C_JOIN_SEQ,
    C_JOIN_CODE,
    C_JOIN_REF,
    C_JOIN_IP,
    C_JOIN_AT,
    C_CODE_ID,
    C_CODE_CODE,
    C_CODE_AT,
    C_FACT_NEWCOMER,
    C_FACT_REFERRER,
    C_REFER_REFERRER,
    C_REFER_REFERRED,
    C_REFER_CODE,
    C_REFER_AT,
    C_CLICK_BEFORE,
    C_CLICK_AFTER,
    C_ADMIT_BEFORE_ID,
    C_ADMIT_BEFORE_AT,
    C_ADMIT_BEFORE_CODE,
    C_ADMIT_AFTER_ID,
    C_ADMIT_AFTER_AT,
    C_ADMIT_AFTER_CODE,
    C_ADMISSION_EVENT,
    C_ADMISSION_ID,
    C_ADMISSION_EMAIL,
    C_ADMISSION_CODE,
    C_ADMISSION_AT,
    C_COUNT
};
_Static_assert(C_COUNT == SYNC_PRODUCT_ARRAYS, "SYNC_PRODUCT_ARRAYS must match the column list");

static const int RUN_REMEMBER[] = {C_MAIL_ID, C_MAIL_EMAIL, C_MAIL_AT};
static const int RUN_JOIN[] = {C_JOIN_ID,  C_JOIN_EMAIL, C_JOIN_USE_CASE, C_JOIN_PERSONA, C_JOIN_SCORE,
                               C_JOIN_SEQ, C_JOIN_CODE,  C_JOIN_REF,      C_JOIN_IP,      C_JOIN_AT};
static const int RUN_CODES[] = {C_CODE_ID, C_CODE_CODE, C_CODE_AT};
static const int RUN_FACTS[] = {C_FACT_NEWCOMER, C_FACT_REFERRER};
static const int RUN_REFER[] = {C_REFER_REFERRER, C_REFER_REFERRED, C_REFER_CODE, C_REFER_AT};
static const int RUN_CLICKS_BEFORE[] = {C_CLICK_BEFORE};
static const int RUN_CLICKS_AFTER[] = {C_CLICK_AFTER};
static const int RUN_ADMIT_BEFORE[] = {C_ADMIT_BEFORE_ID, C_ADMIT_BEFORE_AT, C_ADMIT_BEFORE_CODE};
static const int RUN_ADMIT_AFTER[] = {C_ADMIT_AFTER_ID, C_ADMIT_AFTER_AT, C_ADMIT_AFTER_CODE};
static const int RUN_ADMISSIONS[] = {C_ADMISSION_EVENT, C_ADMISSION_ID, C_ADMISSION_EMAIL, C_ADMISSION_CODE, C_ADMISSION_AT};

#define NPARAMS(list) ((int)(sizeof(list) / sizeof(list[0])))

/* A key of the relationship set: referrer's and referred user's ids. */
#define PAIR_BYTES (2 * IG_USER_ID_BYTES)

/* What a run derives from one of its events. */
typedef struct sync_product_item_t {
    sync_user_id_t id;                       /**< the person the event names (joined, admitted) */
    sync_user_id_t referrer;                 /**< joined with ref: the referrer */
    char code[IG_REFERRAL_CODE_LEN + 1];     /**< joined: the newcomer's own referral code */
    char ref_code[IG_REFERRAL_CODE_LEN + 1]; /**< joined with ref: the referrer's own referral code */
    char pair[PAIR_BYTES];                   /**< joined: the relationship the run created for it, as a set key */
} sync_product_item_t;

/*
 * Open-addressing sets of strings borrowed from the run's items (ids,
 * codes, relationship keys); three share p->slots, each a power of two.
 */
typedef struct run_set_t {
    const char **slots;
    size_t mask;
} run_set_t;

static size_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s != '\0'; ++s)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (size_t)h;
}

/* The slot of s in set: where it is, or the empty one where it would go. */
static const char **set_slot(const run_set_t *set, const char *s)
{
    for (size_t i = hash_str(s) & set->mask;; i = (i + 1) & set->mask)
        if (set->slots[i] == NULL || strcmp(set->slots[i], s) == 0)
            return &set->slots[i];
}

static int set_has(const run_set_t *set, const char *s)
{
    return *set_slot(set, s) != NULL;
}

/* Adds s (borrowed: it must outlive the run). */
static void set_add(run_set_t *set, const char *s)
{
    const char **slot = set_slot(set, s);
    if (*slot == NULL)
        *slot = s;
}

/* Sizes p's items for n events and three sets of at most 2n keys each; returns the sets' slot count. */
static size_t run_reserve(sync_product_t *p, size_t n)
{
    size_t per_set = 16;
    while (per_set < 4 * n)
        per_set *= 2;
    if (n > p->cap_items) {
        free(p->items);
        if ((p->items = malloc(n * sizeof(*p->items))) == NULL)
            abort();
        p->cap_items = n;
    }
    if (3 * per_set > p->cap_slots) {
        free(p->slots);
        if ((p->slots = malloc(3 * per_set * sizeof(*p->slots))) == NULL)
            abort();
        p->cap_slots = 3 * per_set;
    }
    memset(p->slots, 0, 3 * per_set * sizeof(*p->slots));
    return per_set;
}

/*
 * Runs sql with the arrays listed in cols. Returns the result (the caller
 * clears it) when its status is want, otherwise NULL with p->errstr naming
 * the step and the run's first event.
 */
static PGresult *run_sql(sync_product_t *p, PGconn *conn, const sync_event_t *first, size_t n, const char *step, const char *sql,
                         const int *cols, int ncols, ExecStatusType want)
{
    char desc[SYNC_DB_DESC_BYTES];
    PGresult *res = sync_db_exec_arrays(conn, sql, p->arrays, cols, ncols);
    if (PQresultStatus(res) == want)
        return res;
    sync_db_describe(desc, sizeof(desc), conn, res, 1);
    snprintf(p->errstr, sizeof(p->errstr), "step=%s events=%zu first_event=%s %s", step, n, first->event_id, desc);
    PQclear(res);
    return NULL;
}

/* run_sql for a statement without rows, skipped when its first array is empty. */
static int run_exec(sync_product_t *p, PGconn *conn, const sync_event_t *first, size_t n, const char *step, const char *sql,
                    const int *cols, int ncols)
{
    PGresult *res;

    if (p->arrays[cols[0]].count == 0)
        return 0;
    if ((res = run_sql(p, conn, first, n, step, sql, cols, ncols, PGRES_COMMAND_OK)) == NULL)
        return -1;
    PQclear(res);
    return 0;
}

/* Adds a row to the user_emails arrays. */
static void run_remember(sync_product_t *p, const char *uid, const char *email, long long at_ms)
{
    sync_pgarray_add_str(&p->arrays[C_MAIL_ID], uid);
    sync_pgarray_add_str(&p->arrays[C_MAIL_EMAIL], email);
    sync_pgarray_add_int(&p->arrays[C_MAIL_AT], at_ms);
}

/* Adds a row to the referral code arrays. */
static void run_code(sync_product_t *p, const char *uid, const char *code, long long at_ms)
{
    sync_pgarray_add_str(&p->arrays[C_CODE_ID], uid);
    sync_pgarray_add_str(&p->arrays[C_CODE_CODE], code);
    sync_pgarray_add_int(&p->arrays[C_CODE_AT], at_ms);
}

/*
 * Fills the arrays of the run's statements from its events, deciding for
 * each click and admission whether it goes before the run's inserts or
 * after them (a join before it in the run created its code or its person).
 */
static void run_collect(sync_product_t *p, const sync_event_t *const *evs, size_t n, run_set_t *joined, run_set_t *codes)
{
    sync_pgarray_t *c = p->arrays;

    for (size_t i = 0; i != C_COUNT; ++i)
        sync_pgarray_reset(&c[i]);
    for (size_t i = 0; i != n; ++i) {
        const sync_event_t *ev = evs[i];
        sync_product_item_t *it = &p->items[i];
        int after;

        it->pair[0] = '\0';
        switch (ev->type) {
        case SYNC_EVENT_JOINED:
            sync_user_id_of(&it->id, ev->email, p->keys);
            ig_referral_code(it->code, ev->email, strlen(ev->email), &p->keys->user);
            run_remember(p, it->id.s, ev->email, ev->at_ms);
            sync_pgarray_add_str(&c[C_JOIN_ID], it->id.s);
            sync_pgarray_add_str(&c[C_JOIN_EMAIL], ev->email);
            sync_pgarray_add_str(&c[C_JOIN_USE_CASE], ev->use_case);
            sync_pgarray_add_str(&c[C_JOIN_PERSONA], ev->persona);
            sync_pgarray_add_int(&c[C_JOIN_SCORE], ev->score);
            sync_pgarray_add_int(&c[C_JOIN_SEQ], ev->seq);
            sync_pgarray_add_str(&c[C_JOIN_CODE], it->code);
            sync_pgarray_add_str(&c[C_JOIN_REF], ev->ref);
            sync_pgarray_add_str(&c[C_JOIN_IP], ev->ip);
            sync_pgarray_add_int(&c[C_JOIN_AT], ev->at_ms);
            run_code(p, it->id.s, it->code, ev->at_ms);
            set_add(joined, it->id.s);
            set_add(codes, it->code);
            sync_pgarray_add_str(&c[C_FACT_NEWCOMER], it->id.s);
            if (ev->ref == NULL) {
                sync_pgarray_add_str(&c[C_FACT_REFERRER], NULL);
                break;
            }
            sync_user_id_of(&it->referrer, ev->ref_email, p->keys);
            ig_referral_code(it->ref_code, ev->ref_email, strlen(ev->ref_email), &p->keys->user);
            run_remember(p, it->referrer.s, ev->ref_email, ev->at_ms);
            run_code(p, it->referrer.s, it->ref_code, ev->at_ms);
            set_add(codes, it->ref_code);
            sync_pgarray_add_str(&c[C_FACT_REFERRER], it->referrer.s);
            break;
        case SYNC_EVENT_CLICKED:
            sync_pgarray_add_str(&c[set_has(codes, ev->ref) ? C_CLICK_AFTER : C_CLICK_BEFORE], ev->ref);
            break;
        case SYNC_EVENT_ADMITTED:
            sync_user_id_of(&it->id, ev->email, p->keys);
            run_remember(p, it->id.s, ev->email, ev->at_ms);
            after = set_has(joined, it->id.s);
            sync_pgarray_add_str(&c[after ? C_ADMIT_AFTER_ID : C_ADMIT_BEFORE_ID], it->id.s);
            sync_pgarray_add_int(&c[after ? C_ADMIT_AFTER_AT : C_ADMIT_BEFORE_AT], ev->at_ms);
            sync_pgarray_add_str(&c[after ? C_ADMIT_AFTER_CODE : C_ADMIT_BEFORE_CODE], ev->code);
            sync_pgarray_add_str(&c[C_ADMISSION_EVENT], ev->event_id);
            sync_pgarray_add_str(&c[C_ADMISSION_ID], it->id.s);
            sync_pgarray_add_str(&c[C_ADMISSION_EMAIL], ev->email);
            sync_pgarray_add_str(&c[C_ADMISSION_CODE], ev->code);
            sync_pgarray_add_int(&c[C_ADMISSION_AT], ev->at_ms);
            break;
        default:
            assert(!"not an event of a run");
        }
    }
}

/* Writes the set key of the relationship referrer -> referred into out. */
static void pair_key(char out[PAIR_BYTES], const char *referrer, const char *referred)
{
    snprintf(out, PAIR_BYTES, "%.36s%.36s", referrer, referred);
}

/*
 * Decides the run's referral relationships in stream order, as SQL_REFER
 * and SQL_REFER_BY_SHARE would one join at a time: facts holds
 * SQL_RUN_REFER_FACTS's rows (numbered by join, 1-based); referred and
 * pairs collect the relationships decided so far (by referred user, and by
 * referrer and referred). Fills the SQL_RUN_REFER arrays.
 */
static void run_decide(sync_product_t *p, const sync_event_t *const *evs, size_t n, const PGresult *facts, run_set_t *referred,
                       run_set_t *pairs)
{
    int rows = PQntuples(facts), row = 0;
    long long join = 0;
    char key[PAIR_BYTES];

    for (size_t i = 0; i != n; ++i) {
        const sync_event_t *ev = evs[i];
        sync_product_item_t *it = &p->items[i];
        const char *referrer = NULL, *code = NULL;
        int first = row, known = 0;

        if (ev->type != SYNC_EVENT_JOINED)
            continue;
        ++join;
        while (row != rows && atoll(PQgetvalue(facts, row, 0)) == join)
            ++row;
        known = row != first;
        /* One relationship per referred user: an earlier one, in PostgreSQL or in this run, stands. */
        if (set_has(referred, it->id.s) || (known && strcmp(PQgetvalue(facts, first, 1), "t") == 0))
            continue;
        if (ev->ref != NULL) {
            /* No self-referral, and no referral of the newcomer's own referrer. */
            pair_key(key, it->id.s, it->referrer.s);
            if (strcmp(it->referrer.s, it->id.s) == 0 || (known && strcmp(PQgetvalue(facts, first, 2), "t") == 0) ||
                set_has(pairs, key))
                continue;
            referrer = it->referrer.s;
            code = ev->ref;
        } else {
            /* The earliest eligible share whose inviter the newcomer did not refer in this run. */
            for (int r = first; r != row && referrer == NULL; ++r) {
                if (PQgetisnull(facts, r, 3))
                    continue;
                pair_key(key, it->id.s, PQgetvalue(facts, r, 3));
                if (!set_has(pairs, key)) {
                    referrer = PQgetvalue(facts, r, 3);
                    code = PQgetvalue(facts, r, 4);
                }
            }
            if (referrer == NULL)
                continue;
        }
        pair_key(it->pair, referrer, it->id.s);
        set_add(pairs, it->pair);
        set_add(referred, it->id.s);
        sync_pgarray_add_str(&p->arrays[C_REFER_REFERRER], referrer);
        sync_pgarray_add_str(&p->arrays[C_REFER_REFERRED], it->id.s);
        sync_pgarray_add_str(&p->arrays[C_REFER_CODE], code);
        sync_pgarray_add_int(&p->arrays[C_REFER_AT], ev->at_ms);
    }
}

/* The relationships of the run's joins: read what PostgreSQL holds, decide, insert. */
static int run_refer(sync_product_t *p, PGconn *conn, const sync_event_t *const *evs, size_t n, run_set_t *referred,
                     run_set_t *pairs)
{
    PGresult *res;

    if (p->arrays[C_FACT_NEWCOMER].count == 0)
        return 0;
    if ((res = run_sql(p, conn, evs[0], n, "refer_facts", SQL_RUN_REFER_FACTS, RUN_FACTS, NPARAMS(RUN_FACTS), PGRES_TUPLES_OK)) ==
        NULL)
        return -1;
    run_decide(p, evs, n, res, referred, pairs);
    /* The decided rows copied the strings they need into the arrays. */
    PQclear(res);
    return run_exec(p, conn, evs[0], n, "refer", SQL_RUN_REFER, RUN_REFER, NPARAMS(RUN_REFER));
}

int sync_product_apply_run(sync_product_t *p, PGconn *conn, const sync_event_t *const *evs, size_t n)
{
    size_t per_set;
    run_set_t joined, codes, pairs, referred;

    if (n == 0)
        return 0;
    per_set = run_reserve(p, n);
    joined = (run_set_t){p->slots, per_set - 1};
    codes = (run_set_t){p->slots + per_set, per_set - 1};
    pairs = (run_set_t){p->slots + 2 * per_set, per_set - 1};
    run_collect(p, evs, n, &joined, &codes);
    /* The joined set is done with: its slots hold the relationships decided by referred user. */
    memset(joined.slots, 0, per_set * sizeof(*joined.slots));
    referred = joined;
    if (run_exec(p, conn, evs[0], n, "remember_emails", SQL_RUN_REMEMBER, RUN_REMEMBER, NPARAMS(RUN_REMEMBER)) != 0 ||
        run_exec(p, conn, evs[0], n, "clicks_before", SQL_RUN_CLICKS, RUN_CLICKS_BEFORE, NPARAMS(RUN_CLICKS_BEFORE)) != 0 ||
        run_exec(p, conn, evs[0], n, "admit_before", SQL_RUN_ADMIT, RUN_ADMIT_BEFORE, NPARAMS(RUN_ADMIT_BEFORE)) != 0 ||
        run_exec(p, conn, evs[0], n, "insert_waitlist", SQL_RUN_JOIN, RUN_JOIN, NPARAMS(RUN_JOIN)) != 0 ||
        run_exec(p, conn, evs[0], n, "referral_codes", SQL_RUN_CODES, RUN_CODES, NPARAMS(RUN_CODES)) != 0 ||
        run_refer(p, conn, evs, n, &referred, &pairs) != 0 ||
        run_exec(p, conn, evs[0], n, "clicks_after", SQL_RUN_CLICKS, RUN_CLICKS_AFTER, NPARAMS(RUN_CLICKS_AFTER)) != 0 ||
        run_exec(p, conn, evs[0], n, "admit_after", SQL_RUN_ADMIT, RUN_ADMIT_AFTER, NPARAMS(RUN_ADMIT_AFTER)) != 0 ||
        run_exec(p, conn, evs[0], n, "admissions", SQL_RUN_ADMISSIONS, RUN_ADMISSIONS, NPARAMS(RUN_ADMISSIONS)) != 0)
        return -1;
    return 0;
}
