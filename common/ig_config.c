#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>
#include "ig_config.h"

#define LINE_MAX_BYTES 1024

static int fail(ig_config_t *cfg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(ig_config_t *cfg, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    vsnprintf(cfg->errstr, sizeof(cfg->errstr), fmt, args);
    va_end(args);
    return -1;
}

/* Puts "context: " in front of the last error, truncating the end if need be. */
static void prefix_error(ig_config_t *cfg, const char *context)
{
    char err[IG_CONFIG_ERR_BYTES];
    size_t clen = strlen(context), cap = sizeof(cfg->errstr) - 1;
    memcpy(err, cfg->errstr, sizeof(err));
    if (clen + 2 > cap)
        clen = cap - 2;
    memcpy(cfg->errstr, context, clen);
    memcpy(cfg->errstr + clen, ": ", 2);
    size_t rest = strnlen(err, sizeof(err));
    if (rest > cap - clen - 2)
        rest = cap - clen - 2;
    memcpy(cfg->errstr + clen + 2, err, rest);
    cfg->errstr[clen + 2 + rest] = '\0';
}

void ig_config_defaults(ig_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    strcpy(cfg->listen_host, "127.0.0.1");
    cfg->listen_port = 8080;
    strcpy(cfg->redis_url, "redis://127.0.0.1:6379");
    strcpy(cfg->redis_host, "127.0.0.1");
    cfg->redis_port = 6379;
    cfg->redis_timeout_ms = 1000;
    strcpy(cfg->database_url, "postgresql:///invitegate");
    strcpy(cfg->code_prefix, "VOBEE-");
    cfg->default_expires_days = 30;
    cfg->rate_limit_per_sec = 20;
    cfg->rate_limit_burst = 40;
    cfg->public_body_bytes = 4096;
    cfg->admin_body_bytes = 4 << 20;
    strcpy(cfg->migrations_dir, "migrations");
    cfg->sync_batch_size = 1000;
    cfg->sync_block_ms = 500;
    cfg->sync_claim_idle_ms = 30000;
    if (gethostname(cfg->sync_consumer, sizeof(cfg->sync_consumer) - 1) != 0 || cfg->sync_consumer[0] == '\0')
        strcpy(cfg->sync_consumer, "sync");
}

void ig_config_wipe(ig_config_t *cfg)
{
    sodium_memzero(cfg->secret_key, sizeof(cfg->secret_key));
    sodium_memzero(cfg->tokens, sizeof(cfg->tokens));
}

static int copy_str(ig_config_t *cfg, char *dst, size_t cap, const char *key, const char *value)
{
    if (strlen(value) >= cap)
        return fail(cfg, "%s: value too long (at most %zu bytes)", key, cap - 1);
    strcpy(dst, value);
    return 0;
}

static int parse_uint(ig_config_t *cfg, unsigned *dst, const char *key, const char *value, unsigned long max)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(value, &end, 10);
    if (errno != 0 || end == value || *end != '\0' || value[0] == '-' || v > max)
        return fail(cfg, "%s: expected an integer from 0 to %lu, got \"%s\"", key, max, value);
    *dst = (unsigned)v;
    return 0;
}

/* Reads the first line of a secret file (systemd credentials, Docker secrets). */
static int read_secret_file(ig_config_t *cfg, char *dst, size_t cap, const char *key, const char *path)
{
    FILE *fp = fopen(path, "r");
    if (fp == NULL)
        return fail(cfg, "%s: cannot open %s: %s", key, path, strerror(errno));
    int ok = fgets(dst, (int)cap, fp) != NULL;
    fclose(fp);
    if (!ok)
        return fail(cfg, "%s: %s is empty", key, path);
    dst[strcspn(dst, "\r\n")] = '\0';
    return 0;
}

static int set_listen(ig_config_t *cfg, const char *value)
{
    const char *colon = strrchr(value, ':');
    unsigned port = 0;
    if (colon == NULL)
        return fail(cfg, "listen: expected HOST:PORT, got \"%s\"", value);
    if (parse_uint(cfg, &port, "listen", colon + 1, 65535) != 0)
        return -1;
    size_t hlen = (size_t)(colon - value);
    if (hlen >= 2 && value[0] == '[' && value[hlen - 1] == ']')
        ++value, hlen -= 2;
    if (hlen == 0 || hlen >= sizeof(cfg->listen_host))
        return fail(cfg, "listen: bad host in \"%s\"", value);
    memcpy(cfg->listen_host, value, hlen);
    cfg->listen_host[hlen] = '\0';
    cfg->listen_port = (uint16_t)port;
    return 0;
}

static int set_redis_url(ig_config_t *cfg, const char *value)
{
    if (copy_str(cfg, cfg->redis_url, sizeof(cfg->redis_url), "redis_url", value) != 0)
        return -1;
    cfg->redis_host[0] = cfg->redis_unix[0] = '\0';
    if (strncmp(value, "unix://", 7) == 0)
        return copy_str(cfg, cfg->redis_unix, sizeof(cfg->redis_unix), "redis_url", value + 7);
    if (strncmp(value, "redis://", 8) != 0)
        return fail(cfg, "redis_url: expected redis://IP:PORT or unix:///path, got \"%s\"", value);
    const char *hostport = value + 8, *colon = strrchr(hostport, ':');
    unsigned port = 6379;
    size_t hlen = strcspn(hostport, "/");
    if (colon != NULL && colon < hostport + hlen) {
        char portbuf[8] = {0};
        size_t plen = (size_t)(hostport + hlen - colon - 1);
        if (plen == 0 || plen >= sizeof(portbuf))
            return fail(cfg, "redis_url: bad port in \"%s\"", value);
        memcpy(portbuf, colon + 1, plen);
        if (parse_uint(cfg, &port, "redis_url", portbuf, 65535) != 0)
            return -1;
        hlen = (size_t)(colon - hostport);
    }
    if (hlen == 0 || hlen >= sizeof(cfg->redis_host))
        return fail(cfg, "redis_url: bad host in \"%s\"", value);
    memcpy(cfg->redis_host, hostport, hlen);
    cfg->redis_host[hlen] = '\0';
    cfg->redis_port = (uint16_t)port;
    return 0;
}

static int set_secret_key(ig_config_t *cfg, const char *hex)
{
    size_t bin_len;
    if (sodium_hex2bin(cfg->secret_key, sizeof(cfg->secret_key), hex, strlen(hex), NULL, &bin_len, NULL) != 0 ||
        bin_len != sizeof(cfg->secret_key))
        return fail(cfg, "secret_key: expected %zu hex digits", sizeof(cfg->secret_key) * 2);
    cfg->has_secret_key = 1;
    return 0;
}

static int parse_scopes(ig_config_t *cfg, unsigned *out, const char *list)
{
    static const struct {
        const char *name;
        unsigned bit;
    } names[] = {{"issue", IG_SCOPE_ISSUE},
                 {"admit", IG_SCOPE_ADMIT},
                 {"revoke", IG_SCOPE_REVOKE},
                 {"read", IG_SCOPE_READ},
                 {"all", IG_SCOPE_ALL}};
    *out = 0;
    while (*list != '\0') {
        size_t len = strcspn(list, ",");
        size_t i;
        for (i = 0; i != sizeof(names) / sizeof(names[0]); ++i)
            if (strlen(names[i].name) == len && memcmp(names[i].name, list, len) == 0)
                break;
        if (i == sizeof(names) / sizeof(names[0]))
            return fail(cfg, "admin_token: unknown scope \"%.*s\" (issue, admit, revoke, read, all)", (int)len, list);
        *out |= names[i].bit;
        list += len + (list[len] == ',');
    }
    return 0;
}

/* "HASH [name] [scope,scope]" */
static int add_token(ig_config_t *cfg, const char *value)
{
    char hash[80] = "", name[32] = "admin", scopes[96] = "all";
    ig_admin_token_t *t;
    size_t bin_len;

    if (cfg->num_tokens == IG_CONFIG_MAX_TOKENS)
        return fail(cfg, "admin_token: at most %d tokens", IG_CONFIG_MAX_TOKENS);
    if (sscanf(value, "%79s %31s %95s", hash, name, scopes) < 1)
        return fail(cfg, "admin_token: expected HASH [name] [scopes]");
    t = &cfg->tokens[cfg->num_tokens];
    if (sodium_hex2bin(t->hash, sizeof(t->hash), hash, strlen(hash), NULL, &bin_len, NULL) != 0 || bin_len != sizeof(t->hash))
        return fail(cfg, "admin_token: the hash must be %zu hex digits (invitegate-gateway --hash-token)", sizeof(t->hash) * 2);
    if (parse_scopes(cfg, &t->scopes, scopes) != 0)
        return -1;
    strcpy(t->name, name);
    ++cfg->num_tokens;
    return 0;
}

int ig_config_set(ig_config_t *cfg, const char *key, const char *value)
{
    char secret[LINE_MAX_BYTES];
    int ret;

#define UINT_KEY(k, max)                                                                                                           \
    if (strcmp(key, #k) == 0)                                                                                                      \
        return parse_uint(cfg, &cfg->k, key, value, max);
#define STR_KEY(k)                                                                                                                 \
    if (strcmp(key, #k) == 0)                                                                                                      \
        return copy_str(cfg, cfg->k, sizeof(cfg->k), key, value);
    UINT_KEY(threads, 256)
    UINT_KEY(redis_timeout_ms, 600000)
    UINT_KEY(default_expires_days, 3650)
    UINT_KEY(rate_limit_per_sec, 1000000)
    UINT_KEY(rate_limit_burst, 1000000)
    UINT_KEY(sync_batch_size, 100000)
    UINT_KEY(sync_block_ms, 60000)
    UINT_KEY(sync_claim_idle_ms, 86400000)
    STR_KEY(database_url)
    STR_KEY(code_prefix)
    STR_KEY(migrations_dir)
    STR_KEY(sync_consumer)
#undef UINT_KEY
#undef STR_KEY
    if (strcmp(key, "listen") == 0)
        return set_listen(cfg, value);
    if (strcmp(key, "redis_url") == 0)
        return set_redis_url(cfg, value);
    if (strcmp(key, "public_body_bytes") == 0 || strcmp(key, "admin_body_bytes") == 0) {
        unsigned v = 0;
        if (parse_uint(cfg, &v, key, value, 64u << 20) != 0)
            return -1;
        *(key[0] == 'p' ? &cfg->public_body_bytes : &cfg->admin_body_bytes) = v;
        return 0;
    }
    if (strcmp(key, "secret_key") == 0)
        return set_secret_key(cfg, value);
    if (strcmp(key, "admin_token") == 0)
        return add_token(cfg, value);
    if (strcmp(key, "secret_key_file") == 0 || strcmp(key, "admin_token_file") == 0) {
        if (read_secret_file(cfg, secret, sizeof(secret), key, value) != 0)
            return -1;
        ret = key[0] == 's' ? set_secret_key(cfg, secret) : add_token(cfg, secret);
        sodium_memzero(secret, sizeof(secret));
        return ret;
    }
    return fail(cfg, "unknown configuration key \"%s\"", key);
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        ++s;
    size_t n = strlen(s);
    while (n != 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

static int load_file(ig_config_t *cfg, const char *path)
{
    char line[LINE_MAX_BYTES], where[IG_CONFIG_ERR_BYTES / 2];
    unsigned lineno = 0;
    int ret = -1;
    FILE *fp = fopen(path, "r");

    if (fp == NULL)
        return fail(cfg, "cannot open %s: %s", path, strerror(errno));
    while (fgets(line, sizeof(line), fp) != NULL) {
        ++lineno;
        char *hash = strchr(line, '#'), *s, *eq;
        if (hash != NULL)
            *hash = '\0';
        s = trim(line);
        if (*s == '\0')
            continue;
        if ((eq = strchr(s, '=')) == NULL) {
            fail(cfg, "%s:%u: expected key = value", path, lineno);
            goto Exit;
        }
        *eq = '\0';
        if (ig_config_set(cfg, trim(s), trim(eq + 1)) != 0) {
            snprintf(where, sizeof(where), "%s:%u", path, lineno);
            prefix_error(cfg, where);
            goto Exit;
        }
    }
    ret = 0;
Exit:
    sodium_memzero(line, sizeof(line));
    fclose(fp);
    return ret;
}

/* Every key that may come from the environment as IG_<KEY>. */
static const char *const env_keys[] = {"listen",
                                       "threads",
                                       "redis_url",
                                       "redis_timeout_ms",
                                       "database_url",
                                       "secret_key",
                                       "secret_key_file",
                                       "code_prefix",
                                       "default_expires_days",
                                       "rate_limit_per_sec",
                                       "rate_limit_burst",
                                       "public_body_bytes",
                                       "admin_body_bytes",
                                       "admin_token",
                                       "admin_token_file",
                                       "migrations_dir",
                                       "sync_batch_size",
                                       "sync_block_ms",
                                       "sync_claim_idle_ms",
                                       "sync_consumer",
                                       NULL};

static int load_env(ig_config_t *cfg)
{
    char name[64];
    for (const char *const *k = env_keys; *k != NULL; ++k) {
        size_t i = 0;
        name[i++] = 'I', name[i++] = 'G', name[i++] = '_';
        for (const char *p = *k; *p != '\0'; ++p)
            name[i++] = (char)toupper((unsigned char)*p);
        name[i] = '\0';
        const char *v = getenv(name);
        if (v != NULL && *v != '\0' && ig_config_set(cfg, *k, v) != 0) {
            prefix_error(cfg, name);
            return -1;
        }
    }
    return 0;
}

int ig_config_load(ig_config_t *cfg, const char *path)
{
    ig_config_defaults(cfg);
    if (path != NULL && load_file(cfg, path) != 0)
        return -1;
    if (load_env(cfg) != 0)
        return -1;
    if (cfg->rate_limit_per_sec != 0 && cfg->rate_limit_burst == 0)
        return fail(cfg, "rate_limit_burst: must be at least 1 when rate_limit_per_sec is set");
    if (cfg->public_body_bytes == 0 || cfg->admin_body_bytes < cfg->public_body_bytes)
        return fail(cfg, "admin_body_bytes must be at least public_body_bytes, which must be positive");
    if (strlen(cfg->code_prefix) > 10)
        return fail(cfg, "code_prefix: at most 10 characters");
    return 0;
}

const ig_admin_token_t *ig_config_find_token(const ig_config_t *cfg, const char *token, size_t token_len)
{
    unsigned char hash[IG_TOKEN_HASH_BYTES];
    const ig_admin_token_t *found = NULL;
    crypto_generichash(hash, sizeof(hash), (const unsigned char *)token, token_len, NULL, 0);
    /* Compare against every token so timing tells nothing about which matched. */
    for (size_t i = 0; i != cfg->num_tokens; ++i)
        if (sodium_memcmp(hash, cfg->tokens[i].hash, sizeof(hash)) == 0)
            found = &cfg->tokens[i];
    sodium_memzero(hash, sizeof(hash));
    return found;
}

void ig_token_hash_hex(char out[IG_TOKEN_HASH_BYTES * 2 + 1], const char *token, size_t token_len)
{
    unsigned char hash[IG_TOKEN_HASH_BYTES];
    crypto_generichash(hash, sizeof(hash), (const unsigned char *)token, token_len, NULL, 0);
    sodium_bin2hex(out, IG_TOKEN_HASH_BYTES * 2 + 1, hash, sizeof(hash));
}
