/* invitegate-gateway: wires configuration, keys and the server together. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>
#include "ig_email.h"
#include "ig_keys.h"
#include "ig_log.h"
#include "ig_notify.h"
#include "gateway.h"
#include "ratelimit.h"

gw_t gw;

extern const char gw_lua_source[];
extern const size_t gw_lua_source_len;

static int hash_token_from_stdin(void)
{
    char token[1024], hex[IG_TOKEN_HASH_BYTES * 2 + 1];
    size_t n = fread(token, 1, sizeof(token) - 1, stdin);
    while (n != 0 && (token[n - 1] == '\n' || token[n - 1] == '\r'))
        --n;
    if (n == 0) {
        fprintf(stderr, "invitegate-gateway: no token on standard input\n");
        return 1;
    }
    ig_token_hash_hex(hex, token, n);
    sodium_memzero(token, sizeof(token));
    printf("%s\n", hex);
    return 0;
}

static void usage(FILE *fp)
{
    fprintf(fp, "usage: invitegate-gateway -c CONFIG\n"
                "       invitegate-gateway --hash-token < token   (prints the hash admin_token takes)\n"
                "       invitegate-gateway -h | --help | --version\n");
}

static void help(void)
{
    usage(stdout);
    printf("\n"
           "Serves invite codes, the waitlist and referrals over HTTP (listen), from Redis (redis_url).\n"
           "\n"
           "options:\n"
           "  -c, --config FILE  the configuration file (key = value lines; each key may also come from the\n"
           "                     environment as IG_<KEY>, e.g. IG_REDIS_URL); secret_key (or secret_key_file) is required\n"
           "  --hash-token       read an admin token on standard input, print its hash for admin_token, exit\n"
           "  -h, --help         show this help\n"
           "  --version          print the version\n"
           "\n"
           "GET /health answers while the process runs, GET /ready once this gateway's Redis connections answer a call\n"
           "into the function library, GET /metrics in Prometheus text. Under systemd (Type=notify) READY=1 follows the\n"
           "same test on every event loop, and STATUS= says what it waits for. SIGTERM or SIGINT: stop accepting,\n"
           "answer the requests in flight (up to 10 s), exit 0. Exit status 2: bad usage or configuration; 78: Redis\n"
           "records another bucket count than the configuration's buckets (the process never serves with it).\n");
}

int main(int argc, char **argv)
{
    static const struct option options[] = {{"config", required_argument, NULL, 'c'},
                                            {"hash-token", no_argument, NULL, 't'},
                                            {"help", no_argument, NULL, 'h'},
                                            {"version", no_argument, NULL, 'V'},
                                            {NULL}};
    const char *config_path = NULL;
    unsigned char log_key[32];
    int opt;

    if (sodium_init() < 0)
        return 1;
    while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config_path = optarg;
            break;
        case 't':
            return hash_token_from_stdin();
        case 'h':
            help();
            return 0;
        case 'V':
            printf("invitegate-gateway %s\n", IG_VERSION);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (ig_config_load(&gw.cfg, config_path) != 0) {
        fprintf(stderr, "invitegate-gateway: %s\n", gw.cfg.errstr);
        return 2;
    }
    if (!gw.cfg.has_secret_key) {
        fprintf(stderr, "invitegate-gateway: secret_key (or secret_key_file) is required\n");
        return 2;
    }
    ig_code_key_derive(gw.code_key, gw.cfg.secret_key);
    ig_email_key_derive(gw.email_key, gw.cfg.secret_key);
    ig_user_keys_derive(&gw.user_keys, gw.cfg.secret_key);
    crypto_kdf_derive_from_key(log_key, sizeof(log_key), IG_KDF_LOG_HASH, IG_KDF_CONTEXT, gw.cfg.secret_key);
    ig_log_init(log_key, IG_LOG_INFO);
    sodium_memzero(log_key, sizeof(log_key));
    sodium_memzero(gw.cfg.secret_key, sizeof(gw.cfg.secret_key));

    gw.num_threads = gw.cfg.threads != 0 ? gw.cfg.threads : (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
    if (gw.num_threads == 0)
        gw.num_threads = 1;
    if (gw.cfg.rate_limit_per_sec != 0 &&
        (gw.ratelimit = gw_ratelimit_new(gw.cfg.rate_limit_per_sec, gw.cfg.rate_limit_burst, GW_RATELIMIT_ENTRIES, NULL)) == NULL) {
        fprintf(stderr, "invitegate-gateway: no memory for the rate-limit table\n");
        return 1;
    }
    gw.lua = gw_lua_source;
    gw.lua_len = gw_lua_source_len;

    ig_notify_init();
    signal(SIGPIPE, SIG_IGN);
    h2o_config_init(&gw.h2o);
    /* The routes enforce the caps with the JSON 413 of API.md; h2o's own limit,
     * which answers in plain text without buffering, sits above them. */
    gw.h2o.max_request_entity_size = 2 * gw.cfg.admin_body_bytes;
    gw.h2o.server_name = h2o_iovec_init(H2O_STRLIT("invitegate"));
    /* HTTP/1.1 only. h2o would otherwise speak HTTP/2 on this cleartext port
     * to a client that sends the prior-knowledge preface or `Upgrade: h2c`
     * (both are governed by this flag in h2o 2.2's lib/http1.c), and h2o 2.2
     * has no defence against HTTP/2 rapid reset. The preface now gets a 400
     * and the upgrade header is ignored. */
    gw.h2o.http1.upgrade_to_http2 = 0;

    int ret = gw_server_run() == 0 ? 0 : 1;
    gw_ratelimit_free(gw.ratelimit);
    ig_config_wipe(&gw.cfg);
    return ret;
}
