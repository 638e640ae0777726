#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include "layout.h"
#include "ig_keys.h"
#include "ig_log.h"
#include "db.h"
#include "gate_run.h"
#include "metrics.h"

#define SYNC_GATE_REDIS_TIMEOUT_MS 2000
/*
 * Session settings: a count that takes longer than the timeout is abandoned
 * (the gate keeps its last decision); JIT compilation would cost more than it
 * saves on statements that run every second.
 */
#define SYNC_GATE_SESSION "SET statement_timeout = '10s'; SET jit = off"

/*
 * Nothing below reads redemptions: a trigger of migration 011 counts each
 * inserted redemption in redemption_minutes (per minute) and network_minutes
 * (per client network and minute), each row summed over its writers (the
 * sessions that inserted). The window's totals are sums over its minutes.
 */

/* Delete what left the window this often. */
#define SYNC_GATE_PRUNE_INTERVAL_MS 60000
/*
 * The transaction that writes network_bursts holds this advisory lock (the
 * bytes of "iggt", key 0), so that the gates of two daemons running side by
 * side take turns instead of deadlocking on each other's rows.
 */
#define SYNC_GATE_LOCK "SELECT pg_advisory_xact_lock(1768384372, 0)"
/* A rebuild reads the whole window of network_minutes, once per start: longer than an evaluation may take. */
#define SYNC_GATE_REBUILD_TIMEOUT "SET LOCAL statement_timeout = '300s'"

/*
 * The configured disposable domains ($1, comma-separated) into
 * gate_disposable_domains, for the trigger: what is no longer configured is
 * deleted, what is missing inserted, so a list that did not change writes
 * nothing. One statement, so the trigger sees the old list or the new one.
 * Returns the domains removed and added.
 */
static const char SQL_DOMAINS[] =
    "WITH want AS (SELECT DISTINCT d FROM unnest(string_to_array($1::text, ',')) AS d WHERE d <> ''),"
    " gone AS (DELETE FROM gate_disposable_domains AS g WHERE NOT EXISTS (SELECT 1 FROM want WHERE want.d = g.domain)"
    "  RETURNING 1),"
    " added AS (INSERT INTO gate_disposable_domains (domain) SELECT d FROM want ON CONFLICT DO NOTHING RETURNING 1)"
    " SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM added)";

/*
 * The minutes watched for new redemptions ($1 the end of the window, $2 how
 * many minutes before the minute of $1 the first of them lies: the
 * SYNC_GATE_RECHECK_MINUTES) and their redemptions, and the same as two
 * arrays (timestamptz[], bigint[]) in minute order. Every redemption with a
 * network is counted in redemption_minutes too, in the same transaction, so
 * a minute whose total did not change got no network's redemption either.
 */
#define SQL_WATCHED_MINUTES                                                                                                        \
    "SELECT minute, sum(redeemed) AS n FROM redemption_minutes"                                                                    \
    " WHERE minute >= date_trunc('minute', $1::timestamptz) - $2::int * interval '1 minute' GROUP BY minute"
#define SQL_WATCHED_ARRAYS "coalesce(array_agg(minute ORDER BY minute), '{}'), coalesce(array_agg(n ORDER BY minute), '{}')"

/* The watched minutes as they are now: when they equal what the last burst update saw, there is nothing to update. */
static const char SQL_WATCHED[] = "SELECT " SQL_WATCHED_ARRAYS " FROM (" SQL_WATCHED_MINUTES ") AS watched";

/*
 * The bursts (semantics in gate_run.h) for the window ending at $1. $1 and $2
 * as above; $3 and $4 the watched minutes and their redemptions as the last
 * update saw them; $5 true to recompute everything from lo (a rebuild); $6
 * how many minutes before the minute of $1 lo lies, the first minute that
 * may be recomputed; $7 k, the minutes of a span; $8 gate_burst_per_network.
 *
 * The minutes recomputed (`since` on) start at the first watched minute
 * whose redemptions changed (in a steady launch: the current one), less k -
 * 1 (the spans through it), but not before lo; none when nothing changed. So
 * a busy launch is not read again every second for
 * SYNC_GATE_RECHECK_MINUTES, only its minutes that moved.
 *
 * A minute is in a burst when a span of k minutes that holds it holds more
 * than $8 of the network's redemptions. The spans through the minutes from
 * `since` on start k - 1 minutes earlier at the earliest, so network_minutes
 * is read from there, once (`counts`, summed over writers into int, as the
 * columns are, so that later sums stay bigint rather than numeric). The
 * bound from lo, which the planner can estimate, leads it to the index; the
 * scan starts at the later of the two bounds. A network that holds no more
 * than $8 there cannot burst (`busy` leaves it out). For the others, `ahead`
 * sums each minute's span (the k minutes from it on) and `peak` is the
 * largest sum of the spans that start at most k - 1 minutes before a minute.
 * Spans that start at a minute without redemptions need no row: the span
 * from the network's next minute holds all they hold.
 *
 * network_bursts from `since` on then becomes exactly the minutes found: rows
 * no longer in a burst are deleted, new ones inserted and changed counts
 * updated; rows that stayed the same are not rewritten. Returns the rows
 * deleted, the rows written, and the watched minutes and their redemptions
 * as this statement saw them (the next update's $3 and $4).
 */
static const char SQL_BURSTS[] =
    "WITH watched AS (" SQL_WATCHED_MINUTES "), since AS ("
    "  SELECT CASE WHEN $5::bool THEN b.lo ELSE greatest(b.lo, coalesce((SELECT min(w.minute) FROM watched AS w"
    "    LEFT JOIN unnest($3::timestamptz[], $4::bigint[]) AS p(minute, n) ON p.minute = w.minute"
    "    WHERE p.n IS DISTINCT FROM w.n), 'infinity') - ($7::int - 1) * interval '1 minute') END AS lo"
    "  FROM (SELECT date_trunc('minute', $1::timestamptz) - $6::int * interval '1 minute' AS lo) AS b"
    "), counts AS ("
    "  SELECT net, minute, sum(redeemed)::int AS redeemed, sum(disposable)::int AS disposable FROM network_minutes"
    "  WHERE minute >= date_trunc('minute', $1::timestamptz) - ($6::int + $7::int - 1) * interval '1 minute'"
    "  AND minute >= (SELECT lo FROM since) - ($7::int - 1) * interval '1 minute' GROUP BY net, minute"
    "), busy AS ("
    "  SELECT net FROM counts GROUP BY net HAVING sum(redeemed) > $8::int"
    "), spans AS ("
    "  SELECT c.net, c.minute, c.redeemed, c.disposable, sum(c.redeemed) OVER (PARTITION BY c.net ORDER BY c.minute"
    "    RANGE BETWEEN CURRENT ROW AND ($7::int - 1) * interval '1 minute' FOLLOWING) AS ahead"
    "  FROM counts AS c JOIN busy ON busy.net = c.net"
    "), burst AS ("
    "  SELECT s.net, s.minute, s.redeemed, s.disposable FROM ("
    "    SELECT net, minute, redeemed, disposable, max(ahead) OVER (PARTITION BY net ORDER BY minute"
    "      RANGE BETWEEN ($7::int - 1) * interval '1 minute' PRECEDING AND CURRENT ROW) AS peak FROM spans) AS s, since AS b"
    "  WHERE s.peak > $8::int AND s.minute >= b.lo"
    "), gone AS ("
    "  DELETE FROM network_bursts AS o USING since AS b WHERE o.minute >= b.lo"
    "  AND NOT EXISTS (SELECT 1 FROM burst WHERE burst.minute = o.minute AND burst.net = o.net) RETURNING 1"
    "), put AS ("
    "  INSERT INTO network_bursts AS o (minute, net, redeemed, disposable) SELECT minute, net, redeemed, disposable FROM burst"
    "  ON CONFLICT (minute, net) DO UPDATE SET redeemed = excluded.redeemed, disposable = excluded.disposable"
    "  WHERE (o.redeemed, o.disposable) IS DISTINCT FROM (excluded.redeemed, excluded.disposable) RETURNING 1"
    ")"
    " SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM put), " SQL_WATCHED_ARRAYS " FROM watched";

/*
 * What left the window ending at $1 of $2 days: the counters once they are
 * older than the window's first span too ($3 k minutes; a rebuild reads them),
 * the bursts at once. Counter rows that a lane holds locked (a late
 * redemption being added) are left for the next time: the gate never waits
 * for a lane.
 */
#define SQL_PRUNE_CUT "date_trunc('minute', $1::timestamptz - $2::int * interval '1 day') - ($3::int - 1) * interval '1 minute'"
static const char SQL_PRUNE_REDEMPTIONS[] =
    "DELETE FROM redemption_minutes WHERE (minute, writer) IN (SELECT minute, writer FROM redemption_minutes"
    " WHERE minute < " SQL_PRUNE_CUT " FOR UPDATE SKIP LOCKED)";
static const char SQL_PRUNE_NETWORKS[] =
    "DELETE FROM network_minutes WHERE (minute, net, writer) IN (SELECT minute, net, writer FROM network_minutes"
    " WHERE minute < " SQL_PRUNE_CUT " FOR UPDATE SKIP LOCKED)";
static const char SQL_PRUNE_BURSTS[] =
    "DELETE FROM network_bursts WHERE minute < date_trunc('minute', $1::timestamptz - $2::int * interval '1 day')";

/*
 * The window ($1 its end, $2 gate_window_days) is its minutes after $1 - $2
 * days up to $1: redemptions, those at disposable domains, those in bursts,
 * the networks that burst, and the disposable ones among the burst (so that
 * a redemption caught by both signals is counted once).
 */
#define SQL_WINDOW "minute > $1::timestamptz - $2::int * interval '1 day' AND minute <= $1::timestamptz"
static const char SQL_COUNTS[] =
    "SELECT r.redeemed, r.disposable, b.redeemed, b.nets, b.disposable FROM"
    " (SELECT sum(redeemed) AS redeemed, sum(disposable) AS disposable FROM redemption_minutes WHERE " SQL_WINDOW ") AS r,"
    " (SELECT sum(redeemed) AS redeemed, count(DISTINCT net) AS nets, sum(disposable) AS disposable"
    " FROM network_bursts WHERE " SQL_WINDOW ") AS b";

/* Whether this database has the tables of people: lifecycle events, user e-mails and referrals (migration 006). */
static const char SQL_TABLES[] = "SELECT to_regclass('user_lifecycle_events') IS NOT NULL"
                                 " AND to_regclass('user_emails') IS NOT NULL"
                                 " AND to_regclass('user_referral_relationships') IS NOT NULL";

/* Users with each lifecycle kind in the window ($1, $2), each user once per kind. */
static const char SQL_LIFECYCLE[] = "SELECT count(DISTINCT user_id) FILTER (WHERE kind = 'activated'),"
                                    " count(DISTINCT user_id) FILTER (WHERE kind = 'churned'),"
                                    " count(DISTINCT user_id) FILTER (WHERE kind = 'fraud_flagged')"
                                    " FROM user_lifecycle_events WHERE kind IN ('activated', 'churned', 'fraud_flagged')"
                                    " AND at > $1::timestamptz - $2::int * interval '1 day' AND at <= $1::timestamptz";

/*
 * Users referred in the window ($1, $2) who sit on a referral cycle: x is
 * "A referred B"; p is who referred A, q who referred that one. B on a cycle
 * of length 1 (A = B), 2 (p's referrer is B) or 3 (q's referrer is B). Each
 * user has one direct (level 1) referrer at most (referred_user_id and level
 * are unique together), so the joins follow one chain. Users the host application flagged in the window are
 * left out: they count as flagged already.
 */
static const char SQL_RINGS[] =
    "SELECT count(DISTINCT x.referred_user_id) FROM user_referral_relationships x"
    " LEFT JOIN user_referral_relationships p ON p.referred_user_id = x.referrer_user_id AND p.level = 1"
    " LEFT JOIN user_referral_relationships q ON q.referred_user_id = p.referrer_user_id AND q.level = 1"
    " WHERE x.level = 1 AND x.created_at > $1::timestamptz - $2::int * interval '1 day' AND x.created_at <= $1::timestamptz"
    " AND (x.referrer_user_id = x.referred_user_id OR p.referrer_user_id = x.referred_user_id"
    " OR q.referrer_user_id = x.referred_user_id)"
    " AND NOT EXISTS (SELECT 1 FROM user_lifecycle_events f WHERE f.user_id = x.referred_user_id"
    " AND f.kind = 'fraud_flagged' AND f.at > $1::timestamptz - $2::int * interval '1 day' AND f.at <= $1::timestamptz)";

static const char SQL_LAST[] = "SELECT auto_paused FROM gate_evaluations ORDER BY id DESC LIMIT 1";

static const char SQL_RECORD[] =
    "INSERT INTO gate_evaluations (evaluated_at, trust_score, engagement_rate, churn_rate, fraud_rate, invites_paused,"
    " auto_paused, mode, health_status, metrics, alerts)"
    " VALUES ($1::timestamptz, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11::jsonb)";

__attribute__((format(printf, 2, 3))) static int fail(sync_gate_job_t *j, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    vsnprintf(j->errstr, sizeof(j->errstr), fmt, args);
    va_end(args);
    return -1;
}

void sync_gate_job_init(sync_gate_job_t *j, const ig_config_t *cfg)
{
    memset(j, 0, sizeof(*j));
    j->cfg = cfg;
    j->last_closed = -1;
    strcpy(j->watched_minutes, "{}");
    strcpy(j->watched_totals, "{}");
    sync_backoff_reset(&j->backoff);
    atomic_init(&j->beat_ms, sync_now_ms());
    atomic_init(&j->failing, 0);
}

static void drop_pg(sync_gate_job_t *j)
{
    if (j->pg != NULL)
        PQfinish(j->pg);
    j->pg = NULL;
    j->leased = 0; /* the lease died with the session */
}

/*
 * The gate job's lease (sync_db_job_lease): one daemon evaluates, the others
 * wait for it. A daemon that takes the lease over reads the automatic state
 * the last holder recorded. Returns 1 held, 0 another daemon holds it, -1.
 */
static int take_lease(sync_gate_job_t *j)
{
    char err[SYNC_DB_ERR_BYTES];
    int r;

    if (j->leased)
        return 1;
    if ((r = sync_db_job_lease(j->pg, SYNC_JOB_GATE, err, sizeof(err))) < 0) {
        fail(j, "%s", err);
        drop_pg(j);
        return -1;
    }
    if (r == 0) {
        if (!j->standby_logged)
            ig_info("msg=\"trust gate: another daemon evaluates it; standing by\"");
        j->standby_logged = 1;
        return 0;
    }
    ig_info("msg=\"trust gate: job lease taken, evaluating\"");
    j->leased = 1;
    j->standby_logged = 0;
    j->restored = 0;
    return 1;
}

static void drop_redis(sync_gate_job_t *j)
{
    sync_route_close(&j->route);
}

/* The connection of the waitlist's bucket, where the gate's mode, automatic state and document live. */
static redisContext *wl_redis(const sync_gate_job_t *j)
{
    return sync_route_bucket(&j->route, IG_WL_BUCKET);
}

static int connect_pg(sync_gate_job_t *j)
{
    char err[SYNC_DB_ERR_BYTES];

    if (j->pg != NULL)
        return 0;
    if ((j->pg = sync_layout_connect_pg(j->cfg, err, sizeof(err))) == NULL)
        return fail(j, "postgresql connect: %s", err);
    if (sync_db_exec(j->pg, SYNC_GATE_SESSION, "session settings", err, sizeof(err)) != 0) {
        drop_pg(j);
        return fail(j, "%s", err);
    }
    return 0;
}

static int connect_redis(sync_gate_job_t *j)
{
    if (sync_route_is_open(&j->route))
        return 0;
    if (sync_route_open(&j->route, j->cfg, SYNC_GATE_REDIS_TIMEOUT_MS, SYNC_GATE_REDIS_TIMEOUT_MS) != 0)
        return fail(j, "redis connect: %s", j->route.errstr);
    return 0;
}

/* Runs a statement of one row; the caller clears *res. On failure drops a broken connection. */
static int query_row(sync_gate_job_t *j, PGresult **res, const char *what, const char *sql, int nparams, const char *const *params)
{
    char desc[SYNC_DB_DESC_BYTES];

    *res = PQexecParams(j->pg, sql, nparams, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(*res) == PGRES_TUPLES_OK && PQntuples(*res) == 1)
        return 0;
    if (PQresultStatus(*res) == PGRES_TUPLES_OK)
        return fail(j, "step=%s reason=\"expected one row, got %d\"", what, PQntuples(*res));
    sync_db_describe(desc, sizeof(desc), j->pg, *res, 1);
    fail(j, "step=%s %s", what, desc);
    if (PQstatus(j->pg) != CONNECTION_OK)
        drop_pg(j);
    return -1;
}

static long long col(const PGresult *res, int c)
{
    return PQgetisnull(res, 0, c) ? 0 : strtoll(PQgetvalue(res, 0, c), NULL, 10);
}

/* Reads the automatic state of the last recorded evaluation (none recorded: open). */
static int restore(sync_gate_job_t *j)
{
    PGresult *res = PQexec(j->pg, SQL_LAST);
    char desc[SYNC_DB_DESC_BYTES];
    int ret = 0;

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        sync_db_describe(desc, sizeof(desc), j->pg, res, 1);
        ret = fail(j, "step=restore %s", desc);
        if (PQstatus(j->pg) != CONNECTION_OK)
            drop_pg(j);
    } else {
        j->auto_closed = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
        j->restored = 1;
        ig_info("msg=\"trust gate state restored\" from_history=%s auto_state=%s", PQntuples(res) == 1 ? "yes" : "no",
                j->auto_closed ? "closed" : "open");
    }
    PQclear(res);
    return ret;
}

/* Runs a statement that returns no rows; the caller passes what it is for the error. */
static int command(sync_gate_job_t *j, const char *what, const char *sql, int nparams, const char *const *params)
{
    char desc[SYNC_DB_DESC_BYTES];
    PGresult *res = PQexecParams(j->pg, sql, nparams, NULL, params, NULL, NULL, 0);
    int ret = 0;

    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
        sync_db_describe(desc, sizeof(desc), j->pg, res, 1);
        ret = fail(j, "step=%s %s", what, desc);
        if (PQstatus(j->pg) != CONNECTION_OK)
            drop_pg(j);
    }
    PQclear(res);
    return ret;
}

/* k, the whole minutes of a burst span: gate_burst_window_s rounded up, at least one. */
static unsigned span_minutes(const ig_config_t *cfg)
{
    unsigned k = cfg->gate_burst_window_s / 60 + (cfg->gate_burst_window_s % 60 != 0);
    return k == 0 ? 1 : k;
}

/* Writes the configured disposable domains to gate_disposable_domains (once per start). */
static int write_domains(sync_gate_job_t *j)
{
    const char *params[] = {j->cfg->disposable_domains};
    PGresult *res;

    if (query_row(j, &res, "disposable domains", SQL_DOMAINS, 1, params) != 0) {
        PQclear(res);
        return -1;
    }
    ig_info("msg=\"trust gate disposable domains written\" removed=%lld added=%lld", col(res, 0), col(res, 1));
    PQclear(res);
    j->domains_ready = 1;
    return 0;
}

/* Keeps a copy of the watched minutes' totals the burst update returned; "{}" (all changed) when they do not fit. */
static void save_watched(char out[SYNC_GATE_WATCHED_BYTES], const char *value)
{
    if (strlen(value) >= SYNC_GATE_WATCHED_BYTES)
        value = "{}";
    strcpy(out, value);
}

/*
 * Whether the watched minutes hold other redemptions than the last burst
 * update saw (params: end and the minutes back to the first watched one).
 * Sets *changed; returns 0, or -1 when the query failed.
 */
static int watched_changed(sync_gate_job_t *j, int *changed, const char *const *params)
{
    PGresult *res;

    if (query_row(j, &res, "bursts", SQL_WATCHED, 2, params) != 0) {
        PQclear(res);
        return -1;
    }
    *changed = strcmp(PQgetvalue(res, 0, 0), j->watched_minutes) != 0 || strcmp(PQgetvalue(res, 0, 1), j->watched_totals) != 0;
    PQclear(res);
    return 0;
}

/*
 * Brings network_bursts up to date for the window ending at end: nothing
 * when no watched minute changed since the last update; else, in one
 * transaction under the gate's lock, the minutes from the first that changed
 * (less k - 1), or, at the first evaluation since start, the whole window.
 * Deletes what left the window first, once every
 * SYNC_GATE_PRUNE_INTERVAL_MS.
 */
static int update_bursts(sync_gate_job_t *j, const char *end)
{
    const ig_config_t *cfg = j->cfg;
    unsigned k = span_minutes(cfg);
    int rebuild = !j->bursts_ready, changed = 1;
    char watch[16], back[16], span[16], limit[16], days[16];
    const char *params[] = {end, watch, j->watched_minutes, j->watched_totals, rebuild ? "t" : "f", back, span, limit};
    const char *prune_params[] = {end, days, span};
    uint64_t now = sync_now_ms();
    int prune = !j->pruned || now - j->pruned_ms >= SYNC_GATE_PRUNE_INTERVAL_MS;
    PGresult *res = NULL;
    long long gone, put;

    snprintf(watch, sizeof(watch), "%u", SYNC_GATE_RECHECK_MINUTES - 1);
    snprintf(back, sizeof(back), "%u", rebuild ? cfg->gate_window_days * 24u * 60u : SYNC_GATE_RECHECK_MINUTES - 1 + k - 1);
    snprintf(span, sizeof(span), "%u", k);
    snprintf(limit, sizeof(limit), "%u", cfg->gate_burst_per_network);
    snprintf(days, sizeof(days), "%u", cfg->gate_window_days);

    if (!rebuild && !prune && watched_changed(j, &changed, params) != 0)
        return -1;
    if (!changed)
        return 0;
    if (command(j, "bursts", "BEGIN", 0, NULL) != 0)
        return -1;
    if (command(j, "bursts", SYNC_GATE_LOCK, 0, NULL) != 0 ||
        (rebuild && command(j, "rebuild", SYNC_GATE_REBUILD_TIMEOUT, 0, NULL) != 0))
        goto Error;
    if (prune && (command(j, "prune", SQL_PRUNE_REDEMPTIONS, 3, prune_params) != 0 ||
                  command(j, "prune", SQL_PRUNE_NETWORKS, 3, prune_params) != 0 ||
                  command(j, "prune", SQL_PRUNE_BURSTS, 2, prune_params) != 0))
        goto Error;
    if (query_row(j, &res, rebuild ? "rebuild" : "bursts", SQL_BURSTS, 8, params) != 0)
        goto Error;
    if (command(j, "bursts", "COMMIT", 0, NULL) != 0) {
        PQclear(res);
        return -1;
    }
    gone = col(res, 0);
    put = col(res, 1);
    save_watched(j->watched_minutes, PQgetvalue(res, 0, 2));
    save_watched(j->watched_totals, PQgetvalue(res, 0, 3));
    PQclear(res);

    if (rebuild)
        ig_info("msg=\"trust gate bursts rebuilt from the window\" window_days=%u span_minutes=%u burst_per_network=%u "
                "removed=%lld changed=%lld",
                cfg->gate_window_days, k, cfg->gate_burst_per_network, gone, put);
    j->bursts_ready = 1;
    if (prune) {
        j->pruned = 1;
        j->pruned_ms = now;
    }
    return 0;

Error:
    PQclear(res);
    if (j->pg != NULL)
        PQclear(PQexec(j->pg, "ROLLBACK"));
    return -1;
}

/* Fills c from PostgreSQL for the window ending at end (an ISO time). */
static int count_window(sync_gate_job_t *j, sync_gate_counts_t *c, const char *end)
{
    char days[16];
    const char *params[] = {end, days};
    PGresult *res;
    int people;

    memset(c, 0, sizeof(*c));
    snprintf(days, sizeof(days), "%u", j->cfg->gate_window_days);

    if (!j->domains_ready && write_domains(j) != 0)
        return -1;
    if (update_bursts(j, end) != 0)
        return -1;
    if (query_row(j, &res, "counts", SQL_COUNTS, 2, params) != 0)
        goto Error;
    c->redeemed = col(res, 0);
    c->disposable = col(res, 1);
    c->burst = col(res, 2);
    c->burst_nets = col(res, 3);
    c->signalled_redemptions = c->disposable + c->burst - col(res, 4);
    PQclear(res);

    if (query_row(j, &res, "tables", SQL_TABLES, 0, NULL) != 0)
        goto Error;
    people = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    if (!people)
        return 0;

    if (query_row(j, &res, "lifecycle", SQL_LIFECYCLE, 2, params) != 0)
        goto Error;
    c->activated = col(res, 0);
    c->churned = col(res, 1);
    c->fraud_flagged = col(res, 2);
    PQclear(res);
    if (j->rings_ms == 0 || sync_now_ms() - j->rings_ms >= SYNC_GATE_RINGS_INTERVAL_MS) {
        if (query_row(j, &res, "rings", SQL_RINGS, 2, params) != 0)
            goto Error;
        j->rings = col(res, 0);
        j->rings_ms = sync_now_ms();
        PQclear(res);
    }
    c->ring = j->rings;
    return 0;

Error:
    PQclear(res);
    return -1;
}

/*
 * Redis holds no override and no trust document: it is new, or it lost its
 * data. The override of the last recorded evaluation is put back (SET NX:
 * an operator's force since then wins), so a gate an operator forced closed
 * stays closed through the loss of Redis. Sets *mode when one was put back.
 */
static int mode_from_history(sync_gate_job_t *j, sync_gate_mode_t *mode)
{
    PGresult *res;
    redisReply *reply = redisCommand(wl_redis(j), "EXISTS %s", IG_KEY_TRUST);
    char desc[SYNC_DB_DESC_BYTES];
    int ret = 0, published = reply != NULL && reply->type == REDIS_REPLY_INTEGER && reply->integer != 0;

    if (reply == NULL) {
        fail(j, "redis EXISTS trust: %s", wl_redis(j)->errstr[0] != '\0' ? wl_redis(j)->errstr : "connection lost");
        drop_redis(j);
        return -1;
    }
    freeReplyObject(reply);
    if (published)
        return 0;
    res = PQexec(j->pg, "SELECT mode FROM gate_evaluations ORDER BY id DESC LIMIT 1");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        sync_db_describe(desc, sizeof(desc), j->pg, res, 1);
        ret = fail(j, "step=restore_mode %s", desc);
        if (PQstatus(j->pg) != CONNECTION_OK)
            drop_pg(j);
    } else if (PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "auto") != 0 &&
               sync_gate_mode_parse(mode, PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0)) == 0) {
        reply = redisCommand(wl_redis(j), "SET %s %s NX", IG_KEY_GATE_MODE, PQgetvalue(res, 0, 0));
        if (reply == NULL) {
            ret = fail(j, "redis SET gate mode: %s", wl_redis(j)->errstr[0] != '\0' ? wl_redis(j)->errstr : "connection lost");
            drop_redis(j);
        } else {
            ig_warn("msg=\"Redis held no trust gate state: the operator's override of the last evaluation put back\" mode=%s",
                    PQgetvalue(res, 0, 0));
            freeReplyObject(reply);
        }
    }
    PQclear(res);
    return ret;
}

/* Reads the override; an unknown value counts as auto (logged once until a known one is back). */
static int read_mode(sync_gate_job_t *j, sync_gate_mode_t *mode)
{
    redisReply *reply = redisCommand(wl_redis(j), "GET %s", IG_KEY_GATE_MODE);
    int ret = 0;

    if (reply == NULL) {
        fail(j, "redis GET gate mode: %s", wl_redis(j)->errstr[0] != '\0' ? wl_redis(j)->errstr : "connection lost");
        drop_redis(j);
        return -1;
    }
    if (reply->type == REDIS_REPLY_NIL) {
        *mode = SYNC_GATE_AUTO;
        ret = mode_from_history(j, mode);
    } else if (reply->type != REDIS_REPLY_STRING)
        ret = fail(j, "redis GET gate mode: unexpected reply type %d", reply->type);
    else if (sync_gate_mode_parse(mode, reply->str, reply->len) != 0) {
        if (!j->mode_warned)
            ig_warn("msg=\"unknown trust gate mode, using auto\" key=%s", IG_KEY_GATE_MODE);
        j->mode_warned = 1;
    } else {
        j->mode_warned = 0;
    }
    freeReplyObject(reply);
    return ret;
}

/*
 * The flags of every bucket, the automatic state (what a force back to auto
 * sets the flags to at once, lua/points.lua ig_gate) and the trust document,
 * pipelined.
 */
static int publish(sync_gate_job_t *j, const sync_gate_decision_t *d, const char *json)
{
    unsigned buckets = j->route.buckets;
    int ret = 0;

    for (unsigned b = 0; b != buckets; ++b) {
        char key[IG_KEY_MAX_BYTES];
        ig_key_gate(key, b);
        if (d->closed)
            redisAppendCommand(sync_route_bucket(&j->route, b), "SET %s closed", key);
        else
            redisAppendCommand(sync_route_bucket(&j->route, b), "DEL %s", key);
    }
    if (d->auto_closed)
        redisAppendCommand(wl_redis(j), "SET %s closed", IG_KEY_GATE_AUTO);
    else
        redisAppendCommand(wl_redis(j), "DEL %s", IG_KEY_GATE_AUTO);
    redisAppendCommand(wl_redis(j), "SET %s %s", IG_KEY_TRUST, json);
    /* Each reply from the connection its command went to, in the order sent. */
    for (unsigned i = 0; i != buckets + 2; ++i) {
        redisContext *c = i < buckets ? sync_route_bucket(&j->route, i) : wl_redis(j);
        void *r = NULL;
        redisReply *reply;
        if (redisGetReply(c, &r) != REDIS_OK) {
            fail(j, "redis gate write: %s", c->errstr[0] != '\0' ? c->errstr : "connection lost");
            drop_redis(j);
            return -1;
        }
        reply = r;
        if (reply->type == REDIS_REPLY_ERROR && ret == 0)
            ret = fail(j, "redis gate write: %.*s", (int)reply->len, reply->str);
        freeReplyObject(reply);
    }
    return ret;
}

/* Inserts the history row of d. */
static int record(sync_gate_job_t *j, const sync_gate_decision_t *d, const sync_gate_counts_t *c, const char *at)
{
    char score[32], eng[32], churn[32], fraud[32], metrics[SYNC_GATE_JSON_BYTES], alerts[SYNC_GATE_JSON_BYTES];
    const char *params[11];
    char desc[SYNC_DB_DESC_BYTES];
    PGresult *res;
    int ret = 0;

    if (sync_gate_metrics_json(metrics, sizeof(metrics), d, c, j->cfg) != 0 ||
        sync_gate_alerts_json(alerts, sizeof(alerts), d) != 0)
        return fail(j, "step=record reason=\"metrics or alerts do not fit\"");
    snprintf(score, sizeof(score), "%.4f", sync_gate_round4(d->trust_score));
    snprintf(eng, sizeof(eng), "%.4f", sync_gate_round4(d->engagement_rate));
    snprintf(churn, sizeof(churn), "%.4f", sync_gate_round4(d->churn_rate));
    snprintf(fraud, sizeof(fraud), "%.4f", sync_gate_round4(d->fraud_rate));
    params[0] = at, params[1] = score, params[2] = eng, params[3] = churn, params[4] = fraud;
    params[5] = d->closed ? "t" : "f", params[6] = d->auto_closed ? "t" : "f";
    params[7] = sync_gate_mode_name(d->mode), params[8] = d->health, params[9] = metrics, params[10] = alerts;
    res = PQexecParams(j->pg, SQL_RECORD, 11, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        sync_db_describe(desc, sizeof(desc), j->pg, res, 1);
        ret = fail(j, "step=record %s", desc);
        if (PQstatus(j->pg) != CONNECTION_OK)
            drop_pg(j);
    }
    PQclear(res);
    return ret;
}

/* One line when the gate opens or closes, or the override changes. */
static void log_change(sync_gate_job_t *j, const sync_gate_decision_t *d, const sync_gate_counts_t *c)
{
    if (j->last_closed == d->closed && j->last_mode == d->mode)
        return;
    ig_info("msg=\"trust gate %s\" mode=%s health=%s trust_score=%.4f engagement_rate=%.4f churn_rate=%.4f fraud_rate=%.4f "
            "redeemed=%lld signalled=%lld alerts=%zu",
            d->closed ? "closed" : "open", sync_gate_mode_name(d->mode), d->health, d->trust_score, d->engagement_rate,
            d->churn_rate, d->fraud_rate, c->redeemed, d->signalled, d->num_alerts);
    j->last_closed = d->closed;
    j->last_mode = d->mode;
}

int sync_gate_job_evaluate(sync_gate_job_t *j)
{
    sync_gate_counts_t c;
    sync_gate_decision_t d;
    sync_gate_mode_t mode;
    char end[SYNC_GATE_TIME_BYTES], json[SYNC_GATE_JSON_BYTES];
    long long end_ms;
    uint64_t now;
    int lease;

    if (connect_pg(j) != 0)
        return -1;
    if ((lease = take_lease(j)) <= 0)
        return lease;
    if (connect_redis(j) != 0)
        return -1;
    if (!j->restored && restore(j) != 0)
        return -1;
    if (read_mode(j, &mode) != 0)
        return -1;
    /* The end of the window: the daemon's clock. */
    end_ms = sync_clock_ms(j->cfg->sync_clock_offset_s);
    sync_gate_format_time(end, end_ms);
    if (count_window(j, &c, end) != 0)
        return -1;

    /*
     * An operator's force between reading the mode and publishing wrote its
     * flags before this publication overwrote them: the mode is read again
     * after publishing and, when it changed, the decision is published anew
     * for it. A force after that second read writes its flags after ours.
     */
    for (unsigned round = 0;; ++round) {
        sync_gate_mode_t now_mode;
        sync_gate_decide(&d, &c, j->auto_closed, mode, j->cfg);
        if (sync_gate_trust_json(json, sizeof(json), &d, &c, j->cfg, end_ms) != 0)
            return fail(j, "step=publish reason=\"trust document does not fit\"");
        if (publish(j, &d, json) != 0 || read_mode(j, &now_mode) != 0)
            return -1;
        if (now_mode == mode || round == SYNC_GATE_REPUBLISH_ROUNDS)
            break;
        mode = now_mode;
    }
    sync_metrics_gate(&d, (uint64_t)sync_clock_ms(0));
    j->auto_closed = d.auto_closed;
    log_change(j, &d, &c);

    now = sync_now_ms();
    if (sync_gate_should_record(&d, j->have_last ? &j->last_recorded : NULL, now - j->last_recorded_ms,
                                SYNC_GATE_RECORD_INTERVAL_MS)) {
        if (record(j, &d, &c, end) != 0)
            return -1;
        j->last_recorded = d;
        j->last_recorded_ms = now;
        j->have_last = 1;
    }
    return 0;
}

static void *gate_main(void *arg)
{
    sync_gate_job_t *j = arg;

    pthread_setname_np(pthread_self(), "sync-gate");
    sync_heartbeat_attach(&j->beat_ms);
    ig_info("msg=\"trust gate starting\" interval_ms=%u window_days=%u min_redemptions=%u close_below=%.4f reopen_above=%.4f "
            "max_fraud_rate=%.4f",
            j->cfg->gate_interval_ms, j->cfg->gate_window_days, j->cfg->gate_min_redemptions, j->cfg->gate_close_below,
            j->cfg->gate_reopen_above, j->cfg->gate_max_fraud_rate);
    while (!sync_stop_requested()) {
        uint64_t start = sync_now_ms(), spent;
        if (sync_gate_job_evaluate(j) != 0) {
            atomic_store(&j->failing, 1);
            atomic_fetch_add(&sync_metrics.gate_failures, 1);
            if (sync_backoff_should_log(&j->backoff))
                ig_warn("msg=\"trust gate not evaluated, keeping the last decision\" %s attempt=%u retry_ms=%u", j->errstr,
                        j->backoff.failures + 1, j->backoff.delay_ms);
            sync_backoff_wait(&j->backoff);
            continue;
        }
        sync_backoff_reset(&j->backoff);
        atomic_store(&j->failing, 0);
        spent = sync_now_ms() - start;
        if (spent < j->cfg->gate_interval_ms)
            sync_sleep_ms((unsigned)(j->cfg->gate_interval_ms - spent));
    }
    drop_pg(j);
    drop_redis(j);
    sync_heartbeat_attach(NULL);
    return NULL;
}

int sync_gate_job_start(sync_gate_job_t *j)
{
    int err;

    if (j->cfg->gate_interval_ms == 0) {
        ig_info("msg=\"trust gate off\" reason=\"gate_interval_ms is 0\"");
        return 0;
    }
    if ((err = sync_thread_start(&j->thread, gate_main, j)) != 0) {
        ig_error("msg=\"cannot start the trust gate\" reason=\"%s\"", strerror(err));
        return -1;
    }
    j->started = 1;
    return 0;
}

void sync_gate_job_stop(sync_gate_job_t *j)
{
    if (j->started)
        pthread_join(j->thread, NULL);
    j->started = 0;
    drop_pg(j);
    drop_redis(j);
}
