#include <stdio.h>
#include <string.h>
#include "invites.h"

/*
 * Times arrive as Unix milliseconds (seconds for exp) and become timestamptz
 * as `timestamptz 'epoch' + ms * interval '1 millisecond'`: exact to the
 * millisecond for any date before the 23rd century, and free of the session
 * time zone.
 */

/* New invites; one that exists already is left as it is. */
static const char SQL_ISSUED[] =
    "INSERT INTO invites (code, batch_id, cohort, issued_to, max_uses, expires_at, created_by, created_at) "
    "SELECT u.code, u.batch_id, u.cohort, u.issued_to, u.max_uses, timestamptz 'epoch' + u.exp_s * interval '1 second', "
    "u.created_by, timestamptz 'epoch' + u.at_ms * interval '1 millisecond' "
    "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::bigint[], $7::text[], $8::bigint[]) "
    "AS u(code, batch_id, cohort, issued_to, max_uses, exp_s, created_by, at_ms) "
    "ON CONFLICT (code) DO NOTHING";

/* One row per redemption. */
static const char SQL_REDEEMED[] =
    "INSERT INTO redemptions (event_id, code, email, use_number, client_addr, redeemed_at) "
    "SELECT u.event_id, u.code, u.email, u.n, u.ip, timestamptz 'epoch' + u.at_ms * interval '1 millisecond' "
    "FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::bigint[]) "
    "AS u(event_id, code, email, n, ip, at_ms)";

/*
 * Use counts, merged per code first (UPDATE ... FROM would apply an arbitrary
 * one of several matching rows). GREATEST and LEAST keep a count from going
 * back; capping at max_uses keeps the CHECK constraint from failing the
 * batch whatever an event says. Rows already up to date are not rewritten.
 */
static const char SQL_USED[] =
    "UPDATE invites AS i SET use_count = GREATEST(i.use_count, LEAST(i.max_uses, u.n)), used_at = LEAST(i.used_at, u.first_at) "
    "FROM (SELECT code, max(n) AS n, min(timestamptz 'epoch' + at_ms * interval '1 millisecond') AS first_at "
    "FROM unnest($1::text[], $2::int[], $3::bigint[]) AS x(code, n, at_ms) GROUP BY code) AS u "
    "WHERE i.code = u.code AND (i.use_count < LEAST(i.max_uses, u.n) OR i.used_at IS NULL OR i.used_at > u.first_at)";

/*
 * Revocations, merged per code (the earliest wins), recorded in revocations
 * and copied to the invite.
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

/* The array parameters, one per column; each PARAMS_* list gives a statement its $1, $2, ... in order. */
enum {
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
    COL_PERSON_ID,
    COL_PERSON_EMAIL,
    COL_PERSON_AT,
    COL_COUNT
};
_Static_assert(COL_COUNT == SYNC_INVITES_ARRAYS, "SYNC_INVITES_ARRAYS must match the column list");

static const int PARAMS_ISSUED[] = {COL_ISSUED_CODE, COL_ISSUED_BATCH, COL_ISSUED_COHORT, COL_ISSUED_TO,
                                    COL_ISSUED_MAX,  COL_ISSUED_EXP,   COL_ISSUED_BY,     COL_ISSUED_AT};
static const int PARAMS_REDEEMED[] = {COL_REDEEMED_EVENT_ID, COL_REDEEMED_CODE, COL_REDEEMED_EMAIL,
                                      COL_REDEEMED_N,        COL_REDEEMED_IP,   COL_REDEEMED_AT};
static const int PARAMS_USED[] = {COL_REDEEMED_CODE, COL_REDEEMED_N, COL_REDEEMED_AT};
static const int PARAMS_REVOKED[] = {COL_REVOKED_EVENT_ID, COL_REVOKED_CODE, COL_REVOKED_AT};
static const int PARAMS_PEOPLE[] = {COL_PERSON_ID, COL_PERSON_EMAIL, COL_PERSON_AT};
#define NPARAMS(p) ((int)(sizeof(p) / sizeof((p)[0])))

void sync_invites_init(sync_invites_t *inv, const sync_keys_t *keys)
{
    memset(inv, 0, sizeof(*inv));
    inv->keys = keys;
    for (size_t i = 0; i != SYNC_INVITES_ARRAYS; ++i)
        sync_pgarray_init(&inv->arrays[i]);
}

void sync_invites_dispose(sync_invites_t *inv)
{
    for (size_t i = 0; i != SYNC_INVITES_ARRAYS; ++i)
        sync_pgarray_dispose(&inv->arrays[i]);
    sync_invites_init(inv, inv->keys);
}

void sync_invites_reset(sync_invites_t *inv)
{
    for (size_t i = 0; i != SYNC_INVITES_ARRAYS; ++i)
        sync_pgarray_reset(&inv->arrays[i]);
    memset(&inv->stats, 0, sizeof(inv->stats));
    inv->errstr[0] = '\0';
}

/* Adds the person an e-mail of ev names to the SQL_PEOPLE arrays. */
static void add_person(sync_invites_t *inv, const char *email, const sync_event_t *ev)
{
    sync_user_id_t uid;

    if (inv->keys == NULL || email == NULL)
        return;
    sync_user_id_of(&uid, email, inv->keys);
    sync_pgarray_add_str(&inv->arrays[COL_PERSON_ID], uid.s);
    sync_pgarray_add_str(&inv->arrays[COL_PERSON_EMAIL], email);
    sync_pgarray_add_int(&inv->arrays[COL_PERSON_AT], ev->at_ms);
}

void sync_invites_collect(sync_invites_t *inv, const sync_event_t *ev)
{
    sync_pgarray_t *c = inv->arrays;

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
        add_person(inv, ev->issued_to, ev);
        ++inv->stats.issued;
        break;
    case SYNC_EVENT_REDEEMED:
        sync_pgarray_add_str(&c[COL_REDEEMED_EVENT_ID], ev->event_id);
        sync_pgarray_add_str(&c[COL_REDEEMED_CODE], ev->code);
        sync_pgarray_add_str(&c[COL_REDEEMED_EMAIL], ev->email);
        sync_pgarray_add_int(&c[COL_REDEEMED_N], ev->use_number);
        sync_pgarray_add_str(&c[COL_REDEEMED_IP], ev->ip);
        sync_pgarray_add_int(&c[COL_REDEEMED_AT], ev->at_ms);
        add_person(inv, ev->email, ev);
        ++inv->stats.redeemed;
        break;
    case SYNC_EVENT_REVOKED:
        sync_pgarray_add_str(&c[COL_REVOKED_EVENT_ID], ev->event_id);
        sync_pgarray_add_str(&c[COL_REVOKED_CODE], ev->code);
        sync_pgarray_add_int(&c[COL_REVOKED_AT], ev->at_ms);
        ++inv->stats.revoked;
        break;
    default:
        break;
    }
}

/* Runs one statement with the arrays listed in params; returns 0, or -1 with inv->errstr set. */
static int command(sync_invites_t *inv, PGconn *conn, const char *step, const char *sql, const int *params, int nparams)
{
    PGresult *res = sync_db_exec_arrays(conn, sql, inv->arrays, params, nparams);
    int ret = 0;

    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        char desc[SYNC_DB_DESC_BYTES];
        sync_db_describe(desc, sizeof(desc), conn, res, 1);
        snprintf(inv->errstr, sizeof(inv->errstr), "step=%s %s", step, desc);
        ret = -1;
    }
    PQclear(res);
    return ret;
}

/*
 * The issues first: the statements go by kind, not in stream order, and the
 * redemptions and revocation of a code issued in the same batch then find
 * its row.
 */
int sync_invites_apply(sync_invites_t *inv, PGconn *conn)
{
    const sync_invites_stats_t *st = &inv->stats;

    if (st->issued != 0 && command(inv, conn, "insert_invites", SQL_ISSUED, PARAMS_ISSUED, NPARAMS(PARAMS_ISSUED)) != 0)
        return -1;
    if (st->redeemed != 0 && command(inv, conn, "insert_redemptions", SQL_REDEEMED, PARAMS_REDEEMED, NPARAMS(PARAMS_REDEEMED)) != 0)
        return -1;
    if (st->revoked != 0 && command(inv, conn, "revoke_invites", SQL_REVOKED, PARAMS_REVOKED, NPARAMS(PARAMS_REVOKED)) != 0)
        return -1;
    if (st->redeemed != 0 && command(inv, conn, "update_use_counts", SQL_USED, PARAMS_USED, NPARAMS(PARAMS_USED)) != 0)
        return -1;
    if (inv->arrays[COL_PERSON_ID].count != 0 &&
        command(inv, conn, "record_people", SQL_PEOPLE, PARAMS_PEOPLE, NPARAMS(PARAMS_PEOPLE)) != 0)
        return -1;
    return 0;
}
