/*
 * invitegate-sync: wires the configuration, the log and the two commands
 * together. The daemon is in daemon.c, the migration runner in migrate.c.
 *
 *   invitegate-sync -c FILE                run the sync daemon
 *   invitegate-sync -c FILE migrate [DIR]  apply migrations (DIR defaults to migrations_dir)
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
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
/* The built-in sync_metrics_listen (common/ig_config.c), for the help text. */
#define SYNC_METRICS_LISTEN_DEFAULT "127.0.0.1:9465"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: invitegate-sync [-c FILE]                 run the sync daemon\n"
            "       invitegate-sync [-c FILE] migrate [DIR]   apply the migrations of DIR (default: migrations_dir), then exit\n"
            "       invitegate-sync -h | --help | --version   show this help, or the version\n");
}

static void help(void)
{
    usage(stdout);
    printf("\n"
           "Persists the event streams of Redis to PostgreSQL exactly once, and evaluates the trust gate.\n"
           "\n"
           "options:\n"
           "  -c, --config FILE  the configuration file (key = value lines; each key may also come from the\n"
           "                     environment as IG_<KEY>, e.g. IG_DATABASE_URL); without it, defaults and IG_*\n"
           "  -h, --help         show this help\n"
           "  --version          print the version\n"
           "\n"
           "migrations_dir defaults to the migrations installed with this binary (PREFIX/share/invitegate/migrations),\n"
           "else ./migrations. The daemon is ready once every lane reached Redis and PostgreSQL and every migration\n"
           "is applied; under systemd (Type=notify) it then sends READY=1, and STATUS= says what it waits for.\n"
           "Prometheus metrics: http://%s/metrics (sync_metrics_listen; empty turns them off).\n"
           "\n"
           "Exit status: 0 after SIGTERM or SIGINT (or a migrate run that applied or found everything), 1 on a\n"
           "failure (configuration, migration, start), 2 on a usage error, 78 when Redis or PostgreSQL records\n"
           "another bucket count than the configuration's buckets (the process never runs with it).\n",
           SYNC_METRICS_LISTEN_DEFAULT);
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

    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'}, {"help", no_argument, NULL, 'h'}, {"version", no_argument, NULL, 'V'}, {NULL}};

    while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config_path = optarg;
            break;
        case 'h':
            help();
            return 0;
        case 'V':
            printf("invitegate-sync %s\n", IG_VERSION);
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
    sync_migrate_default_dir(&cfg);
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
