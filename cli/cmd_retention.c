/*
 * invitegate retention run: seed 000's retention rule on demand, with the
 * sync daemon's own code (sync/retention.c).
 */
#include <getopt.h>
#include <stdio.h>
#include <sodium.h>
#include "ig_user.h"
#include "cli.h"
#include "retention.h"
#include "runtime.h"

const char cli_retention_run_help[] =
    "Anonymises the address of every invite that can no longer be redeemed (expired or revoked), was never redeemed\n"
    "and was issued more than N days ago: it becomes 'erased:<user id>', as an erasure writes it, so counts and\n"
    "anything keyed by user id stay right. Deletes the Redis records of those codes that have expired (the sweep).\n"
    "A code still valid keeps its address (it is bound to it). A code of which Redis counts a use that PostgreSQL has\n"
    "not applied yet is skipped (\"skipped\", in_flight with --json) and left to a later run. One PostgreSQL\n"
    "transaction; running it again changes nothing.\n"
    "\n"
    "options:\n"
    "  --dry-run   count what would change, change nothing\n"
    "  --days N    the period in days (default retention_days, else 30; at least 1)\n"
    "\n"
    "exit status: 0 done, 1 a store failed (nothing was anonymised).\n";

int cli_retention_run(cli_ctx_t *ctx, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"dry-run", no_argument, NULL, 'n'}, {"days", required_argument, NULL, 'd'}, {NULL, 0, NULL, 0}};
    unsigned days = ctx->cfg.retention_days != 0 ? ctx->cfg.retention_days : 30;
    int dry_run = 0, c, ret;
    sync_retention_result_t r;
    ig_user_keys_t keys;
    char err[SYNC_RETENTION_ERR_BYTES];
    sync_route_t *route;
    PGconn *pg;

    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (c == 'n')
            dry_run = 1;
        else if (c != 'd' || cli_parse_uint(&days, optarg, 1, 36500) != 0)
            return cli_usage(ctx);
    }
    if (optind != argc)
        return cli_usage(ctx);
    if (!ctx->cfg.has_secret_key) {
        cli_error(ctx, "needs secret_key (addresses are replaced by their keyed user id)");
        return CLI_EXIT_FAIL;
    }
    if ((route = cli_route(ctx)) == NULL || (pg = cli_pg(ctx)) == NULL)
        return CLI_EXIT_FAIL;
    ig_user_keys_derive(&keys, ctx->cfg.secret_key);
    ret = sync_retention_run(&r, pg, route, &keys, days, sync_clock_ms(ctx->cfg.sync_clock_offset_s), dry_run, err, sizeof(err));
    sodium_memzero(&keys, sizeof(keys));
    if (ret != 0) {
        cli_error(ctx, "%s", err);
        return CLI_EXIT_FAIL;
    }
    if (ctx->json)
        return cli_json_print(json_pack("{s:b, s:i, s:I, s:I, s:I, s:I}", "dry_run", dry_run, "days", (int)days, "eligible",
                                        (json_int_t)r.eligible, "anonymised", (json_int_t)r.anonymised, "swept",
                                        (json_int_t)r.swept, "in_flight", (json_int_t)r.in_flight)) == 0
                   ? CLI_EXIT_OK
                   : CLI_EXIT_FAIL;
    printf("%s%llu invites older than %u days cannot be redeemed and never were: %llu addresses %s, %llu expired codes %s "
           "from Redis; %llu skipped (a use not yet in PostgreSQL)\n",
           dry_run ? "dry run: " : "", r.eligible, days, r.anonymised, dry_run ? "to anonymise" : "anonymised", r.swept,
           dry_run ? "to sweep" : "swept", r.in_flight);
    return CLI_EXIT_OK;
}
