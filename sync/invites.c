#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ig_code.h"
#include "invites.h"

/*
 * Times arrive as Unix milliseconds (seconds for exp) and become timestamptz
 * as `timestamptz 'epoch' + ms * interval '1 millisecond'`: exact to the
 * millisecond for any date before the 23rd century, and free of the session
 * time zone.
 */

/* New invites; one that exists already is left as it is. */
static const char SQL_ISSUED[] =
    "INSERT INTO invites (code, batch_id, cohort, issued_to, max_uses, expires_at, created_by, created_at, imported) "
    "SELECT u.code, u.batch_id, u.cohort, u.issued_to, u.max_uses, timestamptz 'epoch' + u.exp_s * interval '1 second', "
    "u.created_by, timestamptz 'epoch' + u.at_ms * interval '1 millisecond', u.imported::boolean "
    "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::bigint[], $7::text[], $8::bigint[], "
    "$9::text[]) AS u(code, batch_id, cohort, issued_to, max_uses, exp_s, created_by, at_ms, imported) "
    "ON CONFLICT (code) DO NOTHING";

/*
 * One row per redemption, by COPY in binary format (copy.h); the columns in
 * the order add_redemption writes them.
 */
static const char SQL_COPY_REDEMPTIONS[] =
    "COPY redemptions (event_id, code, email, use_number, client_addr, redeemed_at, user_id) FROM STDIN (FORMAT binary)";
#define REDEMPTION_FIELDS 7

/*
 * Erasure and redemptions meet here. An erasure (bucket 0) and the
 * redemptions of the same person (any bucket, another lane) may be applied
 * in either order, so a redemption from before an erasure can reach
 * PostgreSQL after it: such a row is written anonymised. The erasure takes
 * SHARE ROW EXCLUSIVE on redemptions (product.c), which waits for every
 * transaction holding ROW EXCLUSIVE (this one, from SQL_LOCK on) and keeps
 * new ones out until it commits: so either the erasure's UPDATE sees this
 * batch's rows, or SQL_ERASED below sees the erasure. SQL_ERASED asks only
 * for erasures at or after the batch's earliest redemption ($1, Unix ms),
 * the only ones that can concern it: usually none.
 */
static const char SQL_LOCK[] = "LOCK TABLE redemptions IN ROW EXCLUSIVE MODE";
static const char SQL_ERASED[] = "SELECT user_id, (extract(epoch FROM erased_at) * 1000)::bigint FROM user_emails "
                                 "WHERE email IS NULL AND erased_at >= timestamptz 'epoch' + $1::bigint * interval '1 millisecond'";

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
 * The people named by bound codes ($1 user ids, $2 e-mails, $3 event
 * times), recorded in user_emails so that an erasure, which carries only a
 * user id, finds the address. For a person already erased, codes of this
 * transaction issued before the erasure are anonymised (their events arrived
 * after it, from another stream), and an event after it records the
 * address again. Inserted in user_id order, so that two lanes recording the
 * same people cannot deadlock.
 */
static const char SQL_PEOPLE[] =
    "WITH u AS (SELECT DISTINCT ON (id) id, email, timestamptz 'epoch' + at_ms * interval '1 millisecond' AS at "
    "FROM unnest($1::uuid[], $2::text[], $3::bigint[]) AS x(id, email, at_ms) ORDER BY id, at_ms DESC), "
    "gone AS (SELECT u.id, u.email, u.at, e.erased_at, 'erased:' || u.id::text AS anon FROM u "
    "JOIN user_emails AS e ON e.user_id = u.id WHERE e.email IS NULL), "
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
    COL_ISSUED_IMPORTED,
    COL_USED_CODE,
    COL_USED_N,
    COL_USED_AT,
    COL_REVOKED_EVENT_ID,
    COL_REVOKED_CODE,
    COL_REVOKED_AT,
    COL_PERSON_ID,
    COL_PERSON_EMAIL,
    COL_PERSON_AT,
    COL_COUNT
};
_Static_assert(COL_COUNT == SYNC_INVITES_ARRAYS, "SYNC_INVITES_ARRAYS must match the column list");

static const int PARAMS_ISSUED[] = {COL_ISSUED_CODE, COL_ISSUED_BATCH, COL_ISSUED_COHORT, COL_ISSUED_TO,      COL_ISSUED_MAX,
                                    COL_ISSUED_EXP,  COL_ISSUED_BY,    COL_ISSUED_AT,     COL_ISSUED_IMPORTED};
static const int PARAMS_USED[] = {COL_USED_CODE, COL_USED_N, COL_USED_AT};
static const int PARAMS_REVOKED[] = {COL_REVOKED_EVENT_ID, COL_REVOKED_CODE, COL_REVOKED_AT};
static const int PARAMS_PEOPLE[] = {COL_PERSON_ID, COL_PERSON_EMAIL, COL_PERSON_AT};
#define NPARAMS(p) ((int)(sizeof(p) / sizeof((p)[0])))

void sync_invites_init(sync_invites_t *inv, const sync_keys_t *keys)
{
    memset(inv, 0, sizeof(*inv));
    inv->keys = keys;
    for (size_t i = 0; i != SYNC_INVITES_ARRAYS; ++i)
        sync_pgarray_init(&inv->arrays[i]);
    sync_copy_init(&inv->copy);
}

void sync_invites_dispose(sync_invites_t *inv)
{
    for (size_t i = 0; i != SYNC_INVITES_ARRAYS; ++i)
        sync_pgarray_dispose(&inv->arrays[i]);
    sync_copy_dispose(&inv->copy);
    free(inv->redeemed);
    free(inv->erased);
    sync_invites_init(inv, inv->keys);
}

void sync_invites_reset(sync_invites_t *inv)
{
    for (size_t i = 0; i != SYNC_INVITES_ARRAYS; ++i)
        sync_pgarray_reset(&inv->arrays[i]);
    inv->num_redeemed = 0;
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
        /* The form of the code says whether it was imported (ig_code_form). */
        sync_pgarray_add_str(&c[COL_ISSUED_IMPORTED], ig_code_form(ev->code, strlen(ev->code)) == IG_CODE_IMPORTED ? "t" : "f");
        add_person(inv, ev->issued_to, ev);
        ++inv->stats.issued;
        break;
    case SYNC_EVENT_REDEEMED:
        sync_pgarray_add_str(&c[COL_USED_CODE], ev->code);
        sync_pgarray_add_int(&c[COL_USED_N], ev->use_number);
        sync_pgarray_add_int(&c[COL_USED_AT], ev->at_ms);
        if (inv->num_redeemed == inv->cap_redeemed) {
            size_t cap = inv->cap_redeemed == 0 ? 1024 : inv->cap_redeemed * 2;
            const sync_event_t **grown = realloc(inv->redeemed, cap * sizeof(*grown));
            if (grown == NULL)
                abort();
            inv->redeemed = grown;
            inv->cap_redeemed = cap;
        }
        inv->redeemed[inv->num_redeemed++] = ev;
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

/* Parses a UUID's 32 hexadecimal digits (dashes skipped) into 16 bytes; returns -1 when uuid is not one. */
static int uuid_bytes(unsigned char out[IG_USER_UUID_BYTES], const char *uuid)
{
    size_t n = 0;

    for (const char *p = uuid; *p != '\0'; ++p) {
        int v = *p >= '0' && *p <= '9'   ? *p - '0'
                : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10
                : *p >= 'A' && *p <= 'F' ? *p - 'A' + 10
                                         : -1;
        if (*p == '-')
            continue;
        if (v < 0 || n == 2 * IG_USER_UUID_BYTES)
            return -1;
        out[n / 2] = (unsigned char)(n % 2 == 0 ? v << 4 : out[n / 2] | v);
        ++n;
    }
    return n == 2 * IG_USER_UUID_BYTES ? 0 : -1;
}

/*
 * The people of this batch's redemptions who were erased at or after its
 * earliest redemption, into inv->erased (usually none). Returns 0, or -1 with
 * inv->errstr set.
 */
static int load_erased(sync_invites_t *inv, PGconn *conn)
{
    long long earliest = inv->redeemed[0]->at_ms;
    char since[24];
    const char *values[1] = {since};
    PGresult *res;
    int ret = -1;

    for (size_t i = 1; i != inv->num_redeemed; ++i)
        if (inv->redeemed[i]->at_ms < earliest)
            earliest = inv->redeemed[i]->at_ms;
    snprintf(since, sizeof(since), "%lld", earliest);
    res = PQexecParams(conn, SQL_ERASED, 1, NULL, values, NULL, NULL, 0);
    inv->num_erased = 0;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        char desc[SYNC_DB_DESC_BYTES];
        sync_db_describe(desc, sizeof(desc), conn, res, 1);
        snprintf(inv->errstr, sizeof(inv->errstr), "step=erased_people %s", desc);
        goto Exit;
    }
    if ((size_t)PQntuples(res) > inv->cap_erased) {
        free(inv->erased);
        if ((inv->erased = malloc((size_t)PQntuples(res) * sizeof(*inv->erased))) == NULL)
            abort();
        inv->cap_erased = (size_t)PQntuples(res);
    }
    for (int i = 0; i != PQntuples(res); ++i) {
        sync_erased_t *e = &inv->erased[inv->num_erased];
        if (uuid_bytes(e->user_id, PQgetvalue(res, i, 0)) != 0)
            continue;
        e->at_ms = strtoll(PQgetvalue(res, i, 1), NULL, 10);
        ++inv->num_erased;
    }
    ret = 0;
Exit:
    PQclear(res);
    return ret;
}

/* Whether the person uid was erased at or after at_ms, i.e. after this redemption of theirs. */
static int erased_after(const sync_invites_t *inv, const unsigned char uid[IG_USER_UUID_BYTES], long long at_ms)
{
    for (size_t i = 0; i != inv->num_erased; ++i)
        if (inv->erased[i].at_ms >= at_ms && memcmp(inv->erased[i].user_id, uid, IG_USER_UUID_BYTES) == 0)
            return 1;
    return 0;
}

/* One COPY row of a redemption: the person's user id beside the address, or in its place once they are erased. */
static void add_redemption(sync_invites_t *inv, const sync_event_t *ev)
{
    sync_copy_t *c = &inv->copy;
    unsigned char uid[IG_USER_UUID_BYTES];

    ig_user_id_bytes(uid, ev->email, strlen(ev->email), &inv->keys->user);
    sync_copy_row(c, REDEMPTION_FIELDS);
    sync_copy_str(c, ev->event_id);
    sync_copy_str(c, ev->code);
    if (inv->num_erased != 0 && erased_after(inv, uid, ev->at_ms)) {
        sync_user_id_t anon;
        sync_user_id_of(&anon, ev->email, inv->keys);
        char email[sizeof("erased:") + IG_USER_ID_BYTES];
        snprintf(email, sizeof(email), "erased:%s", anon.s);
        sync_copy_str(c, email);
    } else {
        sync_copy_str(c, ev->email);
    }
    sync_copy_int4(c, (int32_t)ev->use_number);
    sync_copy_str(c, ev->ip);
    sync_copy_time_ms(c, ev->at_ms);
    sync_copy_uuid(c, uid);
}

/* The batch's redemptions, by COPY, after the erasures that concern them (see SQL_LOCK). */
static int insert_redemptions(sync_invites_t *inv, PGconn *conn)
{
    if (sync_db_exec(conn, SQL_LOCK, "lock_redemptions", inv->errstr, sizeof(inv->errstr)) != 0 || load_erased(inv, conn) != 0)
        return -1;
    sync_copy_reset(&inv->copy);
    for (size_t i = 0; i != inv->num_redeemed; ++i)
        add_redemption(inv, inv->redeemed[i]);
    return sync_copy_send(&inv->copy, conn, SQL_COPY_REDEMPTIONS, "copy_redemptions", inv->errstr, sizeof(inv->errstr));
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
    if (st->redeemed != 0 && insert_redemptions(inv, conn) != 0)
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
