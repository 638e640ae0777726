#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include "ig_keys.h"
#include "ig_log.h"
#include "db.h"
#include "gate_run.h"

#define SYNC_GATE_REDIS_TIMEOUT_MS 2000
/*
 * Session settings: a count that takes longer than the timeout is abandoned
 * (the gate keeps its last decision); JIT compilation would cost more than it
 * saves on statements that run every second.
 */
#define SYNC_GATE_SESSION "SET statement_timeout = '10s'; SET jit = off"

/*
 * The automatic signals of redemptions are found incrementally (migration
 * 008): each evaluation examines the redemptions with an id above the
 * watermark (sync_gate_watermark_t), at most SYNC_GATE_SCAN_ROWS per
 * statement, records each one's client network in gate_networks and those a
 * signal caught in gate_signals, and the window's signals are then counted
 * from gate_signals. A redemption examined again records nothing new (both
 * tables are keyed by it), so scans may overlap.
 */
#define SYNC_GATE_SCAN_ROWS 50000
/* Delete what left the window this often. */
#define SYNC_GATE_PRUNE_INTERVAL_MS 60000
/*
 * A rebuild starts this many ids below the window's first redemption: a
 * transaction still running may hold an id below it and commit later. Those
 * ids are older redemptions, skipped at the cost of reading them once.
 */
#define SYNC_GATE_REBUILD_MARGIN 100000
#define SYNC_GATE_SETTINGS_BYTES (IG_DOMAINS_BYTES + 128)

/*
 * One examination: redemptions with an id above $1, at most $2 of them, for
 * the window ending at $3 (timestamptz) of $4 days; $5 gate_burst_window_s,
 * $6 gate_burst_per_network, $7 the disposable domains (comma-separated).
 *
 * fresh: the examined redemptions that are in the window or ahead of it (the
 * others will never be in it). Their networks go into gate_networks.
 *
 * Bursts (the semantics of gate_run.h): a span of $5 seconds through a new
 * redemption lies within $5 seconds of it, so each network of the new
 * redemptions is read from gate_networks between $5 seconds before the first
 * and $5 seconds after the last of them, plus the new ones themselves (rows
 * inserted by this statement are not visible to it). A network that holds no
 * more than $6 redemptions there cannot burst. For the others, `ahead` counts
 * the network's redemptions in the $5 seconds from each one on; a redemption
 * is in a burst when some span that starts at most $5 seconds before it (at a
 * redemption of the same network) holds more than $6, i.e. when the largest
 * `ahead` of those is above $6. Every member of such a span is recorded,
 * older ones included.
 *
 * Disposable: each fresh redemption whose domain is in the list.
 *
 * Returns the number of rows examined (fewer than $2: nothing is left), the
 * largest id, the xmin and xmax of the statement's snapshot, and the
 * redemptions of the window as that snapshot sees them: each of them has been
 * examined by now (see sync_gate_watermark_t), so the counts of gate_signals
 * that follow cover them all.
 */
static const char SQL_SCAN[] =
    "WITH new AS ("
    "  SELECT id, email, client_addr, redeemed_at FROM redemptions WHERE id > $1::bigint ORDER BY id LIMIT $2::int"
    "), fresh AS ("
    "  SELECT id, email, gate_network(client_addr) AS net, redeemed_at FROM new"
    "  WHERE redeemed_at > $3::timestamptz - $4::int * interval '1 day'"
    "), added AS ("
    "  INSERT INTO gate_networks (net, redeemed_at, redemption_id)"
    "  SELECT net, redeemed_at, id FROM fresh WHERE net IS NOT NULL ON CONFLICT DO NOTHING"
    "), reach AS ("
    "  SELECT net, min(redeemed_at) - $5::int * interval '1 second' AS lo, max(redeemed_at) + $5::int * interval '1 second' AS hi"
    "  FROM fresh WHERE net IS NOT NULL GROUP BY net"
    "), nets AS ("
    "  SELECT g.redemption_id AS id, g.net, g.redeemed_at FROM reach r"
    "  JOIN gate_networks g ON g.net = r.net AND g.redeemed_at >= r.lo AND g.redeemed_at <= r.hi"
    "  UNION SELECT id, net, redeemed_at FROM fresh WHERE net IS NOT NULL"
    "), busy AS ("
    "  SELECT net FROM nets GROUP BY net HAVING count(*) > $6::int"
    "), ahead AS ("
    "  SELECT n.id, n.net, n.redeemed_at, count(*) OVER (PARTITION BY n.net ORDER BY n.redeemed_at"
    "    RANGE BETWEEN CURRENT ROW AND $5::int * interval '1 second' FOLLOWING) AS ahead"
    "  FROM nets n JOIN busy b ON b.net = n.net"
    "), burst AS ("
    "  SELECT id, net, redeemed_at FROM (SELECT id, net, redeemed_at, max(ahead) OVER (PARTITION BY net ORDER BY redeemed_at"
    "    RANGE BETWEEN $5::int * interval '1 second' PRECEDING AND CURRENT ROW) AS peak FROM ahead) p"
    "  WHERE peak > $6::int"
    "), marks AS ("
    "  SELECT id, min(redeemed_at) AS redeemed_at, max(net) AS net, bool_or(disposable) AS disposable FROM ("
    "    SELECT id, redeemed_at, net, false AS disposable FROM burst"
    "    UNION ALL SELECT id, redeemed_at, NULL, true FROM fresh"
    "    WHERE split_part(email, '@', 2) = ANY (string_to_array($7::text, ','))) m GROUP BY id"
    "), marked AS ("
    "  INSERT INTO gate_signals AS s (redemption_id, redeemed_at, burst_net, disposable)"
    "  SELECT id, redeemed_at, net, disposable FROM marks"
    "  ON CONFLICT (redemption_id) DO UPDATE SET burst_net = coalesce(s.burst_net, excluded.burst_net),"
    "    disposable = s.disposable OR excluded.disposable"
    "  WHERE (s.burst_net IS NULL AND excluded.burst_net IS NOT NULL) OR (excluded.disposable AND NOT s.disposable)"
    ")"
    " SELECT (SELECT count(*) FROM new), (SELECT max(id) FROM new), pg_snapshot_xmin(pg_current_snapshot()),"
    " pg_snapshot_xmax(pg_current_snapshot()), (SELECT count(*) FROM redemptions"
    "  WHERE redeemed_at > $3::timestamptz - $4::int * interval '1 day' AND redeemed_at <= $3::timestamptz)";

/*
 * The window's signalled redemptions ($1 its end, $2 gate_window_days): in a
 * burst, their networks, at a disposable domain, and either (each once).
 */
#define SQL_SIGNAL_COUNTS                                                                                                          \
    "SELECT count(*) FILTER (WHERE burst_net IS NOT NULL), count(DISTINCT burst_net), count(*) FILTER (WHERE disposable),"         \
    " count(*)"
#define SQL_SIGNAL_WINDOW                                                                                                          \
    " FROM gate_signals WHERE redeemed_at > $1::timestamptz - $2::int * interval '1 day' AND redeemed_at <= $1::timestamptz"

/* A database without the tables of people (migration 006): nobody was flagged. */
static const char SQL_SIGNALS[] = SQL_SIGNAL_COUNTS ", 0" SQL_SIGNAL_WINDOW;

/*
 * With them, the last column counts the signalled redemptions by people the
 * host application flagged in the window (user_emails maps user ids back to
 * addresses): they are counted as flagged already. Counted from the flagged
 * side, so the cost follows the flagged people, not the signalled rows.
 */
static const char SQL_SIGNALS_PEOPLE[] =
    SQL_SIGNAL_COUNTS ", (SELECT count(DISTINCT s.redemption_id) FROM user_lifecycle_events f"
                      " JOIN user_emails u ON u.user_id = f.user_id JOIN redemptions r ON r.email = u.email"
                      " JOIN gate_signals s ON s.redemption_id = r.id"
                      " WHERE f.kind = 'fraud_flagged' AND f.at > $1::timestamptz - $2::int * interval '1 day'"
                      " AND f.at <= $1::timestamptz AND s.redeemed_at > $1::timestamptz - $2::int * interval '1 day'"
                      " AND s.redeemed_at <= $1::timestamptz)" SQL_SIGNAL_WINDOW;

static const char SQL_SCAN_STATE[] = "SELECT scanned_through, settings FROM gate_scan";

/*
 * A rebuild, in one transaction: both tables emptied, the watermark below the
 * first redemption of the window ($2 its end, $3 gate_window_days), the
 * settings ($1) recorded.
 */
static const char SQL_REBUILD_EMPTY[] = "TRUNCATE gate_networks, gate_signals";
static const char SQL_REBUILD_STATE[] =
    "UPDATE gate_scan SET settings = $1, updated_at = now(), scanned_through = greatest(0, coalesce("
    "(SELECT min(id) FROM redemptions WHERE redeemed_at > $2::timestamptz - $3::int * interval '1 day'),"
    " (SELECT max(id) + 1 FROM redemptions), 1) - 1 - $4::int) RETURNING scanned_through";

static const char SQL_SAVE_WATERMARK[] =
    "UPDATE gate_scan SET scanned_through = greatest(scanned_through, $1::bigint), updated_at = now()";

/*
 * What left the window ($1 its end, $2 gate_window_days): signals at once,
 * networks after another $3 gate_burst_window_s (a burst of the window's
 * first redemptions reaches back that far).
 */
static const char SQL_PRUNE_NETWORKS[] =
    "DELETE FROM gate_networks WHERE redeemed_at < $1::timestamptz - $2::int * interval '1 day' - $3::int * interval '1 second'";
static const char SQL_PRUNE_SIGNALS[] =
    "DELETE FROM gate_signals WHERE redeemed_at <= $1::timestamptz - $2::int * interval '1 day'";

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
 * user has one referrer at most (referred_user_id is unique), so the joins
 * follow one chain. Users the host application flagged in the window are
 * left out: they count as flagged already.
 */
static const char SQL_RINGS[] =
    "SELECT count(DISTINCT x.referred_user_id) FROM user_referral_relationships x"
    " LEFT JOIN user_referral_relationships p ON p.referred_user_id = x.referrer_user_id"
    " LEFT JOIN user_referral_relationships q ON q.referred_user_id = p.referrer_user_id"
    " WHERE x.created_at > $1::timestamptz - $2::int * interval '1 day' AND x.created_at <= $1::timestamptz"
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
    sync_backoff_reset(&j->backoff);
    atomic_init(&j->beat_ms, sync_now_ms());
}

static void drop_pg(sync_gate_job_t *j)
{
    if (j->pg != NULL)
        PQfinish(j->pg);
    j->pg = NULL;
}

static void drop_redis(sync_gate_job_t *j)
{
    if (j->redis != NULL)
        redisFree(j->redis);
    j->redis = NULL;
}

static int connect_pg(sync_gate_job_t *j)
{
    char err[SYNC_DB_ERR_BYTES];

    if (j->pg != NULL)
        return 0;
    if ((j->pg = sync_db_connect(j->cfg->database_url, err, sizeof(err))) == NULL)
        return fail(j, "postgresql connect: %s", err);
    if (sync_db_exec(j->pg, SYNC_GATE_SESSION, "session settings", err, sizeof(err)) != 0) {
        drop_pg(j);
        return fail(j, "%s", err);
    }
    return 0;
}

static int connect_redis(sync_gate_job_t *j)
{
    const ig_config_t *cfg = j->cfg;
    struct timeval tv = {.tv_sec = SYNC_GATE_REDIS_TIMEOUT_MS / 1000, .tv_usec = SYNC_GATE_REDIS_TIMEOUT_MS % 1000 * 1000};

    if (j->redis != NULL)
        return 0;
    j->redis = cfg->redis_unix[0] != '\0' ? redisConnectUnixWithTimeout(cfg->redis_unix, tv)
                                          : redisConnectWithTimeout(cfg->redis_host, cfg->redis_port, tv);
    if (j->redis == NULL)
        return fail(j, "redis connect: out of memory");
    if (j->redis->err != 0 || redisSetTimeout(j->redis, tv) != REDIS_OK) {
        fail(j, "redis connect: %s", j->redis->errstr);
        drop_redis(j);
        return -1;
    }
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

/* The settings gate_networks and gate_signals depend on, as gate_scan.settings records them. */
static void scan_settings(char out[SYNC_GATE_SETTINGS_BYTES], const ig_config_t *cfg)
{
    snprintf(out, SYNC_GATE_SETTINGS_BYTES, "window_days=%u burst_window_s=%u burst_per_network=%u disposable_domains=%s",
             cfg->gate_window_days, cfg->gate_burst_window_s, cfg->gate_burst_per_network, cfg->disposable_domains);
}

/*
 * Reads the watermark from gate_scan; when the recorded settings differ from
 * the configuration (or none are recorded: the first run), empties the
 * derived tables and sets the watermark below the window ending at end, so
 * that the next scans examine the whole window once.
 */
static int scan_start(sync_gate_job_t *j, const char *end)
{
    char settings[SYNC_GATE_SETTINGS_BYTES], days[16], margin[16];
    const char *params[] = {settings, end, days, margin};
    PGresult *res;
    int same, first;

    scan_settings(settings, j->cfg);
    if (query_row(j, &res, "scan state", SQL_SCAN_STATE, 0, NULL) != 0) {
        PQclear(res);
        return -1;
    }
    first = PQgetisnull(res, 0, 1);
    same = !first && strcmp(PQgetvalue(res, 0, 1), settings) == 0;
    sync_gate_watermark_init(&j->watermark, col(res, 0));
    PQclear(res);
    if (same) {
        ig_info("msg=\"trust gate signals resumed\" scanned_through=%lld", j->watermark.settled);
        j->saved_watermark = j->watermark.settled;
        j->scan_ready = 1;
        return 0;
    }

    snprintf(days, sizeof(days), "%u", j->cfg->gate_window_days);
    snprintf(margin, sizeof(margin), "%d", SYNC_GATE_REBUILD_MARGIN);
    if (command(j, "rebuild", "BEGIN", 0, NULL) != 0)
        return -1;
    if (command(j, "rebuild", SQL_REBUILD_EMPTY, 0, NULL) != 0 ||
        query_row(j, &res, "rebuild", SQL_REBUILD_STATE, 4, params) != 0) {
        if (j->pg != NULL)
            PQclear(PQexec(j->pg, "ROLLBACK"));
        return -1;
    }
    sync_gate_watermark_init(&j->watermark, col(res, 0));
    PQclear(res);
    if (command(j, "rebuild", "COMMIT", 0, NULL) != 0)
        return -1;
    ig_info("msg=\"trust gate signals rebuilt from the window\" reason=\"%s\" scanned_through=%lld",
            first ? "first run" : "settings changed", j->watermark.settled);
    j->saved_watermark = j->watermark.settled;
    j->scan_ready = 1;
    return 0;
}

/*
 * Examines the redemptions above the watermark, SYNC_GATE_SCAN_ROWS at a time
 * until none is left, then moves the watermark (and gate_scan's copy when it
 * settled further). Sets c->redeemed from the last statement's snapshot.
 */
static int scan(sync_gate_job_t *j, sync_gate_counts_t *c, const char *end)
{
    const ig_config_t *cfg = j->cfg;
    char low[24], rows[16], days[16], burst_s[16], burst_n[16];
    const char *params[] = {low, rows, end, days, burst_s, burst_n, cfg->disposable_domains};
    unsigned long long xmin = 0, xmax = 0;
    long long from = j->watermark.settled, max_id = 0, n;
    PGresult *res;

    snprintf(rows, sizeof(rows), "%d", SYNC_GATE_SCAN_ROWS);
    snprintf(days, sizeof(days), "%u", cfg->gate_window_days);
    snprintf(burst_s, sizeof(burst_s), "%u", cfg->gate_burst_window_s);
    snprintf(burst_n, sizeof(burst_n), "%u", cfg->gate_burst_per_network);
    do {
        snprintf(low, sizeof(low), "%lld", from);
        if (query_row(j, &res, "scan", SQL_SCAN, 7, params) != 0) {
            PQclear(res);
            return -1;
        }
        n = col(res, 0);
        if (n > 0)
            max_id = from = col(res, 1);
        xmin = strtoull(PQgetvalue(res, 0, 2), NULL, 10);
        xmax = strtoull(PQgetvalue(res, 0, 3), NULL, 10);
        c->redeemed = col(res, 4);
        PQclear(res);
        sync_heartbeat();
    } while (n == SYNC_GATE_SCAN_ROWS);

    if (sync_gate_watermark_update(&j->watermark, xmin, max_id, xmax, sync_now_ms()) && j->watermark.settled > j->saved_watermark) {
        snprintf(low, sizeof(low), "%lld", j->watermark.settled);
        if (command(j, "save watermark", SQL_SAVE_WATERMARK, 1, params) != 0)
            return -1;
        j->saved_watermark = j->watermark.settled;
    }
    return 0;
}

/* Deletes what left the window, once every SYNC_GATE_PRUNE_INTERVAL_MS. */
static int prune(sync_gate_job_t *j, const char *end)
{
    char days[16], burst_s[16];
    const char *params[] = {end, days, burst_s};
    uint64_t now = sync_now_ms();

    if (j->pruned && now - j->pruned_ms < SYNC_GATE_PRUNE_INTERVAL_MS)
        return 0;
    snprintf(days, sizeof(days), "%u", j->cfg->gate_window_days);
    snprintf(burst_s, sizeof(burst_s), "%u", j->cfg->gate_burst_window_s);
    if (command(j, "prune", SQL_PRUNE_NETWORKS, 3, params) != 0 || command(j, "prune", SQL_PRUNE_SIGNALS, 2, params) != 0)
        return -1;
    j->pruned = 1;
    j->pruned_ms = now;
    return 0;
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

    if (query_row(j, &res, "tables", SQL_TABLES, 0, NULL) != 0)
        goto Error;
    people = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);

    if (!j->scan_ready && scan_start(j, end) != 0)
        return -1;
    if (scan(j, c, end) != 0 || prune(j, end) != 0)
        return -1;
    if (query_row(j, &res, "signals", people ? SQL_SIGNALS_PEOPLE : SQL_SIGNALS, 2, params) != 0)
        goto Error;
    c->burst = col(res, 0);
    c->burst_nets = col(res, 1);
    c->disposable = col(res, 2);
    c->signalled_redemptions = col(res, 3) - col(res, 4);
    PQclear(res);
    if (!people)
        return 0;

    if (query_row(j, &res, "lifecycle", SQL_LIFECYCLE, 2, params) != 0)
        goto Error;
    c->activated = col(res, 0);
    c->churned = col(res, 1);
    c->fraud_flagged = col(res, 2);
    PQclear(res);
    if (query_row(j, &res, "rings", SQL_RINGS, 2, params) != 0)
        goto Error;
    c->ring = col(res, 0);
    PQclear(res);
    return 0;

Error:
    PQclear(res);
    return -1;
}

/* Reads the override; an unknown value counts as auto (logged once until a known one is back). */
static int read_mode(sync_gate_job_t *j, sync_gate_mode_t *mode)
{
    redisReply *reply = redisCommand(j->redis, "GET ig:{%d}:gate:mode", IG_WL_BUCKET);
    int ret = 0;

    if (reply == NULL) {
        fail(j, "redis GET gate mode: %s", j->redis->errstr[0] != '\0' ? j->redis->errstr : "connection lost");
        drop_redis(j);
        return -1;
    }
    if (reply->type == REDIS_REPLY_NIL)
        *mode = SYNC_GATE_AUTO;
    else if (reply->type != REDIS_REPLY_STRING)
        ret = fail(j, "redis GET gate mode: unexpected reply type %d", reply->type);
    else if (sync_gate_mode_parse(mode, reply->str, reply->len) != 0) {
        if (!j->mode_warned)
            ig_warn("msg=\"unknown trust gate mode, using auto\" key=ig:{%d}:gate:mode", IG_WL_BUCKET);
        j->mode_warned = 1;
    } else {
        j->mode_warned = 0;
    }
    freeReplyObject(reply);
    return ret;
}

/* The flags of every bucket and the trust document, pipelined. */
static int publish(sync_gate_job_t *j, const sync_gate_decision_t *d, const char *json)
{
    int ret = 0;

    for (unsigned b = 0; b != IG_BUCKETS; ++b) {
        if (d->closed)
            redisAppendCommand(j->redis, "SET ig:{%u}:gate closed", b);
        else
            redisAppendCommand(j->redis, "DEL ig:{%u}:gate", b);
    }
    redisAppendCommand(j->redis, "SET ig:{%d}:trust %s", IG_WL_BUCKET, json);
    for (unsigned i = 0; i != IG_BUCKETS + 1; ++i) {
        void *r = NULL;
        redisReply *reply;
        if (redisGetReply(j->redis, &r) != REDIS_OK) {
            fail(j, "redis gate write: %s", j->redis->errstr[0] != '\0' ? j->redis->errstr : "connection lost");
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

    if (connect_pg(j) != 0 || connect_redis(j) != 0)
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

    sync_gate_decide(&d, &c, j->auto_closed, mode, j->cfg);
    if (sync_gate_trust_json(json, sizeof(json), &d, &c, j->cfg, end_ms) != 0)
        return fail(j, "step=publish reason=\"trust document does not fit\"");
    if (publish(j, &d, json) != 0)
        return -1;
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

    sync_heartbeat_attach(&j->beat_ms);
    ig_info("msg=\"trust gate starting\" interval_ms=%u window_days=%u min_redemptions=%u close_below=%.4f reopen_above=%.4f "
            "max_fraud_rate=%.4f",
            j->cfg->gate_interval_ms, j->cfg->gate_window_days, j->cfg->gate_min_redemptions, j->cfg->gate_close_below,
            j->cfg->gate_reopen_above, j->cfg->gate_max_fraud_rate);
    while (!sync_stop_requested()) {
        uint64_t start = sync_now_ms(), spent;
        if (sync_gate_job_evaluate(j) != 0) {
            if (sync_backoff_should_log(&j->backoff))
                ig_warn("msg=\"trust gate not evaluated, keeping the last decision\" %s attempt=%u retry_ms=%u", j->errstr,
                        j->backoff.failures + 1, j->backoff.delay_ms);
            sync_backoff_wait(&j->backoff);
            continue;
        }
        sync_backoff_reset(&j->backoff);
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
    sigset_t block, old;
    int err;

    if (j->cfg->gate_interval_ms == 0) {
        ig_info("msg=\"trust gate off\" reason=\"gate_interval_ms is 0\"");
        return 0;
    }
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    err = pthread_create(&j->thread, NULL, gate_main, j);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err != 0) {
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
