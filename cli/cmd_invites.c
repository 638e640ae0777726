/* `invitegate invites issue|send`: bound codes and their messages, then their delivery. */
#include "cli.h"

const char cli_invites_issue_help[] = "";
const char cli_invites_send_help[] = "";

int cli_invites_issue(cli_ctx_t *ctx, int argc, char **argv)
{
    cli_error(ctx, "not implemented yet");
    return CLI_EXIT_FAIL;
}

int cli_invites_send(cli_ctx_t *ctx, int argc, char **argv)
{
    cli_error(ctx, "not implemented yet");
    return CLI_EXIT_FAIL;
}
