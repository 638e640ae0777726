#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "ig_keys.h"
#include "apply.h"

/*
 * Times arrive as Unix milliseconds (seconds for exp) and become timestamptz
 * as `timestamptz 'epoch' + ms * interval '1 millisecond'`: exact to the
 * millisecond for any date before the 23rd century, and free of the session
 * time zone.
 */

/*
 * Records the event ids of the batch but its redemptions (whose own unique
 * event_id does that job, see SQL_REDEEMED); returns those seen for the first
 * time.
 */
static const char SQL_RECORD[] = "INSERT INTO processed_events (event_id) SELECT unnest($1::text[]) "
                                 "ON CONFLICT (event_id) DO NOTHING RETURNING event_id";

/*
 * The fast path's record: a plain INSERT, because none of a first delivery's
 * ids can be there. ON CONFLICT would probe the index before inserting and
 * take a speculative-insertion lock per row; if an id is there after all,
 * the primary key fails the transaction and the safe path takes over.
 */
static const char SQL_RECORD_NEW[] = "INSERT INTO processed_events (event_id) SELECT unnest($1::text[])";

/*
 * New invites. use_count, used_at and revoked_at start from the redemptions
 * and revocations already recorded for the code (this batch's included:
 * they are written first), so an event applied before the issued event of
 * its code (claimed from a dead consumer, or read by another daemon) is not
 * lost.
 */
static const char SQL_ISSUED[] =
    "INSERT INTO invites (code, batch_id, cohort, issued_to, max_uses, use_count, used_at, expires_at, revoked_at, created_by, "
    "created_at) "
    "SELECT u.code, u.batch_id, u.cohort, u.issued_to, u.max_uses, LEAST(u.max_uses, COALESCE(r.n, 0)), r.first_at, "
    "timestamptz 'epoch' + u.exp_s * interval '1 second', v.revoked_at, u.created_by, "
    "timestamptz 'epoch' + u.at_ms * interval '1 millisecond' "
    "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::bigint[], $7::text[], $8::bigint[]) "
    "AS u(code, batch_id, cohort, issued_to, max_uses, exp_s, created_by, at_ms) "
    "LEFT JOIN LATERAL (SELECT max(use_number) AS n, min(redeemed_at) AS first_at FROM redemptions "
    "WHERE redemptions.code = u.code) AS r ON true "
    "LEFT JOIN revocations AS v ON v.code = u.code "
    "ON CONFLICT (code) DO NOTHING";

/*
 * One row per redemption; (code, email) and event_id are both unique, either
 * conflict skips the row. Redemptions are not recorded in processed_events:
 * the row is the record, and the ids that come back are the redemptions
 * applied for the first time (a replayed event, or one for an address that
 * already redeemed the code, inserts nothing and is not applied further).
 */
static const char SQL_REDEEMED[] =
    "INSERT INTO redemptions (event_id, code, email, use_number, client_addr, redeemed_at) "
    "SELECT u.event_id, u.code, u.email, u.n, u.ip, timestamptz 'epoch' + u.at_ms * interval '1 millisecond' "
    "FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::bigint[]) "
    "AS u(event_id, code, email, n, ip, at_ms) "
    "ON CONFLICT DO NOTHING RETURNING event_id";

/*
 * The fast path's redemptions: the same rows without ON CONFLICT, which on a
 * table with three unique indexes costs half again the insert (a probe of
 * each before the insert, and a speculative-insertion lock). A redemption
 * already recorded, by event id or by (code, email), fails the transaction
 * and the safe path takes over.
 */
static const char SQL_REDEEMED_NEW[] =
    "INSERT INTO redemptions (event_id, code, email, use_number, client_addr, redeemed_at) "
    "SELECT u.event_id, u.code, u.email, u.n, u.ip, timestamptz 'epoch' + u.at_ms * interval '1 millisecond' "
    "FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::bigint[]) "
    "AS u(event_id, code, email, n, ip, at_ms)";

/*
 * Use counts, merged per code first (UPDATE ... FROM would apply an arbitrary
 * one of several matching rows). GREATEST and LEAST make the update
 * idempotent and order-free; capping at max_uses keeps the CHECK constraint
 * from failing the batch whatever an event says. Rows already up to date are
 * not rewritten.
 */
static const char SQL_USED[] =
    "UPDATE invites AS i SET use_count = GREATEST(i.use_count, LEAST(i.max_uses, u.n)), used_at = LEAST(i.used_at, u.first_at) "
    "FROM (SELECT code, max(n) AS n, min(timestamptz 'epoch' + at_ms * interval '1 millisecond') AS first_at "
    "FROM unnest($1::text[], $2::int[], $3::bigint[]) AS x(code, n, at_ms) GROUP BY code) AS u "
    "WHERE i.code = u.code AND (i.use_count < LEAST(i.max_uses, u.n) OR i.used_at IS NULL OR i.used_at > u.first_at)";

/*
 * Revocations, merged per code (the earliest wins), recorded in revocations
 * for an invite that is not there yet, and copied to the invite that is.
 */
static const char SQL_REVOKED[] = "WITH u AS (SELECT code, (array_agg(event_id ORDER BY at_ms))[1] AS event_id, "
                                  "timestamptz 'epoch' + min(at_ms) * interval '1 millisecond' AS at "
                                  "FROM unnest($1::text[], $2::text[], $3::bigint[]) AS x(event_id, code, at_ms) GROUP BY code), "
                                  "rec AS (INSERT INTO revocations (code, event_id, revoked_at) SELECT code, event_id, at FROM u "
                                  "ON CONFLICT (code) DO UPDATE SET revoked_at = EXCLUDED.revoked_at, event_id = EXCLUDED.event_id "
                                  "WHERE revocations.revoked_at > EXCLUDED.revoked_at) "
                                  "UPDATE invites AS i SET revoked_at = LEAST(i.revoked_at, u.at) FROM u "
                                  "WHERE i.code = u.code AND (i.revoked_at IS NULL OR i.revoked_at > u.at)";

/*
 * The people named by redemptions and bound codes ($1 user ids, $2 e-mails,
 * $3 event times), recorded in user_emails. For a person already erased,
 * rows of this transaction from before the erasure are anonymised (their
 * events arrived after it, from another stream), and an event after it
 * records the address again. Inserted in user_id order, so that two lanes
 * recording the same people cannot deadlock.
 */
static const char SQL_PEOPLE[] =
    "WITH u AS (SELECT DISTINCT ON (id) id, email, timestamptz 'epoch' + at_ms * interval '1 millisecond' AS at "
    "FROM unnest($1::uuid[], $2::text[], $3::bigint[]) AS x(id, email, at_ms) ORDER BY id, at_ms DESC), "
    "gone AS (SELECT u.id, u.email, u.at, e.erased_at, 'erased:' || u.id::text AS anon FROM u "
    "JOIN user_emails AS e ON e.user_id = u.id WHERE e.email IS NULL), "
    "r AS (UPDATE redemptions AS t SET email = g.anon FROM gone AS g WHERE t.email = g.email AND t.redeemed_at <= g.erased_at), "
    "i AS (UPDATE invites AS t SET issued_to = g.anon FROM gone AS g WHERE t.issued_to = g.email AND t.created_at <= g.erased_at), "
    "back AS (UPDATE user_emails AS e SET email = g.email, erased_at = NULL FROM gone AS g "
    "WHERE e.user_id = g.id AND g.at > g.erased_at) "
    "INSERT INTO user_emails (user_id, email, first_seen_at) SELECT id, email, at FROM u ORDER BY id ON CONFLICT DO NOTHING";

/*
 * Two daemons may apply batches at once. An invite and the events of its code
 * must then not be written by concurrent transactions, or neither sees the
 * other's rows (an INSERT of the invite missing a redemption not yet
 * committed). Each transaction therefore takes, before writing, a lock per
 * code bucket it touches (ig_code_bucket), in ascending order so that two
 * transactions cannot deadlock. READ COMMITTED then gives every later
 * statement a snapshot that includes the previous holder's commit. The two-key
 * form keeps these locks apart from single-key advisory locks (migrate's).
 */
#define SYNC_APPLY_LOCK_CLASS "1768387449" /* "igsy" */
static const char SQL_LOCK[] = "SELECT pg_advisory_xact_lock(" SYNC_APPLY_LOCK_CLASS ", b) FROM unnest($1::int[]) AS b";

/* The array parameters, one per column; each PARAMS_* list gives a statement its $1, $2, ... in order. */
enum {
    COL_EVENT_ID,
    COL_ISSUED_CODE,
    COL_ISSUED_BATCH,
    COL_ISSUED_COHORT,
    COL_ISSUED_TO,
    COL_ISSUED_MAX,
    COL_ISSUED_EXP,
    COL_ISSUED_BY,
    COL_ISSUED_AT,
    COL_REDEEMED_EVENT_ID,
    COL_REDEEMED_CODE,
    COL_REDEEMED_EMAIL,
    COL_REDEEMED_N,
    COL_REDEEMED_IP,
    COL_REDEEMED_AT,
    COL_REVOKED_EVENT_ID,
    COL_REVOKED_CODE,
    COL_REVOKED_AT,
    COL_LOCK_BUCKET,
    COL_PERSON_ID,
    COL_PERSON_EMAIL,
    COL_PERSON_AT,
    COL_COUNT
};
_Static_assert(COL_COUNT == SYNC_APPLY_ARRAYS, "SYNC_APPLY_ARRAYS must match the column list");

static const int PARAMS_RECORD[] = {COL_EVENT_ID};
static const int PARAMS_ISSUED[] = {COL_ISSUED_CODE, COL_ISSUED_BATCH, COL_ISSUED_COHORT, COL_ISSUED_TO,
                                    COL_ISSUED_MAX,  COL_ISSUED_EXP,   COL_ISSUED_BY,     COL_ISSUED_AT};
static const int PARAMS_REDEEMED[] = {COL_REDEEMED_EVENT_ID, COL_REDEEMED_CODE, COL_REDEEMED_EMAIL,
                                      COL_REDEEMED_N,        COL_REDEEMED_IP,   COL_REDEEMED_AT};
static const int PARAMS_USED[] = {COL_REDEEMED_CODE, COL_REDEEMED_N, COL_REDEEMED_AT};
static const int PARAMS_REVOKED[] = {COL_REVOKED_EVENT_ID, COL_REVOKED_CODE, COL_REVOKED_AT};
static const int PARAMS_LOCK[] = {COL_LOCK_BUCKET};
static const int PARAMS_PEOPLE[] = {COL_PERSON_ID, COL_PERSON_EMAIL, COL_PERSON_AT};

#define NPARAMS(list) ((int)(sizeof(list) / sizeof(list[0])))

void sync_apply_init(sync_apply_t *a, const ig_config_t *cfg, const sync_keys_t *keys)
{
    memset(a, 0, sizeof(*a));
    for (size_t i = 0; i != SYNC_APPLY_ARRAYS; ++i)
        sync_pgarray_init(&a->arrays[i]);
    a->keys = keys;
    sync_product_init(&a->product, cfg, keys);
}

void sync_apply_dispose(sync_apply_t *a)
{
    const ig_config_t *cfg = a->product.cfg;
    const sync_keys_t *keys = a->keys;

    for (size_t i = 0; i != SYNC_APPLY_ARRAYS; ++i)
        sync_pgarray_dispose(&a->arrays[i]);
    free(a->fresh);
    free(a->run);
    sync_product_dispose(&a->product);
    sync_apply_init(a, cfg, keys);
}

static double elapsed_ms(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) * 1e3 + (double)(now.tv_nsec - start->tv_nsec) / 1e6;
}

/* Records why step failed in a->errstr. */
static void fail(sync_apply_t *a, PGconn *conn, const PGresult *res, const char *step)
{
    char desc[SYNC_DB_DESC_BYTES];
    sync_db_describe(desc, sizeof(desc), conn, res, 1);
    snprintf(a->errstr, sizeof(a->errstr), "step=%s %s", step, desc);
}

/*
 * Runs sql with the arrays listed in params. Returns the result (the caller
 * clears it) when its status is want, otherwise NULL with a->errstr set.
 */
static PGresult *run(sync_apply_t *a, PGconn *conn, const char *step, const char *sql, const int *params, int nparams,
                     ExecStatusType want)
{
    PGresult *res = sync_db_exec_arrays(conn, sql, a->arrays, params, nparams);
    if (PQresultStatus(res) == want)
        return res;
    fail(a, conn, res, step);
    PQclear(res);
    return NULL;
}

static int command(sync_apply_t *a, PGconn *conn, const char *step, const char *sql, const int *params, int nparams)
{
    PGresult *res = run(a, conn, step, sql, params, nparams, PGRES_COMMAND_OK);
    if (res == NULL)
        return -1;
    PQclear(res);
    return 0;
}

static int compare_str(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/*
 * Sets a->fresh[i] for the events of b whose id is in the first column of res,
 * among the redemptions (redeemed set) or the other events. An id listed
 * twice in one batch (read and claimed) is fresh once only, so each event is
 * applied and counted once. Returns the number of events set.
 */
static size_t mark_fresh(sync_apply_t *a, const sync_batch_t *b, const PGresult *res, int redeemed)
{
    int n = PQntuples(res);
    const char **ids;
    unsigned char *used;
    size_t count = 0;

    if ((ids = malloc(((size_t)n + 1) * sizeof(*ids))) == NULL || (used = calloc((size_t)n + 1, 1)) == NULL)
        abort();
    for (int i = 0; i != n; ++i)
        ids[i] = PQgetvalue(res, i, 0);
    qsort(ids, (size_t)n, sizeof(*ids), compare_str);
    for (size_t i = 0; i != b->num_events; ++i) {
        const char *key = b->events[i].event_id;
        const char **hit;
        if ((b->events[i].type == SYNC_EVENT_REDEEMED) != redeemed)
            continue;
        hit = bsearch(&key, ids, (size_t)n, sizeof(*ids), compare_str);
        a->fresh[i] = hit != NULL && !used[hit - ids];
        if (a->fresh[i]) {
            used[hit - ids] = 1;
            ++count;
        }
    }
    free(used);
    free(ids);
    return count;
}

/*
 * Inserts the event ids but the redemptions' and sets a->fresh[i] for the
 * events seen for the first time. Every redemption is marked as a candidate:
 * inserting it tells whether it is new (apply_fresh).
 */
static int record_events(sync_apply_t *a, PGconn *conn, const sync_batch_t *b, sync_apply_stats_t *stats)
{
    PGresult *res;

    sync_pgarray_reset(&a->arrays[COL_EVENT_ID]);
    for (size_t i = 0; i != b->num_events; ++i) {
        a->fresh[i] = b->events[i].type == SYNC_EVENT_REDEEMED;
        if (!a->fresh[i])
            sync_pgarray_add_str(&a->arrays[COL_EVENT_ID], b->events[i].event_id);
    }
    if (a->arrays[COL_EVENT_ID].count == 0)
        return 0;
    if ((res = run(a, conn, "record_events", SQL_RECORD, PARAMS_RECORD, NPARAMS(PARAMS_RECORD), PGRES_TUPLES_OK)) == NULL)
        return -1;
    stats->fresh += mark_fresh(a, b, res, 0);
    PQclear(res);
    return 0;
}

/* Adds the person an e-mail of ev names to the SQL_PEOPLE arrays. */
static void add_person(sync_apply_t *a, const char *email, const sync_event_t *ev)
{
    sync_user_id_t uid;

    if (a->keys == NULL || email == NULL)
        return;
    sync_user_id_of(&uid, email, a->keys);
    sync_pgarray_add_str(&a->arrays[COL_PERSON_ID], uid.s);
    sync_pgarray_add_str(&a->arrays[COL_PERSON_EMAIL], email);
    sync_pgarray_add_int(&a->arrays[COL_PERSON_AT], ev->at_ms);
}

/* Adds a redemption to the SQL_REDEEMED and SQL_USED arrays, and its redeemer to SQL_PEOPLE's when people is set. */
static void add_redeemed(sync_apply_t *a, const sync_event_t *ev, int people)
{
    sync_pgarray_t *c = a->arrays;

    sync_pgarray_add_str(&c[COL_REDEEMED_EVENT_ID], ev->event_id);
    sync_pgarray_add_str(&c[COL_REDEEMED_CODE], ev->code);
    sync_pgarray_add_str(&c[COL_REDEEMED_EMAIL], ev->email);
    sync_pgarray_add_int(&c[COL_REDEEMED_N], ev->use_number);
    sync_pgarray_add_str(&c[COL_REDEEMED_IP], ev->ip);
    sync_pgarray_add_int(&c[COL_REDEEMED_AT], ev->at_ms);
    if (people)
        add_person(a, ev->email, ev);
}

/*
 * Fills the per-type arrays with the fresh events of b and counts them. The
 * redeemers go into the SQL_PEOPLE arrays only when redeemers is set (the
 * fast path, where every redemption is new; the safe path adds them once the
 * insert has told which are).
 */
static void collect_fresh(sync_apply_t *a, const sync_batch_t *b, sync_apply_stats_t *stats, int redeemers)
{
    sync_pgarray_t *c = a->arrays;
    unsigned char buckets[IG_BUCKETS] = {0};

    for (size_t i = COL_ISSUED_CODE; i != COL_COUNT; ++i)
        sync_pgarray_reset(&c[i]);
    for (size_t i = 0; i != b->num_events; ++i) {
        const sync_event_t *ev = &b->events[i];
        if (!a->fresh[i])
            continue;
        /* Product events lock the waitlist's bucket: two daemons never apply them side by side. */
        if (sync_event_is_product(ev->type))
            buckets[IG_WL_BUCKET] = 1;
        else if (ev->type != SYNC_EVENT_MALFORMED)
            buckets[ig_code_bucket(ev->code)] = 1;
        switch (ev->type) {
        case SYNC_EVENT_ISSUED:
            sync_pgarray_add_str(&c[COL_ISSUED_CODE], ev->code);
            sync_pgarray_add_str(&c[COL_ISSUED_BATCH], ev->batch);
            sync_pgarray_add_str(&c[COL_ISSUED_COHORT], ev->cohort);
            sync_pgarray_add_str(&c[COL_ISSUED_TO], ev->issued_to);
            sync_pgarray_add_int(&c[COL_ISSUED_MAX], ev->max_uses);
            sync_pgarray_add_int(&c[COL_ISSUED_EXP], ev->expires_s);
            sync_pgarray_add_str(&c[COL_ISSUED_BY], ev->created_by);
            sync_pgarray_add_int(&c[COL_ISSUED_AT], ev->at_ms);
            add_person(a, ev->issued_to, ev);
            ++stats->issued;
            break;
        case SYNC_EVENT_REDEEMED:
            add_redeemed(a, ev, redeemers);
            ++stats->redeemed;
            break;
        case SYNC_EVENT_REVOKED:
            sync_pgarray_add_str(&c[COL_REVOKED_EVENT_ID], ev->event_id);
            sync_pgarray_add_str(&c[COL_REVOKED_CODE], ev->code);
            sync_pgarray_add_int(&c[COL_REVOKED_AT], ev->at_ms);
            ++stats->revoked;
            break;
        case SYNC_EVENT_MALFORMED:
            ++stats->malformed;
            break;
        default:
            ++stats->product;
            break;
        }
    }
    for (int k = 0; k != IG_BUCKETS; ++k)
        if (buckets[k])
            sync_pgarray_add_int(&c[COL_LOCK_BUCKET], k);
}

/*
 * Inserts the candidate redemptions collected from b, keeps as fresh those
 * inserted, and refills the redemption arrays with them (for SQL_USED), their
 * redeemers added to SQL_PEOPLE's.
 */
static int insert_redemptions(sync_apply_t *a, PGconn *conn, const sync_batch_t *b, sync_apply_stats_t *stats)
{
    PGresult *res;

    if ((res = run(a, conn, "insert_redemptions", SQL_REDEEMED, PARAMS_REDEEMED, NPARAMS(PARAMS_REDEEMED), PGRES_TUPLES_OK)) ==
        NULL)
        return -1;
    stats->redeemed = mark_fresh(a, b, res, 1);
    stats->fresh += stats->redeemed;
    PQclear(res);
    for (size_t i = COL_REDEEMED_EVENT_ID; i <= COL_REDEEMED_AT; ++i)
        sync_pgarray_reset(&a->arrays[i]);
    for (size_t i = 0; i != b->num_events; ++i)
        if (a->fresh[i] && b->events[i].type == SYNC_EVENT_REDEEMED)
            add_redeemed(a, &b->events[i], 1);
    return 0;
}

/*
 * The statements for the fresh events, one per kind, under the bucket locks.
 * Redemptions and revocations go first so that an invite issued in the same
 * batch is inserted complete, and the use-count update has nothing left to
 * rewrite for it.
 */
static int apply_fresh(sync_apply_t *a, PGconn *conn, const sync_batch_t *b, sync_apply_stats_t *stats)
{
    PGresult *res;

    if (a->arrays[COL_LOCK_BUCKET].count == 0)
        return 0;
    if ((res = run(a, conn, "lock_buckets", SQL_LOCK, PARAMS_LOCK, NPARAMS(PARAMS_LOCK), PGRES_TUPLES_OK)) == NULL)
        return -1;
    PQclear(res);
    if (stats->redeemed != 0 && insert_redemptions(a, conn, b, stats) != 0)
        return -1;
    if (stats->revoked != 0 && command(a, conn, "revoke_invites", SQL_REVOKED, PARAMS_REVOKED, NPARAMS(PARAMS_REVOKED)) != 0)
        return -1;
    if (stats->issued != 0 && command(a, conn, "insert_invites", SQL_ISSUED, PARAMS_ISSUED, NPARAMS(PARAMS_ISSUED)) != 0)
        return -1;
    if (stats->redeemed != 0 && command(a, conn, "update_use_counts", SQL_USED, PARAMS_USED, NPARAMS(PARAMS_USED)) != 0)
        return -1;
    if (a->arrays[COL_PERSON_ID].count != 0 &&
        command(a, conn, "record_people", SQL_PEOPLE, PARAMS_PEOPLE, NPARAMS(PARAMS_PEOPLE)) != 0)
        return -1;
    return 0;
}

/* Applies the run of joined, clicked and admitted events collected so far, and empties it. */
static int flush_run(sync_apply_t *a, PGconn *conn, size_t *len)
{
    int ret = sync_product_apply_run(&a->product, conn, a->run, *len);
    *len = 0;
    return ret;
}

/*
 * The fresh product events of b in stream order, then the touched users'
 * balances: consecutive joined, clicked and admitted events a run at a
 * time, the others one by one between the runs.
 */
static int apply_product(sync_apply_t *a, PGconn *conn, const sync_batch_t *b, const sync_apply_stats_t *stats)
{
    size_t len = 0;

    if (stats->product == 0)
        return 0;
    if (stats->product > a->cap_run) {
        free(a->run);
        if ((a->run = malloc(stats->product * sizeof(*a->run))) == NULL)
            abort();
        a->cap_run = stats->product;
    }
    for (size_t i = 0; i != b->num_events; ++i) {
        const sync_event_t *ev = &b->events[i];
        if (!a->fresh[i] || !sync_event_is_product(ev->type))
            continue;
        if (sync_product_in_runs(ev->type)) {
            a->run[len++] = ev;
            continue;
        }
        if (flush_run(a, conn, &len) != 0 || sync_product_apply(&a->product, conn, ev) != 0)
            goto Error;
    }
    if (flush_run(a, conn, &len) != 0 || sync_product_finish(&a->product, conn) != 0)
        goto Error;
    return 0;

Error:
    snprintf(a->errstr, sizeof(a->errstr), "%s", a->product.errstr);
    return -1;
}

/* Grows a->fresh to hold a flag per event of b. */
static void reserve_fresh(sync_apply_t *a, const sync_batch_t *b)
{
    if (b->num_events <= a->cap_fresh)
        return;
    free(a->fresh);
    if ((a->fresh = malloc(b->num_events)) == NULL)
        abort();
    a->cap_fresh = b->num_events;
}

/*
 * The safe path: one transaction whose statements each wait for the one
 * before, recording the ids with ON CONFLICT and applying only the events
 * that were new.
 */
static int apply_safe(sync_apply_t *a, PGconn *conn, const sync_batch_t *b, sync_apply_stats_t *stats)
{
    struct timespec start;
    PGresult *res = NULL;
    int ret = -1;

    memset(stats, 0, sizeof(*stats));
    a->errstr[0] = '\0';
    reserve_fresh(a, b);
    sync_product_reset(&a->product);
    clock_gettime(CLOCK_MONOTONIC, &start);
    res = PQexec(conn, "BEGIN");
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        fail(a, conn, res, "begin");
        goto Exit;
    }
    PQclear(res);
    res = NULL;
    if (record_events(a, conn, b, stats) != 0)
        goto Exit;
    collect_fresh(a, b, stats, 0);
    if (apply_fresh(a, conn, b, stats) != 0 || apply_product(a, conn, b, stats) != 0)
        goto Exit;
    stats->replayed = b->num_events - stats->fresh;
    /* COMMIT of a transaction that failed answers ROLLBACK with a success status: check the tag. */
    res = PQexec(conn, "COMMIT");
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        fail(a, conn, res, "commit");
        goto Exit;
    }
    if (strcmp(PQcmdStatus(res), "COMMIT") != 0) {
        snprintf(a->errstr, sizeof(a->errstr), "step=commit reason=\"the server rolled the transaction back\"");
        goto Exit;
    }
    stats->txn_ms = elapsed_ms(&start);
    ret = 0;

Exit:
    PQclear(res);
    /* Leave the connection idle for the retry; a broken one is replaced by the caller. */
    if (ret != 0 && PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) != PQTRANS_IDLE)
        PQclear(PQexec(conn, "ROLLBACK"));
    return ret;
}

/* Queues one statement of the fast-path pipeline, with the arrays listed in params. */
static int send_step(sync_apply_t *a, PGconn *conn, const char *step, const char *sql, const int *params, int nparams)
{
    const char *values[SYNC_APPLY_ARRAYS];

    assert(a->sent < SYNC_APPLY_MAX_STEPS);
    for (int i = 0; i != nparams; ++i)
        values[i] = sync_pgarray_finish(&a->arrays[params[i]]);
    if (!PQsendQueryParams(conn, sql, nparams, NULL, values, NULL, NULL, 0)) {
        fail(a, conn, NULL, step);
        return -1;
    }
    a->steps[a->sent++] = step;
    return 0;
}

/*
 * Sends the fast-path transaction of b, every event fresh, in pipeline mode:
 * BEGIN, the plain inserts, the other statements, COMMIT, then a sync
 * point. Nothing waits for a result, so PostgreSQL runs the statements back
 * to back while the caller does something else.
 */
static int send_fast(sync_apply_t *a, PGconn *conn, const sync_batch_t *b)
{
    const sync_apply_stats_t *st = &a->pending;

    memset(a->fresh, 1, b->num_events);
    sync_pgarray_reset(&a->arrays[COL_EVENT_ID]);
    for (size_t i = 0; i != b->num_events; ++i)
        if (b->events[i].type != SYNC_EVENT_REDEEMED)
            sync_pgarray_add_str(&a->arrays[COL_EVENT_ID], b->events[i].event_id);
    a->pending.fresh = b->num_events;
    collect_fresh(a, b, &a->pending, 1);
    if (!PQenterPipelineMode(conn)) {
        fail(a, conn, NULL, "pipeline");
        return -1;
    }
    if (send_step(a, conn, "begin", "BEGIN", NULL, 0) != 0)
        return -1;
    if (a->arrays[COL_EVENT_ID].count != 0 &&
        send_step(a, conn, "record_events", SQL_RECORD_NEW, PARAMS_RECORD, NPARAMS(PARAMS_RECORD)) != 0)
        return -1;
    if (a->arrays[COL_LOCK_BUCKET].count != 0 &&
        send_step(a, conn, "lock_buckets", SQL_LOCK, PARAMS_LOCK, NPARAMS(PARAMS_LOCK)) != 0)
        return -1;
    if (st->redeemed != 0 &&
        send_step(a, conn, "insert_redemptions", SQL_REDEEMED_NEW, PARAMS_REDEEMED, NPARAMS(PARAMS_REDEEMED)) != 0)
        return -1;
    if (st->revoked != 0 && send_step(a, conn, "revoke_invites", SQL_REVOKED, PARAMS_REVOKED, NPARAMS(PARAMS_REVOKED)) != 0)
        return -1;
    if (st->issued != 0 && send_step(a, conn, "insert_invites", SQL_ISSUED, PARAMS_ISSUED, NPARAMS(PARAMS_ISSUED)) != 0)
        return -1;
    if (st->redeemed != 0 && send_step(a, conn, "update_use_counts", SQL_USED, PARAMS_USED, NPARAMS(PARAMS_USED)) != 0)
        return -1;
    if (a->arrays[COL_PERSON_ID].count != 0 &&
        send_step(a, conn, "record_people", SQL_PEOPLE, PARAMS_PEOPLE, NPARAMS(PARAMS_PEOPLE)) != 0)
        return -1;
    if (send_step(a, conn, "commit", "COMMIT", NULL, 0) != 0)
        return -1;
    if (!PQpipelineSync(conn)) {
        fail(a, conn, NULL, "pipeline_sync");
        return -1;
    }
    return 0;
}

void sync_apply_start(sync_apply_t *a, PGconn *conn, const sync_batch_t *b)
{
    a->sent = 0;
    a->send_failed = 0;
    a->errstr[0] = '\0';
    memset(&a->pending, 0, sizeof(a->pending));
    reserve_fresh(a, b);
    sync_product_reset(&a->product);
    clock_gettime(CLOCK_MONOTONIC, &a->started);
    if (!b->first_delivery || b->num_events == 0)
        return;
    /* Product events are applied one by one, in order: the safe path's job. */
    for (size_t i = 0; i != b->num_events; ++i)
        if (sync_event_is_product(b->events[i].type))
            return;
    if (send_fast(a, conn, b) != 0)
        a->send_failed = 1;
}

/*
 * Reads the results of the fast-path pipeline: one result then NULL per
 * statement (PGRES_PIPELINE_ABORTED for those after a failure), then the
 * sync point, and leaves pipeline mode. Returns 0 when COMMIT succeeded;
 * otherwise -1 with a->errstr describing the first failure, and *conflict
 * set when that was a unique violation.
 */
static int read_fast(sync_apply_t *a, PGconn *conn, int *conflict)
{
    PGresult *res;
    int failed = 0;

    *conflict = 0;
    for (int i = 0; i != a->sent; ++i) {
        ExecStatusType st;
        if ((res = PQgetResult(conn)) == NULL) {
            fail(a, conn, NULL, a->steps[i]);
            return -1;
        }
        st = PQresultStatus(res);
        if (st == PGRES_PIPELINE_ABORTED || failed) {
            /* Skipped after an earlier failure, which errstr describes. */
        } else if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
            const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
            fail(a, conn, res, a->steps[i]);
            *conflict = state != NULL && strcmp(state, "23505") == 0;
            failed = 1;
        } else if (i == a->sent - 1 && strcmp(PQcmdStatus(res), "COMMIT") != 0) {
            snprintf(a->errstr, sizeof(a->errstr), "step=commit reason=\"the server rolled the transaction back\"");
            failed = 1;
        }
        PQclear(res);
        /* The end of this statement's results. */
        if ((res = PQgetResult(conn)) != NULL) {
            PQclear(res);
            snprintf(a->errstr, sizeof(a->errstr), "step=%s reason=\"unexpected extra result in the pipeline\"", a->steps[i]);
            return -1;
        }
    }
    if ((res = PQgetResult(conn)) == NULL || PQresultStatus(res) != PGRES_PIPELINE_SYNC) {
        if (!failed)
            fail(a, conn, res, "pipeline_sync");
        PQclear(res);
        return -1;
    }
    PQclear(res);
    if (!PQexitPipelineMode(conn)) {
        if (!failed)
            fail(a, conn, NULL, "pipeline_exit");
        return -1;
    }
    return failed ? -1 : 0;
}

int sync_apply_finish(sync_apply_t *a, PGconn *conn, const sync_batch_t *b, sync_apply_stats_t *stats)
{
    int conflict = 0, ret;

    if (a->sent == 0 && !a->send_failed)
        return apply_safe(a, conn, b, stats);
    ret = a->send_failed ? -1 : read_fast(a, conn, &conflict);
    a->sent = 0;
    if (ret == 0) {
        *stats = a->pending;
        stats->fast = 1;
        stats->txn_ms = elapsed_ms(&a->started);
        return 0;
    }
    memset(stats, 0, sizeof(*stats));
    /* Leave the connection idle for the safe path or a retry; a broken one is replaced by the caller. */
    if (PQstatus(conn) != CONNECTION_OK || PQpipelineStatus(conn) != PQ_PIPELINE_OFF)
        return -1;
    if (PQtransactionStatus(conn) != PQTRANS_IDLE)
        PQclear(PQexec(conn, "ROLLBACK"));
    if (!conflict)
        return -1;
    ret = apply_safe(a, conn, b, stats);
    stats->fell_back = 1;
    return ret;
}

int sync_apply_batch(sync_apply_t *a, PGconn *conn, const sync_batch_t *b, sync_apply_stats_t *stats)
{
    sync_apply_start(a, conn, b);
    return sync_apply_finish(a, conn, b, stats);
}
