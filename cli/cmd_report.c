/*
 * invitegate report cohorts: post-launch attribution from PostgreSQL, per
 * cohort and batch, with a subtotal per cohort and a grand total:
 *
 *   sent        codes issued (invites)
 *   redeemed    codes used at least once (invites.used_at)
 *   redemptions uses of those codes (redemptions rows; several per multi-use code)
 *   rate        redeemed / sent
 *   median      median time from issue to first use of the redeemed codes
 *   activated, paid, fraud_flagged
 *               people who redeemed a code of the group and of whom the host
 *               application reported that lifecycle event (user_lifecycle_events),
 *               each person once per group
 *
 * The batch is the operator's: `invites issue --batch ID` issues each
 * recipient in a batch of their own, ID-<CLI_RECIPIENT_ID_HEX hex digits>
 * (so that a rerun finds their code), and those count as ID.
 *
 * A redeemer is their user id (redemptions.user_id; rows from before
 * migration 012 have none and are matched through user_emails by address),
 * so erased people still count.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

#define REPORT_STR(x) #x
#define REPORT_XSTR(x) REPORT_STR(x)

const char cli_report_cohorts_help[] =
    "Redemption by cohort and batch from PostgreSQL: codes sent, codes redeemed, the rate, total uses, the median\n"
    "time from issue to first use, and how many of the redeemers the host application reported activated, paid\n"
    "or flagged as fraud. One row per cohort and batch, a subtotal per cohort (batch \"*\"), a total (cohort \"*\").\n"
    "The codes of one `invites issue --batch ID` run count as batch ID (their batch ids are ID-<" REPORT_XSTR(
        CLI_RECIPIENT_ID_HEX) " hex\n"
                              "digits>).\n"
                              "\n"
                              "options:\n"
                              "  --format table|csv|json   output (default table; --json implies json)\n";

/*
 * Codes and people are aggregated apart (a person may redeem several codes
 * of a group), each over the same grouping sets, and joined on the group.
 * g is 0 for a cohort-and-batch row, 1 for a cohort's subtotal, 3 for the total.
 */
static const char SQL_COHORTS[] =
    "WITH inv AS ("
    "  SELECT code, cohort, created_at, used_at,"
    "    regexp_replace(batch_id, '-[0-9a-f]{" REPORT_XSTR(
        CLI_RECIPIENT_ID_HEX) "}$', '') AS batch_id FROM invites),"
                              " codes AS ("
                              "  SELECT cohort, batch_id, GROUPING(cohort, batch_id) AS g, count(*) AS sent, count(used_at) AS "
                              "redeemed,"
                              "    percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM used_at - created_at))"
                              "      FILTER (WHERE used_at IS NOT NULL) AS median_s"
                              "  FROM inv GROUP BY GROUPING SETS ((cohort, batch_id), (cohort), ())),"
                              " kinds AS ("
                              "  SELECT user_id, bool_or(kind = 'activated') AS activated, bool_or(kind = 'paid') AS paid,"
                              "    bool_or(kind = 'fraud_flagged') AS fraud FROM user_lifecycle_events GROUP BY user_id),"
                              " uses AS ("
                              "  SELECT i.cohort, i.batch_id, COALESCE(r.user_id, e.user_id) AS uid FROM redemptions AS r"
                              "  JOIN inv AS i ON i.code = r.code"
                              "  LEFT JOIN user_emails AS e ON r.user_id IS NULL AND e.email = r.email),"
                              " people AS ("
                              "  SELECT u.cohort, u.batch_id, GROUPING(u.cohort, u.batch_id) AS g, count(*) AS uses,"
                              "    count(DISTINCT u.uid) FILTER (WHERE k.activated) AS activated,"
                              "    count(DISTINCT u.uid) FILTER (WHERE k.paid) AS paid,"
                              "    count(DISTINCT u.uid) FILTER (WHERE k.fraud) AS fraud"
                              "  FROM uses AS u LEFT JOIN kinds AS k ON k.user_id = u.uid"
                              "  GROUP BY GROUPING SETS ((u.cohort, u.batch_id), (u.cohort), ()))"
                              " SELECT c.g, c.cohort, c.batch_id, c.sent, c.redeemed, COALESCE(p.uses, 0), c.median_s,"
                              "   COALESCE(p.activated, 0), COALESCE(p.paid, 0), COALESCE(p.fraud, 0)"
                              " FROM codes AS c LEFT JOIN people AS p ON p.g = c.g AND p.cohort IS NOT DISTINCT FROM c.cohort"
                              "   AND p.batch_id IS NOT DISTINCT FROM c.batch_id"
                              " ORDER BY c.g = 3, c.cohort NULLS LAST, c.g DESC, c.batch_id";

enum { COL_G, COL_COHORT, COL_BATCH, COL_SENT, COL_REDEEMED, COL_USES, COL_MEDIAN, COL_ACTIVATED, COL_PAID, COL_FRAUD };

typedef enum { FMT_TABLE, FMT_CSV, FMT_JSON } report_format_t;

/* A group's labels as printed: "*" for what a subtotal or the total spans, "(none)" for a NULL cohort. */
static const char *cohort_label(const PGresult *res, int i)
{
    if (atoi(PQgetvalue(res, i, COL_G)) == 3)
        return "*";
    return PQgetisnull(res, i, COL_COHORT) ? "(none)" : PQgetvalue(res, i, COL_COHORT);
}

static const char *batch_label(const PGresult *res, int i)
{
    return atoi(PQgetvalue(res, i, COL_G)) != 0 ? "*" : PQgetvalue(res, i, COL_BATCH);
}

static long long num(const PGresult *res, int i, int col)
{
    return strtoll(PQgetvalue(res, i, col), NULL, 10);
}

static double rate(const PGresult *res, int i)
{
    long long sent = num(res, i, COL_SENT);
    return sent != 0 ? (double)num(res, i, COL_REDEEMED) / (double)sent : 0.0;
}

/* A duration for people: "45s", "12m 05s", "3h 02m", "2d 04h". */
static void human_duration(char *out, size_t len, double s)
{
    long long t = llround(s);
    if (t < 60)
        snprintf(out, len, "%llds", t);
    else if (t < 3600)
        snprintf(out, len, "%lldm %02llds", t / 60, t % 60);
    else if (t < 86400)
        snprintf(out, len, "%lldh %02lldm", t / 3600, t % 3600 / 60);
    else
        snprintf(out, len, "%lldd %02lldh", t / 86400, t % 86400 / 3600);
}

/* Writes s as one CSV field (RFC 4180: quoted when it holds a comma, quote or line break). */
static void csv_field(const char *s)
{
    if (strpbrk(s, ",\"\r\n") == NULL) {
        fputs(s, stdout);
        return;
    }
    putchar('"');
    for (; *s != '\0'; ++s) {
        if (*s == '"')
            putchar('"');
        putchar(*s);
    }
    putchar('"');
}

static void print_table(const PGresult *res)
{
    printf("%-24s %-24s %8s %8s %7s %8s %10s %9s %6s %6s\n", "cohort", "batch", "sent", "redeemed", "rate", "uses", "median",
           "activated", "paid", "fraud");
    for (int i = 0; i != PQntuples(res); ++i) {
        char median[32] = "-";
        if (!PQgetisnull(res, i, COL_MEDIAN))
            human_duration(median, sizeof(median), strtod(PQgetvalue(res, i, COL_MEDIAN), NULL));
        printf("%-24.24s %-24.24s %8lld %8lld %6.1f%% %8lld %10s %9lld %6lld %6lld\n", cohort_label(res, i), batch_label(res, i),
               num(res, i, COL_SENT), num(res, i, COL_REDEEMED), rate(res, i) * 100, num(res, i, COL_USES), median,
               num(res, i, COL_ACTIVATED), num(res, i, COL_PAID), num(res, i, COL_FRAUD));
    }
}

static void print_csv(const PGresult *res)
{
    printf("cohort,batch,sent,redeemed,rate,redemptions,median_redeem_s,activated,paid,fraud_flagged\r\n");
    for (int i = 0; i != PQntuples(res); ++i) {
        csv_field(cohort_label(res, i));
        putchar(',');
        csv_field(batch_label(res, i));
        printf(",%lld,%lld,%.4f,%lld,", num(res, i, COL_SENT), num(res, i, COL_REDEEMED), rate(res, i), num(res, i, COL_USES));
        if (!PQgetisnull(res, i, COL_MEDIAN))
            printf("%.0f", strtod(PQgetvalue(res, i, COL_MEDIAN), NULL));
        printf(",%lld,%lld,%lld\r\n", num(res, i, COL_ACTIVATED), num(res, i, COL_PAID), num(res, i, COL_FRAUD));
    }
}

static int print_json(const PGresult *res)
{
    json_t *rows = json_array();

    for (int i = 0; i != PQntuples(res); ++i) {
        int g = atoi(PQgetvalue(res, i, COL_G));
        json_t *row = json_pack(
            "{s:s, s:o, s:o, s:I, s:I, s:f, s:I, s:o, s:I, s:I, s:I}", "level",
            g == 0   ? "batch"
            : g == 1 ? "cohort"
                     : "total",
            "cohort", g == 3 || PQgetisnull(res, i, COL_COHORT) ? json_null() : json_string(PQgetvalue(res, i, COL_COHORT)),
            "batch", g != 0 ? json_null() : json_string(PQgetvalue(res, i, COL_BATCH)), "sent", (json_int_t)num(res, i, COL_SENT),
            "redeemed", (json_int_t)num(res, i, COL_REDEEMED), "rate", rate(res, i), "redemptions",
            (json_int_t)num(res, i, COL_USES), "median_redeem_s",
            PQgetisnull(res, i, COL_MEDIAN) ? json_null() : json_real(strtod(PQgetvalue(res, i, COL_MEDIAN), NULL)), "activated",
            (json_int_t)num(res, i, COL_ACTIVATED), "paid", (json_int_t)num(res, i, COL_PAID), "fraud_flagged",
            (json_int_t)num(res, i, COL_FRAUD));
        json_array_append_new(rows, row);
    }
    return cli_json_print(json_pack("{s:o}", "cohorts", rows));
}

int cli_report_cohorts(cli_ctx_t *ctx, int argc, char **argv)
{
    static const struct option longopts[] = {{"format", required_argument, NULL, 'f'}, {NULL, 0, NULL, 0}};
    report_format_t fmt = ctx->json ? FMT_JSON : FMT_TABLE;
    PGconn *pg;
    PGresult *res;
    int c, ret = CLI_EXIT_FAIL;

    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (c != 'f')
            return cli_usage(ctx);
        if (strcmp(optarg, "table") == 0)
            fmt = FMT_TABLE;
        else if (strcmp(optarg, "csv") == 0)
            fmt = FMT_CSV;
        else if (strcmp(optarg, "json") == 0)
            fmt = FMT_JSON;
        else
            return cli_usage(ctx);
    }
    if (optind != argc)
        return cli_usage(ctx);
    if ((pg = cli_pg(ctx)) == NULL)
        return CLI_EXIT_FAIL;
    res = PQexec(pg, SQL_COHORTS);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        cli_error(ctx, "query: %s", PQresultErrorMessage(res));
    } else {
        if (fmt == FMT_JSON)
            ret = print_json(res) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
        else if (fmt == FMT_CSV)
            print_csv(res), ret = CLI_EXIT_OK;
        else
            print_table(res), ret = CLI_EXIT_OK;
    }
    PQclear(res);
    return ret;
}
