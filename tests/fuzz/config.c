/*
 * Fuzz target: the configuration parser (common/ig_config.c). Each input is
 * the text of a configuration file, read over the defaults with
 * ig_config_parse and then checked across keys with ig_config_check, as
 * ig_config_load reads a file (the environment is left out).
 *
 * Checks: a refusal says why (a non-empty cfg->errstr); an accepted text
 * leaves every string of the configuration NUL-terminated within its array,
 * a listen host, a Redis address of one kind, admin tokens within their
 * count and name length with known scopes, and the domain list in its
 * stored form (lower case, comma-separated, no empty entry).
 */
#include <ctype.h>
#include "fuzz.h"
#include "ig_config.h"

#define TERMINATED(field) (memchr((field), '\0', sizeof(field)) != NULL)

static void check_accepted(const ig_config_t *cfg)
{
    FUZZ_CHECK(TERMINATED(cfg->listen_host) && cfg->listen_host[0] != '\0');
    FUZZ_CHECK(TERMINATED(cfg->redis_url) && TERMINATED(cfg->redis_host) && TERMINATED(cfg->redis_unix));
    FUZZ_CHECK((cfg->redis_host[0] != '\0') != (cfg->redis_unix[0] != '\0'));
    FUZZ_CHECK(cfg->redis_cluster ? cfg->redis_num_seeds >= 1 && cfg->redis_num_seeds <= IG_CONFIG_MAX_REDIS_SEEDS
                                  : cfg->redis_num_seeds == 0);
    for (unsigned i = 0; i != cfg->redis_num_seeds; ++i)
        FUZZ_CHECK(TERMINATED(cfg->redis_seeds[i].host) && cfg->redis_seeds[i].host[0] != '\0' && cfg->redis_seeds[i].port != 0);
    FUZZ_CHECK(!cfg->redis_cluster ||
               (strcmp(cfg->redis_seeds[0].host, cfg->redis_host) == 0 && cfg->redis_seeds[0].port == cfg->redis_port));
    FUZZ_CHECK(TERMINATED(cfg->database_url) && TERMINATED(cfg->code_prefix) && strlen(cfg->code_prefix) <= 10);
    FUZZ_CHECK(TERMINATED(cfg->migrations_dir) && TERMINATED(cfg->sync_consumer) && TERMINATED(cfg->signup_url));
    FUZZ_CHECK(cfg->public_body_bytes > 0 && cfg->admin_body_bytes >= cfg->public_body_bytes);
    FUZZ_CHECK(cfg->gate_reopen_above >= cfg->gate_close_below && cfg->referral_earn_after > 0);
    FUZZ_CHECK(cfg->num_tokens <= IG_CONFIG_MAX_TOKENS);
    for (size_t i = 0; i != cfg->num_tokens; ++i) {
        const ig_admin_token_t *t = &cfg->tokens[i];
        FUZZ_CHECK(TERMINATED(t->name) && t->name[0] != '\0' && strlen(t->name) <= IG_TOKEN_NAME_MAX_BYTES);
        FUZZ_CHECK(t->scopes != 0 && (t->scopes & ~(unsigned)IG_SCOPE_ALL) == 0);
    }
    const char *d = cfg->disposable_domains;
    size_t n = strnlen(d, sizeof(cfg->disposable_domains));
    FUZZ_CHECK(n < sizeof(cfg->disposable_domains));
    FUZZ_CHECK(n == 0 || (d[0] != ',' && d[n - 1] != ',' && strstr(d, ",,") == NULL));
    for (size_t i = 0; i != n; ++i)
        FUZZ_CHECK(!isupper((unsigned char)d[i]) && d[i] != ' ' && d[i] != '\t');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ig_config_t cfg;

    ig_config_defaults(&cfg);
    if (ig_config_parse(&cfg, (const char *)data, size, "fuzz.conf") == 0 && ig_config_check(&cfg) == 0)
        check_accepted(&cfg);
    else
        FUZZ_CHECK(TERMINATED(cfg.errstr) && cfg.errstr[0] != '\0');
    ig_config_wipe(&cfg);
    return 0;
}
