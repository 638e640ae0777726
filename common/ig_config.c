#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>
#include "ig_config.h"
#include "ig_keys.h"

/* Longest line, its newline included: room for disposable_domains given inline at its longest. */
#define LINE_MAX_BYTES (IG_DOMAINS_BYTES + 1024)

/* Throwaway-address services refused by default; `disposable_domains` replaces the list. */
#define DEFAULT_DISPOSABLE                                                                                                         \
    "mailinator.com,guerrillamail.com,guerrillamail.net,sharklasers.com,10minutemail.com,tempmail.com,temp-mail.org,"              \
    "yopmail.com,trashmail.com,getnada.com,dispostable.com,throwawaymail.com,maildrop.cc,mailnesia.com,fakeinbox.com"

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
    cfg->buckets = IG_BUCKETS_DEFAULT;
    strcpy(cfg->database_url, "postgresql:///invitegate");
    strcpy(cfg->code_prefix, "VOBEE-");
    cfg->default_expires_days = 30;
    cfg->rate_limit_per_sec = 20;
    cfg->rate_limit_burst = 40;
    cfg->public_body_bytes = 4096;
    cfg->admin_body_bytes = 4 << 20;
    cfg->max_connections = 10000;
    cfg->max_connections_per_address = 256;
    strcpy(cfg->migrations_dir, "migrations");
    cfg->sync_batch_size = 250;
    cfg->sync_block_ms = 500;
    cfg->sync_batch_window_ms = 100;
    cfg->sync_batch_max_events = 20000;
    strcpy(cfg->signup_url, "http://127.0.0.1:8080/signup");
    strcpy(cfg->disposable_domains, DEFAULT_DISPOSABLE);
    cfg->waitlist_referral_boost = 5;
    cfg->referral_earn_after = 3;
    cfg->referral_earn_codes = 3;
    cfg->referral_expire_days = 90;
    cfg->points_welcome = 50;
    cfg->points_first_payment = 500;
    cfg->points_recurring = 100;
    cfg->points_recurring_months = 12;
    cfg->points_l2 = 50;
    cfg->points_l2_months = 6;
    cfg->points_expire_days = 0;
    cfg->retention_days = 30;
    cfg->gate_interval_ms = 1000;
    cfg->gate_window_days = 7;
    cfg->gate_min_redemptions = 20;
    cfg->gate_weight_engagement = 0.4;
    cfg->gate_weight_churn = 0.3;
    cfg->gate_weight_fraud = 0.3;
    cfg->gate_close_below = 0.5;
    cfg->gate_reopen_above = 0.6;
    cfg->gate_max_fraud_rate = 0.2;
    cfg->gate_burst_window_s = 60;
    cfg->gate_burst_per_network = 200;
    /* Sync daemon metrics: on, on the loopback interface only. */
    strcpy(cfg->sync_metrics_listen, "127.0.0.1:9465");
    strcpy(cfg->sync_metrics_host, "127.0.0.1");
    cfg->sync_metrics_port = 9465;
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

static int parse_int(ig_config_t *cfg, long long *dst, const char *key, const char *value)
{
    char *end;
    errno = 0;
    long long v = strtoll(value, &end, 10);
    if (errno != 0 || end == value || *end != '\0')
        return fail(cfg, "%s: expected an integer, got \"%s\"", key, value);
    *dst = v;
    return 0;
}

static int parse_double(ig_config_t *cfg, double *dst, const char *key, const char *value, double max)
{
    char *end;
    errno = 0;
    double v = strtod(value, &end);
    if (errno != 0 || end == value || *end != '\0' || !(v >= 0 && v <= max))
        return fail(cfg, "%s: expected a number from 0 to %g, got \"%s\"", key, max, value);
    *dst = v;
    return 0;
}

/* Domains: comma- or space-separated, stored lower-case and comma-separated. */
static int set_domains(ig_config_t *cfg, const char *value)
{
    size_t n = 0;
    for (const char *p = value; *p != '\0'; ++p) {
        char c = (char)tolower((unsigned char)*p);
        if (c == ' ' || c == '\t')
            c = ',';
        if (c == ',' && (n == 0 || cfg->disposable_domains[n - 1] == ','))
            continue;
        if (n + 2 >= sizeof(cfg->disposable_domains))
            return fail(cfg, "disposable_domains: list too long (at most %zu bytes)", sizeof(cfg->disposable_domains) - 2);
        cfg->disposable_domains[n++] = c;
    }
    if (n != 0 && cfg->disposable_domains[n - 1] == ',')
        --n;
    cfg->disposable_domains[n] = '\0';
    return 0;
}

/*
 * Reads the next line of fp, without its newline, into line (cap bytes);
 * *lineno counts the lines. Returns 1, 0 at the end of fp, or -1 with
 * cfg->errstr set (name:line) when the line does not fit, holds a NUL byte
 * or cannot be read. A line is taken whole or not at all: the tail of a long
 * line is never taken for a line of its own, and no NUL hides the rest of a
 * line.
 */
static int read_line(ig_config_t *cfg, char *line, size_t cap, unsigned *lineno, FILE *fp, const char *name)
{
    size_t n = 0;
    int c;
    while ((c = getc(fp)) != EOF && c != '\n') {
        if (n == cap - 1)
            return fail(cfg, "%s:%u: line longer than %zu bytes", name, *lineno + 1, cap - 1);
        line[n++] = (char)c;
    }
    line[n] = '\0';
    if (ferror(fp))
        return fail(cfg, "%s: read error after line %u", name, *lineno);
    if (c == EOF && n == 0)
        return 0;
    ++*lineno;
    if (memchr(line, '\0', n) != NULL)
        return fail(cfg, "%s:%u: NUL byte in the line", name, *lineno);
    return 1;
}

/* One domain per line; '#' comments. */
static int read_domains_file(ig_config_t *cfg, const char *path)
{
    char buf[IG_DOMAINS_BYTES], line[256];
    size_t n = 0;
    unsigned lineno = 0;
    int got;
    FILE *fp = fopen(path, "r");
    if (fp == NULL)
        return fail(cfg, "disposable_domains_file: cannot open %s: %s", path, strerror(errno));
    buf[0] = '\0';
    while ((got = read_line(cfg, line, sizeof(line), &lineno, fp, path)) > 0) {
        line[strcspn(line, "#\r")] = '\0';
        size_t len = strlen(line);
        if (len == 0)
            continue;
        if (n + len + 2 >= sizeof(buf)) {
            fail(cfg, "%s is too long (at most %zu bytes)", path, sizeof(buf) - 2);
            got = -1;
            break;
        }
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s", n ? "," : "", line);
    }
    fclose(fp);
    if (got < 0) {
        prefix_error(cfg, "disposable_domains_file");
        return -1;
    }
    return set_domains(cfg, buf);
}

int ig_config_is_disposable(const ig_config_t *cfg, const char *email)
{
    const char *at = strrchr(email, '@'), *p = cfg->disposable_domains;
    if (at == NULL)
        return 0;
    size_t dlen = strlen(++at);
    while (*p != '\0') {
        size_t len = strcspn(p, ",");
        if (len == dlen && memcmp(p, at, len) == 0)
            return 1;
        p += len + (p[len] == ',');
    }
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

/* "HOST:PORT" or "[IPv6]:PORT" of key into host (host_cap bytes) and *port. */
static int parse_host_port(ig_config_t *cfg, char *host, size_t host_cap, uint16_t *port, const char *key, const char *value)
{
    const char *colon = strrchr(value, ':');
    unsigned p = 0;
    if (colon == NULL)
        return fail(cfg, "%s: expected HOST:PORT, got \"%s\"", key, value);
    if (parse_uint(cfg, &p, key, colon + 1, 65535) != 0)
        return -1;
    size_t hlen = (size_t)(colon - value);
    if (hlen >= 2 && value[0] == '[' && value[hlen - 1] == ']')
        ++value, hlen -= 2;
    if (hlen == 0 || hlen >= host_cap)
        return fail(cfg, "%s: bad host in \"%s\"", key, value);
    memcpy(host, value, hlen);
    host[hlen] = '\0';
    *port = (uint16_t)p;
    return 0;
}

static int set_listen(ig_config_t *cfg, const char *value)
{
    return parse_host_port(cfg, cfg->listen_host, sizeof(cfg->listen_host), &cfg->listen_port, "listen", value);
}

/* Empty or "off" turns the sync daemon's metrics server off; else an IP literal and a port. */
static int set_sync_metrics_listen(ig_config_t *cfg, const char *value)
{
    if (value[0] == '\0' || strcmp(value, "off") == 0) {
        cfg->sync_metrics_listen[0] = cfg->sync_metrics_host[0] = '\0';
        cfg->sync_metrics_port = 0;
        return 0;
    }
    if (copy_str(cfg, cfg->sync_metrics_listen, sizeof(cfg->sync_metrics_listen), "sync_metrics_listen", value) != 0)
        return -1;
    return parse_host_port(cfg, cfg->sync_metrics_host, sizeof(cfg->sync_metrics_host), &cfg->sync_metrics_port,
                           "sync_metrics_listen", value);
}

/* "IP[:PORT]" or "[IPv6]:PORT" of len bytes of a redis_url (value) into host and *port; the port defaults to 6379. */
static int parse_redis_node(ig_config_t *cfg, char *host, size_t host_cap, uint16_t *port, const char *text, size_t len,
                            const char *value)
{
    const char *colon = NULL;
    unsigned p = 6379;
    size_t hlen = len;
    for (size_t i = len; i != 0 && colon == NULL; --i)
        if (text[i - 1] == ':')
            colon = text + i - 1;
    if (colon != NULL) {
        char portbuf[8] = {0};
        size_t plen = (size_t)(text + len - colon - 1);
        if (plen == 0 || plen >= sizeof(portbuf))
            return fail(cfg, "redis_url: bad port in \"%s\"", value);
        memcpy(portbuf, colon + 1, plen);
        if (parse_uint(cfg, &p, "redis_url", portbuf, 65535) != 0)
            return -1;
        if (p == 0)
            return fail(cfg, "redis_url: bad port in \"%s\"", value);
        hlen = (size_t)(colon - text);
    }
    if (hlen >= 2 && text[0] == '[' && text[hlen - 1] == ']')
        ++text, hlen -= 2;
    if (hlen == 0 || hlen >= host_cap)
        return fail(cfg, "redis_url: bad host in \"%s\"", value);
    memcpy(host, text, hlen);
    host[hlen] = '\0';
    *port = (uint16_t)p;
    return 0;
}

/* redis+cluster://IP:PORT,IP:PORT,...: the seed nodes a gateway asks for the slot map. */
static int set_redis_cluster(ig_config_t *cfg, const char *value)
{
    const char *p = value + 16;
    for (;;) {
        size_t len = strcspn(p, ",/");
        if (cfg->redis_num_seeds == IG_CONFIG_MAX_REDIS_SEEDS)
            return fail(cfg, "redis_url: more than %d cluster seed nodes", IG_CONFIG_MAX_REDIS_SEEDS);
        unsigned i = cfg->redis_num_seeds++;
        if (parse_redis_node(cfg, cfg->redis_seeds[i].host, sizeof(cfg->redis_seeds[i].host), &cfg->redis_seeds[i].port, p, len,
                             value) != 0)
            return -1;
        if (p[len] != ',')
            break;
        p += len + 1;
    }
    cfg->redis_cluster = 1;
    strcpy(cfg->redis_host, cfg->redis_seeds[0].host);
    cfg->redis_port = cfg->redis_seeds[0].port;
    return 0;
}

static int set_redis_url(ig_config_t *cfg, const char *value)
{
    if (copy_str(cfg, cfg->redis_url, sizeof(cfg->redis_url), "redis_url", value) != 0)
        return -1;
    cfg->redis_host[0] = cfg->redis_unix[0] = '\0';
    cfg->redis_cluster = 0;
    cfg->redis_num_seeds = 0;
    if (strncmp(value, "unix://", 7) == 0) {
        if (value[7] == '\0')
            return fail(cfg, "redis_url: unix:// needs the path of the socket (unix:///path/to/socket)");
        return copy_str(cfg, cfg->redis_unix, sizeof(cfg->redis_unix), "redis_url", value + 7);
    }
    if (strncmp(value, "redis+cluster://", 16) == 0)
        return set_redis_cluster(cfg, value);
    if (strncmp(value, "redis://", 8) != 0)
        return fail(cfg, "redis_url: expected redis://IP:PORT, unix:///path or redis+cluster://IP:PORT,IP:PORT, got \"%s\"", value);
    const char *hostport = value + 8;
    return parse_redis_node(cfg, cfg->redis_host, sizeof(cfg->redis_host), &cfg->redis_port, hostport, strcspn(hostport, "/"),
                            value);
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

/* Parses the comma-separated scopes of list[0..len) (not NUL-terminated). */
static int parse_scopes(ig_config_t *cfg, unsigned *out, const char *list, size_t len)
{
    static const struct {
        const char *name;
        unsigned bit;
    } names[] = {{"issue", IG_SCOPE_ISSUE}, {"admit", IG_SCOPE_ADMIT}, {"revoke", IG_SCOPE_REVOKE}, {"read", IG_SCOPE_READ},
                 {"users", IG_SCOPE_USERS}, {"gate", IG_SCOPE_GATE},   {"all", IG_SCOPE_ALL}};
    const char *end = list + len;
    *out = 0;
    while (list != end) {
        const char *comma = memchr(list, ',', (size_t)(end - list));
        size_t n = comma != NULL ? (size_t)(comma - list) : (size_t)(end - list);
        size_t i;
        for (i = 0; i != sizeof(names) / sizeof(names[0]); ++i)
            if (strlen(names[i].name) == n && memcmp(names[i].name, list, n) == 0)
                break;
        if (i == sizeof(names) / sizeof(names[0]))
            return fail(cfg, "admin_token: unknown scope \"%.*s\" (issue, admit, revoke, read, users, gate, all)", (int)n, list);
        *out |= names[i].bit;
        list += n + (comma != NULL);
    }
    return 0;
}

/* The next blank-separated field of *s (length returned, start in *field); *s moves past it. */
static size_t next_field(const char **s, const char **field)
{
    const char *p = *s;
    while (isspace((unsigned char)*p))
        ++p;
    *field = p;
    while (*p != '\0' && !isspace((unsigned char)*p))
        ++p;
    *s = p;
    return (size_t)(p - *field);
}

/*
 * "HASH [name] [scope,scope]". Each field is cut from the line on its own
 * and parsed only as what it is: a name over IG_TOKEN_NAME_MAX_BYTES is an
 * error (it once spilled into the scopes), and so is any field after the
 * scopes (a space in the scope list would otherwise drop scopes silently).
 */
static int add_token(ig_config_t *cfg, const char *value)
{
    const char *p = value, *hash, *name, *scopes, *extra;
    size_t hash_len = next_field(&p, &hash), name_len = next_field(&p, &name), scopes_len = next_field(&p, &scopes);
    size_t extra_len = next_field(&p, &extra), bin_len;
    ig_admin_token_t *t;

    if (cfg->num_tokens == IG_CONFIG_MAX_TOKENS)
        return fail(cfg, "admin_token: at most %d tokens", IG_CONFIG_MAX_TOKENS);
    if (hash_len == 0)
        return fail(cfg, "admin_token: expected HASH [name] [scopes]");
    if (extra_len != 0)
        return fail(cfg,
                    "admin_token: unexpected \"%.*s\" after the scopes (expected HASH [name] [scope,scope], no blanks in the list)",
                    (int)(extra_len > 32 ? 32 : extra_len), extra);
    if (name_len > IG_TOKEN_NAME_MAX_BYTES)
        return fail(cfg, "admin_token: the name \"%.*s...\" is %zu bytes, over the limit of %d", 32, name, name_len,
                    IG_TOKEN_NAME_MAX_BYTES);
    t = &cfg->tokens[cfg->num_tokens];
    if (sodium_hex2bin(t->hash, sizeof(t->hash), hash, hash_len, NULL, &bin_len, NULL) != 0 || bin_len != sizeof(t->hash))
        return fail(cfg, "admin_token: the hash must be %zu hex digits (invitegate-gateway --hash-token)", sizeof(t->hash) * 2);
    if (scopes_len == 0)
        t->scopes = IG_SCOPE_ALL;
    else if (parse_scopes(cfg, &t->scopes, scopes, scopes_len) != 0)
        return -1;
    if (name_len == 0)
        name = "admin", name_len = strlen(name);
    memcpy(t->name, name, name_len);
    t->name[name_len] = '\0';
    ++cfg->num_tokens;
    return 0;
}

/* ---- Client addresses behind reverse proxies ----------------------------- */

/* "CIDR, CIDR ..." (commas and/or blanks); replaces the list, empty = none. */
static int set_trusted_proxies(ig_config_t *cfg, const char *value)
{
    const char *p = value, *why;
    cfg->num_trusted_proxies = 0;
    for (;;) {
        p += strspn(p, ", \t");
        size_t len = strcspn(p, ", \t");
        if (len == 0)
            return 0;
        if (cfg->num_trusted_proxies == IG_CONFIG_MAX_PROXIES)
            return fail(cfg, "trusted_proxies: at most %d blocks", IG_CONFIG_MAX_PROXIES);
        if (ig_cidr_parse(&cfg->trusted_proxies[cfg->num_trusted_proxies], &why, p, len) != 0)
            return fail(cfg, "trusted_proxies: \"%.*s\": %s", (int)(len > 64 ? 64 : len), p, why);
        ++cfg->num_trusted_proxies;
        p += len;
    }
}

static int set_proxy_protocol(ig_config_t *cfg, const char *value)
{
    if (strcmp(value, "on") != 0 && strcmp(value, "off") != 0)
        return fail(cfg, "proxy_protocol: expected on or off, got \"%s\"", value);
    cfg->proxy_protocol = value[1] == 'n';
    return 0;
}

/* Keys of the block above; 1 when key is not one of them. */
static int set_client_key(ig_config_t *cfg, const char *key, const char *value)
{
    if (strcmp(key, "trusted_proxies") == 0)
        return set_trusted_proxies(cfg, value);
    if (strcmp(key, "proxy_protocol") == 0)
        return set_proxy_protocol(cfg, value);
    return 1;
}

static int check_client_keys(ig_config_t *cfg)
{
    if (cfg->proxy_protocol && cfg->num_trusted_proxies == 0)
        return fail(cfg, "proxy_protocol: on needs trusted_proxies (the peers allowed to send the PROXY line)");
    return 0;
}

/* -------------------------------------------------------------------------- */

int ig_config_set(ig_config_t *cfg, const char *key, const char *value)
{
    char secret[LINE_MAX_BYTES];
    int ret;

#define UINT_KEY(k, max)                                                                                                           \
    if (strcmp(key, #k) == 0)                                                                                                      \
        return parse_uint(cfg, &cfg->k, key, value, max);
#define DOUBLE_KEY(k, max)                                                                                                         \
    if (strcmp(key, #k) == 0)                                                                                                      \
        return parse_double(cfg, &cfg->k, key, value, max);
#define STR_KEY(k)                                                                                                                 \
    if (strcmp(key, #k) == 0)                                                                                                      \
        return copy_str(cfg, cfg->k, sizeof(cfg->k), key, value);
    UINT_KEY(threads, 256)
    UINT_KEY(redis_timeout_ms, 600000)
    UINT_KEY(buckets, IG_BUCKETS_MAX)
    UINT_KEY(redis_wait_replicas, 16)
    UINT_KEY(default_expires_days, 3650)
    UINT_KEY(rate_limit_per_sec, 1000000)
    UINT_KEY(rate_limit_burst, 1000000)
    UINT_KEY(max_connections, IG_MAX_CONNECTIONS_LIMIT)
    UINT_KEY(max_connections_per_address, IG_MAX_CONNECTIONS_LIMIT)
    UINT_KEY(sync_batch_size, 100000)
    UINT_KEY(sync_block_ms, 60000)
    UINT_KEY(sync_batch_window_ms, 60000)
    UINT_KEY(sync_batch_max_events, 1000000)
    UINT_KEY(waitlist_referral_boost, 1000)
    UINT_KEY(referral_earn_after, 1000000)
    UINT_KEY(referral_earn_codes, 1000)
    UINT_KEY(referral_expire_days, 3650)
    UINT_KEY(points_welcome, 1000000)
    UINT_KEY(points_first_payment, 1000000)
    UINT_KEY(points_recurring, 1000000)
    UINT_KEY(points_recurring_months, 1200)
    UINT_KEY(points_l2, 1000000)
    UINT_KEY(points_l2_months, 1200)
    UINT_KEY(points_expire_days, 36500)
    UINT_KEY(retention_days, 36500)
    UINT_KEY(gate_interval_ms, 3600000)
    UINT_KEY(gate_window_days, 365)
    UINT_KEY(gate_min_redemptions, 100000000)
    UINT_KEY(gate_burst_window_s, 86400)
    UINT_KEY(gate_burst_per_network, 100000000)
    DOUBLE_KEY(gate_weight_engagement, 1000)
    DOUBLE_KEY(gate_weight_churn, 1000)
    DOUBLE_KEY(gate_weight_fraud, 1000)
    DOUBLE_KEY(gate_close_below, 1)
    DOUBLE_KEY(gate_reopen_above, 1)
    DOUBLE_KEY(gate_max_fraud_rate, 1)
    STR_KEY(signup_url)
    STR_KEY(database_url)
    STR_KEY(code_prefix)
    STR_KEY(migrations_dir)
    STR_KEY(sync_consumer)
#undef UINT_KEY
#undef DOUBLE_KEY
#undef STR_KEY
    if (strcmp(key, "sync_clock_offset_s") == 0)
        return parse_int(cfg, &cfg->sync_clock_offset_s, key, value);
    if (strcmp(key, "disposable_domains") == 0)
        return set_domains(cfg, value);
    if (strcmp(key, "disposable_domains_file") == 0)
        return read_domains_file(cfg, value);
    if (strcmp(key, "listen") == 0)
        return set_listen(cfg, value);
    if (strcmp(key, "sync_metrics_listen") == 0)
        return set_sync_metrics_listen(cfg, value);
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
    if ((ret = set_client_key(cfg, key, value)) != 1)
        return ret;
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

/* Reads key = value lines from fp, over cfg; name (a path) is for messages. */
static int load_stream(ig_config_t *cfg, FILE *fp, const char *name)
{
    char line[LINE_MAX_BYTES], where[IG_CONFIG_ERR_BYTES / 2];
    unsigned lineno = 0;
    int got;

    while ((got = read_line(cfg, line, sizeof(line), &lineno, fp, name)) > 0) {
        char *hash = strchr(line, '#'), *s, *eq;
        if (hash != NULL)
            *hash = '\0';
        s = trim(line);
        if (*s == '\0')
            continue;
        if ((eq = strchr(s, '=')) == NULL) {
            got = fail(cfg, "%s:%u: expected key = value", name, lineno);
            break;
        }
        *eq = '\0';
        if ((got = ig_config_set(cfg, trim(s), trim(eq + 1))) != 0) {
            snprintf(where, sizeof(where), "%s:%u", name, lineno);
            prefix_error(cfg, where);
            break;
        }
    }
    sodium_memzero(line, sizeof(line));
    return got;
}

static int load_file(ig_config_t *cfg, const char *path)
{
    FILE *fp = fopen(path, "r");
    if (fp == NULL)
        return fail(cfg, "cannot open %s: %s", path, strerror(errno));
    int ret = load_stream(cfg, fp, path);
    fclose(fp);
    return ret;
}

int ig_config_parse(ig_config_t *cfg, const char *text, size_t len, const char *name)
{
    if (len == 0)
        return 0;
    /* Read-only: fmemopen writes nothing to the buffer in mode "r". */
    FILE *fp = fmemopen((void *)text, len, "r");
    if (fp == NULL)
        return fail(cfg, "%s: cannot read: %s", name, strerror(errno));
    int ret = load_stream(cfg, fp, name);
    fclose(fp);
    return ret;
}

/* Every key that may come from the environment as IG_<KEY>. */
static const char *const env_keys[] = {"listen",
                                       "threads",
                                       "redis_url",
                                       "redis_timeout_ms",
                                       "buckets",
                                       "redis_wait_replicas",
                                       "database_url",
                                       "secret_key",
                                       "secret_key_file",
                                       "code_prefix",
                                       "default_expires_days",
                                       "rate_limit_per_sec",
                                       "rate_limit_burst",
                                       "public_body_bytes",
                                       "admin_body_bytes",
                                       "max_connections",
                                       "max_connections_per_address",
                                       "admin_token",
                                       "admin_token_file",
                                       "migrations_dir",
                                       "sync_batch_size",
                                       "sync_block_ms",
                                       "sync_batch_window_ms",
                                       "sync_batch_max_events",
                                       "sync_consumer",
                                       "sync_clock_offset_s",
                                       "signup_url",
                                       "disposable_domains",
                                       "disposable_domains_file",
                                       "waitlist_referral_boost",
                                       "referral_earn_after",
                                       "referral_earn_codes",
                                       "referral_expire_days",
                                       "points_welcome",
                                       "points_first_payment",
                                       "points_recurring",
                                       "points_recurring_months",
                                       "points_l2",
                                       "points_l2_months",
                                       "points_expire_days",
                                       "retention_days",
                                       "gate_interval_ms",
                                       "gate_window_days",
                                       "gate_min_redemptions",
                                       "gate_weight_engagement",
                                       "gate_weight_churn",
                                       "gate_weight_fraud",
                                       "gate_close_below",
                                       "gate_reopen_above",
                                       "gate_max_fraud_rate",
                                       "gate_burst_window_s",
                                       "gate_burst_per_network",
                                       "trusted_proxies",
                                       "proxy_protocol",
                                       "sync_metrics_listen",
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
    return ig_config_check(cfg);
}

int ig_config_check(ig_config_t *cfg)
{
    if (!ig_buckets_valid(cfg->buckets))
        return fail(cfg, "buckets: must be a power of two from %u to %u (and the same for every process of an install)",
                    IG_BUCKETS_MIN, IG_BUCKETS_MAX);
    if (cfg->rate_limit_per_sec != 0 && cfg->rate_limit_burst == 0)
        return fail(cfg, "rate_limit_burst: must be at least 1 when rate_limit_per_sec is set");
    if (cfg->public_body_bytes == 0 || cfg->admin_body_bytes < cfg->public_body_bytes)
        return fail(cfg, "admin_body_bytes must be at least public_body_bytes, which must be positive");
    if (cfg->max_connections == 0)
        return fail(cfg, "max_connections: must be at least 1");
    if (cfg->gate_reopen_above < cfg->gate_close_below)
        return fail(cfg, "gate_reopen_above must be at least gate_close_below (the hysteresis band)");
    if (cfg->gate_weight_engagement + cfg->gate_weight_churn + cfg->gate_weight_fraud <= 0)
        return fail(cfg, "gate weights: at least one must be positive");
    if (cfg->referral_earn_after == 0)
        return fail(cfg, "referral_earn_after: must be at least 1");
    if (strlen(cfg->code_prefix) > 10)
        return fail(cfg, "code_prefix: at most 10 characters");
    if (check_client_keys(cfg) != 0)
        return -1;
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
