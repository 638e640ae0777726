/*
 * The commands of `invitegate`: the one list the dispatcher (main.c), the
 * handler prototypes (cli.h) and the help texts are generated from.
 *
 * X(group, sub, dflt, synopsis, help): the command `invitegate GROUP SUB` is
 * handled by cli_GROUP_SUB (cli/cmd_GROUP.c), whose longer help is the string
 * cli_GROUP_SUB_help beside it. dflt 1 makes SUB what `invitegate GROUP` runs
 * alone (a group of one command, such as `migrate`). synopsis follows the
 * command's name in usage lines; help is its one-line description.
 */
#ifndef CLI_COMMANDS_H
#define CLI_COMMANDS_H

#define CLI_COMMAND_LIST(X)                                                                                                        \
    X(token, new, 0, "--name NAME --scopes SCOPE[,SCOPE...]", "create a random admin token and its admin_token line")              \
    X(migrate, apply, 1, "[DIR]", "apply the PostgreSQL migrations (as invitegate-sync migrate does)")                             \
    X(cohort, validate, 0, "FILE.csv [--min-rows N] [--min-creators N] [--min-labels N] [--creator-prefix P] [--offline]",         \
      "check a cohort CSV before issuing invites (exit 0 ok, 1 blocking, 2 warnings)")                                             \
    X(invites, issue, 0, "FILE.csv --batch ID --out DIR [--expires-in-days N] [--template DIR] [--force]",                         \
      "issue one bound code per recipient and render one .eml each")                                                               \
    X(invites, import, 0, "FILE.csv", "import codes of an earlier system (PREFIX + 12 hex digits) as they were")                   \
    X(invites, send, 0, "DIR [--dry-run] [--max-failures N]", "pipe each rendered .eml to $SEND_CMD, once")                        \
    X(monitor, run, 1, "[--target-redemptions N] [--target-signups N] [--gateway URL] [--watch SECONDS] ...",                      \
      "check the launch's acceptance gates (exit 0 green, 1 red, 2 unknowns only)")                                                \
    X(report, cohorts, 0, "[--format table|csv|json]", "redemption, activation, payment and fraud by cohort and batch")            \
    X(reconcile, run, 1, "[--wait SECONDS]", "compare Redis with PostgreSQL and print the drift (exit 1 when any)")                \
    X(rehydrate, run, 1, "[--check] [--wait SECONDS]",                                                                             \
      "rebuild Redis's invite codes and points from PostgreSQL, never lowering a count")                                           \
    X(retention, run, 1, "[--dry-run] [--days N]", "anonymise old unredeemable invites' addresses and sweep expired codes")

#endif
