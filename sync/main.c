/*
 * invitegate-sync: wires the configuration, the log and the two commands
 * together. The daemon is in daemon.c, the migration runner in migrate.c.
 *
 *   invitegate-sync -c FILE                run the sync daemon
 *   invitegate-sync -c FILE migrate [DIR]  apply migrations (DIR defaults to migrations_dir)
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>
#include "ig_config.h"
#include "ig_keys.h"
#include "ig_log.h"
#include "ig_notify.h"
#include "daemon.h"
#include "migrate.h"
#include "product.h"
#include "runtime.h"

#define SYNC_EXIT_USAGE 2

static void usage(FILE *out)
{
    fprintf(out, "usage: invitegate-sync [-c FILE]                 run the sync daemon\n"
                 "       invitegate-sync [-c FILE] migrate [DIR]   apply migrations (DIR defaults to migrations_dir)\n");
}

/*
 * Keys ig_log_redact with a subkey of secret_key, so redacted codes and
 * e-mails match across restarts and between the gateway and the sync daemon;
 * a random key when no secret is configured.
 */
static void init_log(const ig_config_t *cfg)
{
    unsigned char key[crypto_kdf_KEYBYTES];

    if (cfg->has_secret_key)
        crypto_kdf_derive_from_key(key, sizeof(key), IG_KDF_LOG_HASH, IG_KDF_CONTEXT, cfg->secret_key);
    else
        randombytes_buf(key, sizeof(key));
    ig_log_init(key, IG_LOG_INFO);
    sodium_memzero(key, sizeof(key));
}

int main(int argc, char **argv)
{
    ig_config_t cfg;
    sync_keys_t keys;
    const char *config_path = NULL;
    int opt, ret = 1;

    while ((opt = getopt(argc, argv, "c:h")) != -1) {
        switch (opt) {
        case 'c':
            config_path = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return SYNC_EXIT_USAGE;
        }
    }
    argc -= optind;
    argv += optind;
    if (argc > 2 || (argc >= 1 && strcmp(argv[0], "migrate") != 0)) {
        usage(stderr);
        return SYNC_EXIT_USAGE;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "invitegate-sync: libsodium failed to initialise\n");
        return 1;
    }
    if (ig_config_load(&cfg, config_path) != 0) {
        fprintf(stderr, "invitegate-sync: %s: %s\n", config_path != NULL ? config_path : "configuration", cfg.errstr);
        ig_config_wipe(&cfg);
        return 1;
    }
    /* The daemon derives user ids and e-mail hashes exactly as the gateway does. */
    if (argc == 0 && !cfg.has_secret_key) {
        fprintf(stderr, "invitegate-sync: secret_key (or secret_key_file) is required\n");
        ig_config_wipe(&cfg);
        return 1;
    }
    init_log(&cfg);
    sync_keys_derive(&keys, cfg.secret_key);
    /* Neither command needs the master key any more: subkeys are derived. */
    ig_config_wipe(&cfg);
    sync_signals_install();

    if (argc >= 1) {
        ret = sync_migrate_run(&cfg, argc == 2 ? argv[1] : cfg.migrations_dir) == 0 ? 0 : 1;
    } else {
        ig_notify_init();
        ret = sync_daemon_run(&cfg, &keys) == 0 ? 0 : 1;
    }
    sync_keys_wipe(&keys);
    return ret;
}
