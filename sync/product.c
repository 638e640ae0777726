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

static const char SQL_SHARE[] =
    "INSERT INTO referrals (id, inviter_email, invited_email, invite_code, created_at, inviter_user_id, "
    "invited_user_id) VALUES ($1, $2, $3, $4, " AT(5) ", $6, $7) ON CONFLICT DO NOTHING";

static const char SQL_EARNED[] = "INSERT INTO referral_code_rewards (user_id, tranche, codes, earned_at, event_id) "
                                 "VALUES ($1, $2, $3, " AT(4) ", $5) ON CONFLICT DO NOTHING";

static const char SQL_LIFECYCLE[] = "INSERT INTO user_lifecycle_events (event_id, user_id, kind, amount_cents, at) "
                                    "VALUES ($1, $2, $3, $4, " AT(5) ") ON CONFLICT DO NOTHING";

/* Churned or flagged before: from then on the user's payments earn nothing. */
static const char SQL_BLOCKED[] = "SELECT EXISTS (SELECT 1 FROM user_lifecycle_events WHERE user_id = $1 "
                                  "AND kind IN ('churned', 'fraud_flagged'))";

/*
 * Activation of the PENDING relationships of $1 (both levels): ACTIVE, or
 * EXPIRED when they were older than referral_expire_days ($3) at the
 * event's time.
 */
static const char SQL_ACTIVATE[] =
    "UPDATE user_referral_relationships SET "
    "status = CASE WHEN created_at >= " AT(
        2) " - $3::int * interval '1 day' THEN 'ACTIVE' ELSE 'EXPIRED' END, "
           "activated_at = CASE WHEN created_at >= " AT(2) " - $3::int * interval '1 day' THEN " AT(
               2) " END "
                  "WHERE referred_user_id = $1 AND status = 'PENDING' RETURNING id, status, referrer_user_id, level";

/* The payer's direct relationship, their level-2 referrer, and whether the relationship is past its expiry. */
static const char SQL_PAYER[] = "SELECT r.id, r.status, r.referrer_user_id, r.created_at < " AT(
    2) " - $3::int * interval '1 day', "
       "(SELECT l2.referrer_user_id FROM user_referral_relationships AS l2 WHERE l2.referred_user_id = $1 AND l2.level = 2) "
       "FROM user_referral_relationships AS r WHERE r.referred_user_id = $1 AND r.level = 1 FOR UPDATE OF r";

/* The status of $1's relationships, both levels alike. */
static const char SQL_SET_STATUS[] = "UPDATE user_referral_relationships SET status = $2::text, "
                                     "rewarded_at = CASE WHEN $2::text = 'REWARDED' THEN " AT(3) " ELSE rewarded_at END "
                                                                                                 "WHERE referred_user_id = $1";

/*
 * A referral reward paid once per relationship, type and user (the welcome,
 * the first payment): period 1. The unique indexes on (event, type, user)
 * and (relationship, type, user, period) make a second application insert
 * nothing.
 */
static const char SQL_REWARD_ONCE[] =
    "INSERT INTO user_point_transactions (user_id, delta, type, ref_id, note, created_at, event_id, period) "
    "VALUES ($1, $2, $3, $4, $5, " AT(6) ", $7, 1) ON CONFLICT DO NOTHING";

/*
 * A monthly referral reward (recurring, level 2): its period is the billing
 * month of the payment: n when the payment falls between the first payment
 * (the relationship's rewarded_at) plus n calendar months and plus n + 1
 * (UTC; month ends clamp as in PostgreSQL's interval arithmetic, Jan 31 +
 * 1 month = Feb 28), plus $9 (0: the first payment's month is 0, so
 * recurring rewards are months 1..cap; 1: it is 1, so level-2 rewards are
 * months 1..cap). Only periods 1..$8 (the cap) pay. The unique index on
 * (relationship, type, user, period) keeps one reward per billing month
 * however many payments fall in it.
 */
static const char SQL_REWARD_MONTHLY[] =
    "INSERT INTO user_point_transactions (user_id, delta, type, ref_id, note, created_at, event_id, period) "
    "SELECT $1, $2, $3, $4, $5, " AT(
        6) ", $7, m.period "
           "FROM (SELECT c.n + CASE WHEN c.first + (c.n + 1) * interval '1 month' <= c.at THEN 1 ELSE 0 END + $9::int AS period "
           "FROM (SELECT f.first, f.at, (12 * extract(year FROM age(f.at, f.first)) + extract(month FROM age(f.at, f.first)))::int "
           "AS n "
           "FROM (SELECT r.rewarded_at AT TIME ZONE 'UTC' AS first, " AT(
               6) " AT TIME ZONE 'UTC' AS at "
                  "FROM user_referral_relationships AS r WHERE r.id = $4 AND r.rewarded_at IS NOT NULL) AS f) AS c) AS m "
                  "WHERE m.period BETWEEN 1 AND $8::int ON CONFLICT DO NOTHING";

static const char SQL_SPEND[] = "INSERT INTO user_point_transactions (user_id, delta, type, note, created_at, event_id) "
                                "VALUES ($1, $2, $3, $4, " AT(5) ", $6) ON CONFLICT DO NOTHING";

/* The referrer whose referral counts a lifecycle event of $1 changes. */
static const char SQL_REFERRER[] =
    "SELECT referrer_user_id FROM user_referral_relationships WHERE referred_user_id = $1 AND level = 1";

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
    "w AS (UPDATE waitlist AS t SET email = p.anon, joined_ip = NULL FROM p WHERE t.id = p.user_id), "
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
 * Inserts a referral reward of amount points to uid for relationship rel:
 * once (cap 0), or for the billing month of the payment at `at` when that
 * month, counted from month_base at the first payment, is within 1..cap
 * (SQL_REWARD_MONTHLY). Touches uid.
 */
static int reward(sync_product_t *p, PGconn *conn, const sync_event_t *ev, const char *uid, unsigned amount, const char *type,
                  const char *rel, const char *note, const char *at, unsigned cap, unsigned month_base)
{
    char delta[16], limit[16], base[16];

    if (amount == 0)
        return 0;
    snprintf(delta, sizeof(delta), "%u", amount);
    snprintf(limit, sizeof(limit), "%u", cap);
    snprintf(base, sizeof(base), "%u", month_base);
    const char *v[] = {uid, delta, type, rel, note, at, ev->event_id, limit, base};
    if (cap == 0 ? exec(p, conn, ev, "reward", SQL_REWARD_ONCE, 7, v) != 0
                 : exec(p, conn, ev, "reward_monthly", SQL_REWARD_MONTHLY, 9, v) != 0)
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
    for (int i = 0; i != PQntuples(res) && ret == 0; ++i) {
        if (strcmp(PQgetvalue(res, i, 3), "1") != 0 || strcmp(PQgetvalue(res, i, 1), "ACTIVE") != 0)
            continue;
        /* The referrer's count of active referrals changed too. */
        touch(p, PQgetvalue(res, i, 2));
        ret =
            reward(p, conn, ev, uid, p->cfg->points_welcome, "REFERRAL_WELCOME", PQgetvalue(res, i, 0), "Welcome bonus", at, 0, 0);
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
        const char *set[] = {uid, "EXPIRED", at};
        ret = strcmp(status, "EXPIRED") == 0 ? 0 : exec(p, conn, ev, "expire", SQL_SET_STATUS, 3, set);
        goto Exit;
    }
    if (strcmp(status, "REWARDED") != 0) {
        const char *set[] = {uid, "REWARDED", at};
        if (exec(p, conn, ev, "rewarded", SQL_SET_STATUS, 3, set) != 0 ||
            reward(p, conn, ev, referrer, cfg->points_first_payment, "REFERRAL_FIRST_PAYMENT", rel,
                   "First payment of a referred user", at, 0, 0) != 0)
            goto Exit;
        /* REWARDED counts as an active referral even without an activation. */
        touch(p, referrer);
    } else if (cfg->points_recurring_months != 0 &&
               reward(p, conn, ev, referrer, cfg->points_recurring, "REFERRAL_RECURRING", rel, "Monthly payment of a referred user",
                      at, cfg->points_recurring_months, 0) != 0) {
        goto Exit;
    }
    if (grand != NULL && cfg->points_l2_months != 0 &&
        reward(p, conn, ev, grand, cfg->points_l2, "REFERRAL_L2", rel, "Payment of a friend's referral", at, cfg->points_l2_months,
               1) != 0)
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
    case SYNC_EVENT_SHARED:
        return apply_shared(p, conn, ev, at);
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
