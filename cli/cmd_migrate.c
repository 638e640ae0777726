/* `invitegate migrate [DIR]`: the sync daemon's migration runner (sync/migrate.c). */
#include "migrate.h"
#include "cli.h"

const char cli_migrate_apply_help[] =
    "Applies the migrations of DIR (default: migrations_dir, which means the migrations installed with\n"
    "invitegate when it is left at its default) to database_url, with the very code of `invitegate-sync\n"
    "migrate`: each file in one transaction with its schema_migrations row, under an advisory lock; an\n"
    "applied file that changed since stops the run. Prints one line per applied file.\n";

int cli_migrate_apply(cli_ctx_t *ctx, int argc, char **argv)
{
    if (argc > 2 || (argc == 2 && argv[1][0] == '-'))
        return cli_usage(ctx);
    sync_migrate_default_dir(&ctx->cfg);
    return sync_migrate_run(&ctx->cfg, argc == 2 ? argv[1] : ctx->cfg.migrations_dir) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}
