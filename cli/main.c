/*
 * invitegate: the operator's tool. Takes the global options out, loads the
 * configuration the daemons read, finds the command in commands.h and runs
 * it. Each command lives in cmd_<group>.c.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>
#include "ig_keys.h"
#include "ig_log.h"
#include "cli.h"

#define CLI_ROW(group, sub, dflt, synopsis, help)                                                                                  \
    {#group, #sub, dflt, synopsis, help, cli_##group##_##sub##_help, cli_##group##_##sub},
static const cli_command_t commands[] = {CLI_COMMAND_LIST(CLI_ROW)};
#undef CLI_ROW
#define NUM_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *fp)
{
    fprintf(fp, "usage: invitegate [--config FILE] [--json] [--show-emails] COMMAND [ARGS...]\n"
                "       invitegate COMMAND --help | --help | --version\n");
}

static void help(void)
{
    usage(stdout);
    printf("\nThe operator's tool of an invitegate launch: admin tokens, migrations, cohorts, invitations.\n\ncommands:\n");
    for (size_t i = 0; i != NUM_COMMANDS; ++i) {
        char name[64];
        if (commands[i].dflt)
            snprintf(name, sizeof(name), "%s", commands[i].group);
        else
            snprintf(name, sizeof(name), "%s %s", commands[i].group, commands[i].sub);
        printf("  %-18s %s\n", name, commands[i].help);
    }
    printf("\n"
           "global options (anywhere before --):\n"
           "  -c, --config FILE  the daemons' configuration file (key = value; each key may also come from the\n"
           "                     environment as IG_<KEY>, e.g. IG_DATABASE_URL)\n"
           "  --json             one JSON document on standard output instead of text\n"
           "  --show-emails      print e-mail addresses in clear (default: line numbers and keyed hashes)\n"
           "  -h, --help         this help; `invitegate COMMAND --help` for a command\n"
           "  --version          print the version\n"
           "\n"
           "exit status: 0 ok, 1 failure or a blocking problem, 2 warnings only, 64 bad usage, 78 Redis or\n"
           "PostgreSQL records another bucket count than the configuration's buckets.\n");
}

static void command_help(const cli_command_t *c)
{
    printf("usage: invitegate %s %s %s\n\n%s.\n", c->group, c->sub, c->synopsis, c->help);
    if (c->details[0] != '\0')
        printf("\n%s", c->details);
}

static void group_help(FILE *fp, const char *group)
{
    fprintf(fp, "usage: invitegate %s SUBCOMMAND [ARGS...]\n\nsubcommands:\n", group);
    for (size_t i = 0; i != NUM_COMMANDS; ++i)
        if (strcmp(commands[i].group, group) == 0)
            fprintf(fp, "  %-10s %s\n", commands[i].sub, commands[i].help);
}

static int is_help(const char *arg)
{
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

/*
 * Takes the global options out of argv (before a "--"), keeping the order of
 * the rest. Returns the new argc, or -1 on a bad global option.
 */
static int take_globals(cli_ctx_t *ctx, int argc, char **argv, int *want_version)
{
    int out = 1, i = 1;

    for (; i < argc; ++i) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0)
            break;
        if (strcmp(a, "--config") == 0 || strcmp(a, "-c") == 0) {
            if (i + 1 == argc) {
                fprintf(stderr, "invitegate: %s needs a file\n", a);
                return -1;
            }
            ctx->config_path = argv[++i];
        } else if (strncmp(a, "--config=", 9) == 0) {
            ctx->config_path = a + 9;
        } else if (strcmp(a, "--json") == 0) {
            ctx->json = 1;
        } else if (strcmp(a, "--show-emails") == 0) {
            ctx->show_emails = 1;
        } else if (strcmp(a, "--version") == 0) {
            *want_version = 1;
        } else {
            argv[out++] = argv[i];
        }
    }
    for (; i < argc; ++i)
        argv[out++] = argv[i];
    argv[out] = NULL;
    return out;
}

static const cli_command_t *find_command(const char *group, const char *sub, int *group_known)
{
    const cli_command_t *dflt = NULL;

    *group_known = 0;
    for (size_t i = 0; i != NUM_COMMANDS; ++i) {
        if (strcmp(commands[i].group, group) != 0)
            continue;
        *group_known = 1;
        if (sub != NULL && strcmp(commands[i].sub, sub) == 0)
            return &commands[i];
        if (commands[i].dflt)
            dflt = &commands[i];
    }
    return dflt;
}

/* Keys cli_redact like the daemons' logs (same subkey of secret_key), so hashes match across them. */
static void init_log(cli_ctx_t *ctx)
{
    if (ctx->cfg.has_secret_key)
        crypto_kdf_derive_from_key(ctx->log_key, sizeof(ctx->log_key), IG_KDF_LOG_HASH, IG_KDF_CONTEXT, ctx->cfg.secret_key);
    else
        randombytes_buf(ctx->log_key, sizeof(ctx->log_key));
    ig_log_init(ctx->log_key, IG_LOG_INFO);
}

int main(int argc, char **argv)
{
    static cli_ctx_t ctx;
    const cli_command_t *cmd;
    int want_version = 0, group_known, ret;

    if ((argc = take_globals(&ctx, argc, argv, &want_version)) < 0) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (want_version) {
        printf("invitegate %s\n", IG_VERSION);
        return CLI_EXIT_OK;
    }
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (is_help(argv[1])) {
        help();
        return CLI_EXIT_OK;
    }
    cmd = find_command(argv[1], argc > 2 ? argv[2] : NULL, &group_known);
    if (!group_known) {
        fprintf(stderr, "invitegate: unknown command \"%s\" (invitegate --help lists them)\n", argv[1]);
        return CLI_EXIT_USAGE;
    }
    if (cmd == NULL || (argc > 2 && is_help(argv[2]) && !cmd->dflt)) {
        int asked = argc > 2 && is_help(argv[2]);
        if (!asked && argc > 2)
            fprintf(stderr, "invitegate: unknown subcommand \"%s %s\"\n", argv[1], argv[2]);
        group_help(asked ? stdout : stderr, argv[1]);
        return asked ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    }
    /* argv[0] of the handler is the subcommand; a default subcommand may be left out. */
    if (argc > 2 && strcmp(argv[2], cmd->sub) == 0) {
        argc -= 2;
        argv += 2;
    } else {
        argc -= 1;
        argv += 1;
    }
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; ++i) {
        if (is_help(argv[i])) {
            command_help(cmd);
            return CLI_EXIT_OK;
        }
    }
    ctx.command = cmd;
    ctx.is_tty = isatty(STDOUT_FILENO);
    ctx.err_tty = isatty(STDERR_FILENO);
    if (sodium_init() < 0) {
        cli_error(&ctx, "libsodium failed to initialise");
        return CLI_EXIT_FAIL;
    }
    if (ig_config_load(&ctx.cfg, ctx.config_path) != 0) {
        cli_error(&ctx, "%s: %s", ctx.config_path != NULL ? ctx.config_path : "configuration", ctx.cfg.errstr);
        ig_config_wipe(&ctx.cfg);
        return CLI_EXIT_FAIL;
    }
    init_log(&ctx);
    optind = 0; /* GNU getopt: start afresh on the handler's argv */
    ret = cmd->handler(&ctx, argc, argv);
    cli_ctx_close(&ctx);
    return ret;
}
