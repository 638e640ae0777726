/* `invitegate token new`: a random admin token and the admin_token line that accepts it. */
#include <getopt.h>
#include <string.h>
#include <sodium.h>
#include "cli.h"

/** Random bytes of a new token (printed as twice as many hex digits). */
#define CLI_TOKEN_BYTES 32

const char cli_token_new_help[] =
    "Prints a new random admin token (256 bits from libsodium, in hex) and the line that makes the gateway\n"
    "accept it:\n"
    "\n"
    "  admin_token = HASH NAME SCOPES\n"
    "\n"
    "HASH is what `invitegate-gateway --hash-token` prints for the token; the token itself is stored nowhere:\n"
    "give it to its user now. NAME (at most 64 bytes, no blanks) is recorded as invites.created_by. SCOPES is a\n"
    "comma-separated list of issue, admit, revoke, read, users, gate, or all. The line is checked by the same\n"
    "code that reads the configuration. With --json: {\"token\", \"hash\", \"name\", \"scopes\", \"config_line\"}.\n";

int cli_token_new(cli_ctx_t *ctx, int argc, char **argv)
{
    static const struct option options[] = {
        {"name", required_argument, NULL, 'n'}, {"scopes", required_argument, NULL, 's'}, {NULL}};
    unsigned char raw[CLI_TOKEN_BYTES];
    char token[CLI_TOKEN_BYTES * 2 + 1], hash[IG_TOKEN_HASH_BYTES * 2 + 1], value[IG_CONFIG_ERR_BYTES];
    const char *name = NULL, *scopes = NULL;
    ig_config_t *check = NULL;
    int opt, ret = CLI_EXIT_FAIL;

    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (opt == 'n')
            name = optarg;
        else if (opt == 's')
            scopes = optarg;
        else
            return cli_usage(ctx);
    }
    if (optind != argc || name == NULL || scopes == NULL)
        return cli_usage(ctx);

    randombytes_buf(raw, sizeof(raw));
    sodium_bin2hex(token, sizeof(token), raw, sizeof(raw));
    sodium_memzero(raw, sizeof(raw));
    ig_token_hash_hex(hash, token, strlen(token));
    if ((size_t)snprintf(value, sizeof(value), "%s %s %s", hash, name, scopes) >= sizeof(value)) {
        cli_error(ctx, "the name and scopes are too long");
        ret = CLI_EXIT_USAGE;
        goto Exit;
    }
    /* The configuration's own parser says whether the line is acceptable. */
    if ((check = sodium_malloc(sizeof(*check))) == NULL) {
        cli_error(ctx, "out of memory");
        goto Exit;
    }
    ig_config_defaults(check);
    if (ig_config_set(check, "admin_token", value) != 0) {
        cli_error(ctx, "%s", check->errstr);
        ret = CLI_EXIT_USAGE;
        goto Exit;
    }
    if (ctx->json) {
        char line[sizeof(value) + 16];
        snprintf(line, sizeof(line), "admin_token = %s", value);
        ret = cli_json_print(json_pack("{s:s, s:s, s:s, s:s, s:s}", "token", token, "hash", hash, "name", name, "scopes", scopes,
                                       "config_line", line)) == 0
                  ? CLI_EXIT_OK
                  : CLI_EXIT_FAIL;
    } else {
        printf("token: %s\n", token);
        printf("admin_token = %s\n", value);
        if (ctx->is_tty)
            fprintf(stderr, "The token is shown once and stored nowhere: hand it over now; the admin_token line goes in the\n"
                            "configuration of every gateway (then restart them).\n");
        ret = CLI_EXIT_OK;
    }

Exit:
    sodium_memzero(token, sizeof(token));
    if (check != NULL) {
        ig_config_wipe(check);
        sodium_free(check);
    }
    return ret;
}
