/* `invitegate cohort validate`: checks a cohort CSV before invitations are issued. */
#include "cli.h"

const char cli_cohort_validate_help[] = "";

int cli_cohort_validate(cli_ctx_t *ctx, int argc, char **argv)
{
    cli_error(ctx, "not implemented yet");
    return CLI_EXIT_FAIL;
}
