/* `invitegate cohort validate`: checks a cohort CSV before invitations are issued (cohort.h). */
#include <getopt.h>
#include "cohort.h"

const char cli_cohort_validate_help[] =
    "Checks FILE.csv (header `email,cohort`, one recipient a line) and prints every problem with its line:\n"
    "\n"
    "  errors (exit 1): a wrong header, a line without exactly two fields, a malformed address, a cohort label\n"
    "    that is not 1 to 64 letters, digits or -_.:, the same address twice once normalised (dots and +tags\n"
    "    of gmail.com, case);\n"
    "  warnings (exit 2): fewer than --min-rows recipients (50), fewer than --min-creators (5) in a cohort\n"
    "    starting with --creator-prefix (creator), fewer than --min-labels distinct labels (3), a disposable-mail\n"
    "    domain, and, from PostgreSQL (database_url), an address that already has an invite bound to it,\n"
    "    already redeemed one, or waits on the waitlist.\n"
    "\n"
    "--offline skips PostgreSQL. Addresses are shown as keyed hashes unless --show-emails is given.\n"
    "Exit status: 0 nothing found, 1 errors (blocking), 2 warnings only (`invites issue --force` overrides).\n";

/* Parses the options shared with `invites issue`; returns 0, or -1 on a bad value. */
static int parse_limit(cli_cohort_limits_t *limits, int opt, const char *arg)
{
    switch (opt) {
    case 'r':
        return cli_parse_uint(&limits->min_rows, arg, 0, 1000000);
    case 'c':
        return cli_parse_uint(&limits->min_creators, arg, 0, 1000000);
    case 'l':
        return cli_parse_uint(&limits->min_labels, arg, 0, 1000000);
    case 'p':
        limits->creator_prefix = arg;
        return 0;
    }
    return -1;
}

int cli_cohort_validate(cli_ctx_t *ctx, int argc, char **argv)
{
    static const struct option options[] = {
        {"min-rows", required_argument, NULL, 'r'},   {"min-creators", required_argument, NULL, 'c'},
        {"min-labels", required_argument, NULL, 'l'}, {"creator-prefix", required_argument, NULL, 'p'},
        {"offline", no_argument, NULL, 'o'},          {NULL}};
    cli_cohort_limits_t limits = CLI_COHORT_LIMITS_DEFAULT;
    cli_cohort_t c;
    int opt, offline = 0, ret;

    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (opt == 'o')
            offline = 1;
        else if (parse_limit(&limits, opt, optarg) != 0)
            return cli_usage(ctx);
    }
    if (optind + 1 != argc)
        return cli_usage(ctx);
    if (cli_cohort_load(&c, ctx, argv[optind]) != 0) {
        cli_cohort_dispose(&c);
        return CLI_EXIT_FAIL;
    }
    cli_cohort_check_distribution(&c, &limits);
    if (!offline) {
        PGconn *pg = cli_pg(ctx);
        if (pg == NULL || cli_cohort_check_collisions(&c, ctx, pg, NULL) != 0) {
            cli_error(ctx, "the collision check needs PostgreSQL (--offline skips it)");
            cli_cohort_dispose(&c);
            return CLI_EXIT_FAIL;
        }
    }
    cli_cohort_print(&c, ctx);
    ret = cli_cohort_status(&c);
    cli_cohort_dispose(&c);
    return ret;
}
