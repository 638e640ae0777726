/*
 * The runs of joined, clicked and admitted events (product.h): a stretch of
 * consecutive such events of a batch applied with a few array statements,
 * leaving what applying them one by one in stream order would leave.
 */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ig_keys.h"
#include "pgarray.h"
#include "product.h"

/*
 * The statements of a run. Each takes its rows as arrays in stream order
 * (WITH ORDINALITY numbers them), so that where several rows share a key
 * the first in stream order is the one that counts, as it would be applied
 * one event at a time.
 */

/*
 * Everyone the run names, in user_emails (so an erasure, which carries only
 * the user id, finds the address), each once at their first mention, in
 * user_id order (two lanes recording the same people cannot deadlock). An
 * address named again after its erasure is recorded again: rows written
 * from then on hold it in clear, and a later erasure must find it.
 */
static const char SQL_RUN_REMEMBER[] =
    "INSERT INTO user_emails AS e (user_id, email, first_seen_at) "
    "SELECT DISTINCT ON (u.id) u.id, u.email, timestamptz 'epoch' + u.at_ms * interval '1 millisecond' "
    "FROM unnest($1::uuid[], $2::text[], $3::bigint[]) WITH ORDINALITY AS u(id, email, at_ms, ord) ORDER BY u.id, u.ord "
    "ON CONFLICT (user_id) DO UPDATE SET email = EXCLUDED.email, erased_at = NULL WHERE e.email IS NULL";

/* A waitlist row per join; a person who has one keeps it (the first join counts). */
static const char SQL_RUN_JOIN[] =
    "INSERT INTO waitlist (id, email, use_case, persona, priority_score, seq, referral_code, referred_by_code, joined_ip, "
    "created_at) SELECT u.id, u.email, u.use_case, u.persona, u.score, u.seq, u.code, u.ref, u.ip, "
    "timestamptz 'epoch' + u.at_ms * interval '1 millisecond' "
    "FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::int[], $6::bigint[], $7::text[], $8::text[], $9::text[], "
    "$10::bigint[]) WITH ORDINALITY AS u(id, email, use_case, persona, score, seq, code, ref, ip, at_ms, ord) "
    "ORDER BY u.ord ON CONFLICT DO NOTHING";

/* The referral code row of every joiner and referrer that has none. */
static const char SQL_RUN_CODES[] = "INSERT INTO user_referral_codes (user_id, code, created_at) "
                                    "SELECT u.id, u.code, timestamptz 'epoch' + u.at_ms * interval '1 millisecond' "
                                    "FROM unnest($1::uuid[], $2::text[], $3::bigint[]) WITH ORDINALITY AS u(id, code, at_ms, ord) "
                                    "ORDER BY u.ord ON CONFLICT DO NOTHING";

/*
 * What PostgreSQL holds about the run's referrals, read as two sets rather
 * than looked up join by join (a correlated lookup per join cost more than
 * inserting the join): each is one index scan over a sorted array of keys.
 *
 * SQL_RUN_SHARES: the shares to the newcomers that joined without a
 * referral code ($1), by someone else, with a code, each newcomer's in the
 * order they were made (the earliest eligible one makes the referral).
 * SQL_RUN_REFERRERS: who referred each of the people in $1 (the newcomers,
 * their referrers and the sharers), one row at most each.
 */
static const char SQL_RUN_SHARES[] =
    "SELECT invited_user_id, inviter_user_id, invite_code FROM referrals WHERE invited_user_id = ANY($1::uuid[]) "
    "AND inviter_user_id <> invited_user_id AND invite_code IS NOT NULL ORDER BY invited_user_id, created_at, id";
static const char SQL_RUN_REFERRERS[] =
    "SELECT referred_user_id, referrer_user_id FROM user_referral_relationships WHERE referred_user_id = ANY($1::uuid[]) "
    "AND level = 1";

/*
 * The relationships the run decided to create: never a self-referral, nor
 * one to someone the newcomer referred (a cycle), one per referred user.
 */
static const char SQL_RUN_REFER[] =
    "INSERT INTO user_referral_relationships (referrer_user_id, referred_user_id, referral_code, level, status, created_at) "
    "SELECT u.r, u.n, u.code, 1, 'PENDING', timestamptz 'epoch' + u.at_ms * interval '1 millisecond' "
    "FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::bigint[]) WITH ORDINALITY AS u(r, n, code, at_ms, ord) "
    "ORDER BY u.ord ON CONFLICT DO NOTHING";

/*
 * The level-2 rows the run's relationships ($1, the referred users) make
 * (migration 014): for a new X -> Y, X's referrer -> Y, and X -> each person
 * Y referred before; never from someone to themselves. Read after the run's
 * level-1 rows are in, so a chain made within the run is found too. The
 * level-2 row takes the level-1 row's status and times.
 */
static const char SQL_RUN_REFER_L2[] =
    "INSERT INTO user_referral_relationships (referrer_user_id, referred_user_id, referral_code, level, status, activated_at, "
    "rewarded_at, created_at) "
    "SELECT up.referrer_user_id, r.referred_user_id, r.referral_code, 2, r.status, r.activated_at, r.rewarded_at, r.created_at "
    "FROM unnest($1::uuid[]) AS u(n) JOIN user_referral_relationships AS r ON r.referred_user_id = u.n AND r.level = 1 "
    "JOIN user_referral_relationships AS up ON up.referred_user_id = r.referrer_user_id AND up.level = 1 "
    "WHERE up.referrer_user_id <> r.referred_user_id "
    "UNION ALL "
    "SELECT r.referrer_user_id, d.referred_user_id, d.referral_code, 2, d.status, d.activated_at, d.rewarded_at, d.created_at "
    "FROM unnest($1::uuid[]) AS u(n) JOIN user_referral_relationships AS r ON r.referred_user_id = u.n AND r.level = 1 "
    "JOIN user_referral_relationships AS d ON d.referrer_user_id = r.referred_user_id AND d.level = 1 "
    "WHERE d.referred_user_id <> r.referrer_user_id ON CONFLICT DO NOTHING";

/* Clicks of referral links, counted per code. */
static const char SQL_RUN_CLICKS[] =
    "UPDATE user_referral_codes AS c SET click_count = c.click_count + u.n "
    "FROM (SELECT code, count(*)::int AS n FROM unnest($1::text[]) AS x(code) GROUP BY code) AS u WHERE c.code = u.code";

/* Admissions: the first of each person's marks their waitlist row. */
static const char SQL_RUN_ADMIT[] =
    "UPDATE waitlist AS w SET invited_at = timestamptz 'epoch' + u.at_ms * interval '1 millisecond', admitted_code = u.code "
    "FROM (SELECT DISTINCT ON (x.id) x.id, x.at_ms, x.code FROM unnest($1::uuid[], $2::bigint[], $3::text[]) "
    "WITH ORDINALITY AS x(id, at_ms, code, ord) ORDER BY x.id, x.ord) AS u WHERE w.id = u.id AND w.invited_at IS NULL";

/* Every admission of the run, in waitlist_admissions. */
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
    C_SHARED_TO,
    C_PEOPLE,
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
static const int RUN_SHARES[] = {C_SHARED_TO};
static const int RUN_REFERRERS[] = {C_PEOPLE};
static const int RUN_REFER[] = {C_REFER_REFERRER, C_REFER_REFERRED, C_REFER_CODE, C_REFER_AT};
static const int RUN_REFER_L2[] = {C_REFER_REFERRED};
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
            sync_pgarray_add_str(&c[C_PEOPLE], it->id.s);
            if (ev->ref == NULL) {
                sync_pgarray_add_str(&c[C_SHARED_TO], it->id.s);
                break;
            }
            sync_user_id_of(&it->referrer, ev->ref_email, p->keys);
            ig_referral_code(it->ref_code, ev->ref_email, strlen(ev->ref_email), &p->keys->user);
            run_remember(p, it->referrer.s, ev->ref_email, ev->at_ms);
            run_code(p, it->referrer.s, it->ref_code, ev->at_ms);
            set_add(codes, it->ref_code);
            sync_pgarray_add_str(&c[C_PEOPLE], it->referrer.s);
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

/* What SQL_RUN_SHARES and SQL_RUN_REFERRERS found, for run_decide. */
typedef struct run_facts_t {
    const PGresult *shares;   /**< (newcomer, sharer, code), by newcomer, earliest first */
    run_set_t referred;       /**< people PostgreSQL knows as referred */
    run_set_t pairs;          /**< relationships PostgreSQL holds, as pair keys (referrer, referred) */
    char (*keys)[PAIR_BYTES]; /**< storage of the pair keys */
} run_facts_t;

/* The first row of facts->shares for newcomer, or the number of rows when there is none (rows are sorted by newcomer). */
static int first_share(const run_facts_t *facts, const char *newcomer)
{
    int lo = 0, hi = PQntuples(facts->shares);
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (strcmp(PQgetvalue(facts->shares, mid, 0), newcomer) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Whether PostgreSQL holds the relationship referrer -> referred. */
static int db_pair(const run_facts_t *facts, const char *referrer, const char *referred)
{
    char key[PAIR_BYTES];
    pair_key(key, referrer, referred);
    return set_has(&facts->pairs, key);
}

/*
 * Decides the run's referral relationships in stream order, as they would
 * be decided one join at a time, against what PostgreSQL held as the run
 * began (facts) and what the run decided before: referred and pairs collect
 * the run's relationships (by referred user, and by referrer and referred).
 * Fills the SQL_RUN_REFER arrays.
 */
static void run_decide(sync_product_t *p, const sync_event_t *const *evs, size_t n, const run_facts_t *facts, run_set_t *referred,
                       run_set_t *pairs)
{
    int rows = PQntuples(facts->shares);

    for (size_t i = 0; i != n; ++i) {
        const sync_event_t *ev = evs[i];
        sync_product_item_t *it = &p->items[i];
        const char *referrer = NULL, *code = NULL;
        char key[PAIR_BYTES];

        if (ev->type != SYNC_EVENT_JOINED)
            continue;
        /* One relationship per referred user: an earlier one, in PostgreSQL or in this run, stands. */
        if (set_has(referred, it->id.s) || set_has(&facts->referred, it->id.s))
            continue;
        if (ev->ref != NULL) {
            /* No self-referral, and no referral of the newcomer's own referrer. */
            pair_key(key, it->id.s, it->referrer.s);
            if (strcmp(it->referrer.s, it->id.s) == 0 || db_pair(facts, it->id.s, it->referrer.s) || set_has(pairs, key))
                continue;
            referrer = it->referrer.s;
            code = ev->ref;
        } else {
            /* The earliest share whose sharer the newcomer did not refer (before the run or in it). */
            for (int r = first_share(facts, it->id.s); r != rows && referrer == NULL; ++r) {
                const char *sharer = PQgetvalue(facts->shares, r, 1);
                if (strcmp(PQgetvalue(facts->shares, r, 0), it->id.s) != 0)
                    break;
                pair_key(key, it->id.s, sharer);
                if (!db_pair(facts, it->id.s, sharer) && !set_has(pairs, key)) {
                    referrer = sharer;
                    code = PQgetvalue(facts->shares, r, 2);
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

/*
 * The relationships of the run's joins: read what PostgreSQL holds (the
 * shares to the newcomers without a code, then who referred the newcomers,
 * their referrers and those sharers), decide, insert.
 */
static int run_refer(sync_product_t *p, PGconn *conn, const sync_event_t *const *evs, size_t n, run_set_t *referred,
                     run_set_t *pairs)
{
    PGresult *shares = NULL, *known = NULL;
    run_facts_t facts = {0};
    const char **slots = NULL;
    size_t per_set = 16;
    int ret = -1;

    if (p->arrays[C_PEOPLE].count == 0)
        return 0;
    if ((shares = run_sql(p, conn, evs[0], n, "refer_shares", SQL_RUN_SHARES, RUN_SHARES, NPARAMS(RUN_SHARES), PGRES_TUPLES_OK)) ==
        NULL)
        goto Exit;
    for (int r = 0; r != PQntuples(shares); ++r)
        sync_pgarray_add_str(&p->arrays[C_PEOPLE], PQgetvalue(shares, r, 1));
    if ((known = run_sql(p, conn, evs[0], n, "refer_known", SQL_RUN_REFERRERS, RUN_REFERRERS, NPARAMS(RUN_REFERRERS),
                         PGRES_TUPLES_OK)) == NULL)
        goto Exit;
    while (per_set < 4 * (size_t)PQntuples(known))
        per_set *= 2;
    if ((slots = calloc(2 * per_set, sizeof(*slots))) == NULL ||
        (facts.keys = malloc(((size_t)PQntuples(known) + 1) * sizeof(*facts.keys))) == NULL)
        abort();
    facts.shares = shares;
    facts.referred = (run_set_t){slots, per_set - 1};
    facts.pairs = (run_set_t){slots + per_set, per_set - 1};
    for (int r = 0; r != PQntuples(known); ++r) {
        set_add(&facts.referred, PQgetvalue(known, r, 0));
        pair_key(facts.keys[r], PQgetvalue(known, r, 1), PQgetvalue(known, r, 0));
        set_add(&facts.pairs, facts.keys[r]);
    }
    run_decide(p, evs, n, &facts, referred, pairs);
    /* The decided rows copied the strings they need into the arrays. */
    if ((ret = run_exec(p, conn, evs[0], n, "refer", SQL_RUN_REFER, RUN_REFER, NPARAMS(RUN_REFER))) == 0)
        ret = run_exec(p, conn, evs[0], n, "refer_level2", SQL_RUN_REFER_L2, RUN_REFER_L2, NPARAMS(RUN_REFER_L2));

Exit:
    PQclear(shares);
    PQclear(known);
    free(slots);
    free(facts.keys);
    return ret;
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
