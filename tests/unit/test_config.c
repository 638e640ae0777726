/* Configuration: file parsing, environment overrides, tokens, errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <sodium.h>
#include "ig_config.h"
#include "ig_user.h"

#define KEY_HEX "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

static char path[64];

static void write_file(const char *text)
{
    strcpy(path, "/tmp/ig-config-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static int teardown(void **state)
{
    if (path[0] != '\0')
        unlink(path);
    path[0] = '\0';
    unsetenv("IG_LISTEN");
    unsetenv("IG_REDIS_URL");
    unsetenv("IG_THREADS");
    unsetenv("IG_MAX_CONNECTIONS_PER_ADDRESS");
    unsetenv("IG_SYNC_METRICS_LISTEN");
    return 0;
}

/* sync_metrics_listen: loopback by default, IPv4 or [IPv6]:PORT, off when empty or "off", errors name the key. */
static void sync_metrics_listen_key(void **state)
{
    ig_config_t cfg;

    assert_int_equal(ig_config_load(&cfg, NULL), 0);
    assert_string_equal(cfg.sync_metrics_listen, "127.0.0.1:9465");
    assert_string_equal(cfg.sync_metrics_host, "127.0.0.1");
    assert_int_equal(cfg.sync_metrics_port, 9465);

    write_file("sync_metrics_listen = [::1]:9100\n");
    assert_int_equal(ig_config_load(&cfg, path), 0);
    assert_string_equal(cfg.sync_metrics_host, "::1");
    assert_int_equal(cfg.sync_metrics_port, 9100);
    unlink(path);

    write_file("sync_metrics_listen =\n");
    assert_int_equal(ig_config_load(&cfg, path), 0);
    assert_string_equal(cfg.sync_metrics_listen, "");
    assert_int_equal(cfg.sync_metrics_port, 0);
    unlink(path);

    setenv("IG_SYNC_METRICS_LISTEN", "off", 1);
    assert_int_equal(ig_config_load(&cfg, NULL), 0);
    assert_string_equal(cfg.sync_metrics_listen, "");
    setenv("IG_SYNC_METRICS_LISTEN", "127.0.0.1:99999", 1);
    assert_int_equal(ig_config_load(&cfg, NULL), -1);
    assert_non_null(strstr(cfg.errstr, "sync_metrics_listen"));
    setenv("IG_SYNC_METRICS_LISTEN", "9465", 1);
    assert_int_equal(ig_config_load(&cfg, NULL), -1);
    assert_non_null(strstr(cfg.errstr, "expected HOST:PORT"));
    unsetenv("IG_SYNC_METRICS_LISTEN");
}

static void defaults_without_a_file(void **state)
{
    ig_config_t cfg;
    assert_int_equal(ig_config_load(&cfg, NULL), 0);
    assert_string_equal(cfg.listen_host, "127.0.0.1");
    assert_int_equal(cfg.listen_port, 8080);
    assert_string_equal(cfg.code_prefix, "VOBEE-");
    assert_int_equal(cfg.public_body_bytes, 4096);
    assert_int_equal(cfg.default_expires_days, 30);
    assert_false(cfg.has_secret_key);
    assert_int_equal(cfg.num_tokens, 0);
}

static void file_values_and_comments(void **state)
{
    char hash[IG_TOKEN_HASH_BYTES * 2 + 1], text[1024];
    ig_config_t cfg;
    ig_token_hash_hex(hash, "s3cret", 6);
    snprintf(text, sizeof(text),
             "# a comment\n"
             "listen = 0.0.0.0:9090   # trailing comment\n"
             "\n"
             "threads=4\n"
             "redis_url = redis://10.0.0.5:6390\n"
             "secret_key = " KEY_HEX "\n"
             "admin_token = %s ops issue,revoke\n"
             "code_prefix = ACME-\n",
             hash);
    write_file(text);
    assert_int_equal(ig_config_load(&cfg, path), 0);
    assert_string_equal(cfg.listen_host, "0.0.0.0");
    assert_int_equal(cfg.listen_port, 9090);
    assert_int_equal(cfg.threads, 4);
    assert_string_equal(cfg.redis_host, "10.0.0.5");
    assert_int_equal(cfg.redis_port, 6390);
    assert_true(cfg.has_secret_key);
    assert_int_equal(cfg.secret_key[31], 0x1f);
    assert_string_equal(cfg.code_prefix, "ACME-");
    assert_int_equal(cfg.num_tokens, 1);
    assert_string_equal(cfg.tokens[0].name, "ops");
    assert_int_equal(cfg.tokens[0].scopes, IG_SCOPE_ISSUE | IG_SCOPE_REVOKE);
}

static void environment_overrides_the_file(void **state)
{
    ig_config_t cfg;
    write_file("listen = 127.0.0.1:1000\nthreads = 2\n");
    setenv("IG_LISTEN", "[::1]:2000", 1);
    setenv("IG_REDIS_URL", "unix:///run/redis.sock", 1);
    assert_int_equal(ig_config_load(&cfg, path), 0);
    assert_string_equal(cfg.listen_host, "::1");
    assert_int_equal(cfg.listen_port, 2000);
    assert_string_equal(cfg.redis_unix, "/run/redis.sock");
    assert_string_equal(cfg.redis_host, "");
    assert_int_equal(cfg.threads, 2);
}

static void connection_limits(void **state)
{
    ig_config_t cfg;
    assert_int_equal(ig_config_load(&cfg, NULL), 0);
    assert_int_equal(cfg.max_connections, 10000);
    assert_int_equal(cfg.max_connections_per_address, 256);

    write_file("max_connections = 50000\nmax_connections_per_address = 64\n");
    setenv("IG_MAX_CONNECTIONS_PER_ADDRESS", "0", 1); /* behind a proxy: off */
    assert_int_equal(ig_config_load(&cfg, path), 0);
    assert_int_equal(cfg.max_connections, 50000);
    assert_int_equal(cfg.max_connections_per_address, 0);
    unlink(path);

    write_file("max_connections = 0\n");
    assert_int_equal(ig_config_load(&cfg, path), -1);
    assert_non_null(strstr(cfg.errstr, "max_connections: must be at least 1"));
    unlink(path);

    ig_config_defaults(&cfg);
    assert_int_equal(ig_config_set(&cfg, "max_connections", "1048576"), 0);
    assert_int_equal(ig_config_set(&cfg, "max_connections", "1048577"), -1);
    assert_non_null(strstr(cfg.errstr, "max_connections"));
    assert_int_equal(ig_config_set(&cfg, "max_connections_per_address", "-1"), -1);
    assert_int_equal(ig_config_set(&cfg, "max_connections_per_address", "many"), -1);
}

static void tokens_match_by_hash_only(void **state)
{
    char hash[IG_TOKEN_HASH_BYTES * 2 + 1];
    ig_config_t cfg;
    ig_config_defaults(&cfg);
    ig_token_hash_hex(hash, "alpha", 5);
    assert_int_equal(ig_config_set(&cfg, "admin_token", hash), 0);
    ig_token_hash_hex(hash, "beta", 4);
    char line[128];
    snprintf(line, sizeof(line), "%s reader read", hash);
    assert_int_equal(ig_config_set(&cfg, "admin_token", line), 0);
    const ig_admin_token_t *t = ig_config_find_token(&cfg, "alpha", 5);
    assert_non_null(t);
    assert_string_equal(t->name, "admin");
    assert_int_equal(t->scopes, IG_SCOPE_ALL);
    t = ig_config_find_token(&cfg, "beta", 4);
    assert_non_null(t);
    assert_int_equal(t->scopes, IG_SCOPE_READ);
    assert_null(ig_config_find_token(&cfg, "alph", 4));
    assert_null(ig_config_find_token(&cfg, "", 0));
    /* The hash is BLAKE2b-256, as documented for operators. */
    ig_token_hash_hex(hash, "secrettoken", 11);
    assert_string_equal(hash, "77b7da05f72b637cdc366a1040d72fb98fad1bc7f2ab31811c0ce6ee2b807680");
}

/* Sets admin_token from a line built of hash, then the rest; returns what ig_config_set returned. */
static int set_token_line(ig_config_t *cfg, const char *before, const char *after)
{
    char hash[IG_TOKEN_HASH_BYTES * 2 + 1], line[512];
    ig_token_hash_hex(hash, "tok", 3);
    snprintf(line, sizeof(line), "%s%s%s", before, hash, after);
    return ig_config_set(cfg, "admin_token", line);
}

/* A name of n characters: "nnn...". */
static const char *name_of(size_t n)
{
    static char name[256];
    assert_true(n < sizeof(name));
    memset(name, 'n', n);
    name[n] = '\0';
    return name;
}

static void token_names_up_to_the_limit(void **state)
{
    char after[300]; /* room for the longest name_of() and its fields */
    ig_config_t cfg;

    /* At the limit: kept whole, scopes from their own field. */
    ig_config_defaults(&cfg);
    snprintf(after, sizeof(after), " %s read", name_of(IG_TOKEN_NAME_MAX_BYTES));
    assert_int_equal(set_token_line(&cfg, "", after), 0);
    assert_int_equal(cfg.num_tokens, 1);
    assert_string_equal(cfg.tokens[0].name, name_of(IG_TOKEN_NAME_MAX_BYTES));
    assert_int_equal(cfg.tokens[0].scopes, IG_SCOPE_READ);
    /* The name is recorded as invites.created_by, VARCHAR(64). */
    assert_true(IG_TOKEN_NAME_MAX_BYTES <= 64);
    assert_true(sizeof(cfg.tokens[0].name) == IG_TOKEN_NAME_MAX_BYTES + 1);

    /* One over: refused, with the limit in the message; no token added. */
    snprintf(after, sizeof(after), " %s read", name_of(IG_TOKEN_NAME_MAX_BYTES + 1));
    assert_int_equal(set_token_line(&cfg, "", after), -1);
    assert_int_equal(cfg.num_tokens, 1);
    assert_non_null(strstr(cfg.errstr, "admin_token"));
    assert_non_null(strstr(cfg.errstr, "64"));

    /* Far over, without scopes: still refused, never truncated. */
    snprintf(after, sizeof(after), " %s", name_of(200));
    assert_int_equal(set_token_line(&cfg, "", after), -1);
    assert_int_equal(cfg.num_tokens, 1);
}

static void a_long_name_never_becomes_scopes(void **state)
{
    char hash[IG_TOKEN_HASH_BYTES * 2 + 1], text[512];
    ig_config_t cfg;

    /* 34 characters: over the old 31-byte buffer, within the limit. It once
     * became a token named "reporting-dashboard-marketing-t" with scope all. */
    ig_config_defaults(&cfg);
    assert_int_equal(set_token_line(&cfg, "", " reporting-dashboard-marketing-tall read"), 0);
    assert_string_equal(cfg.tokens[0].name, "reporting-dashboard-marketing-tall");
    assert_int_equal(cfg.tokens[0].scopes, IG_SCOPE_READ);

    /* Over the limit, with a tail that spells a scope: an error naming the line. */
    ig_token_hash_hex(hash, "tok", 3);
    snprintf(text, sizeof(text), "threads = 2\nadmin_token = %s %sall read\n", hash, name_of(IG_TOKEN_NAME_MAX_BYTES));
    write_file(text);
    assert_int_equal(ig_config_load(&cfg, path), -1);
    assert_non_null(strstr(cfg.errstr, ":2: admin_token"));
    assert_non_null(strstr(cfg.errstr, "64"));
    assert_int_equal(cfg.num_tokens, 0);
}

static void token_fields_and_whitespace(void **state)
{
    ig_config_t cfg;
    ig_config_defaults(&cfg);

    /* Name then scopes; defaults when absent. */
    assert_int_equal(set_token_line(&cfg, "", " app users,read"), 0);
    assert_string_equal(cfg.tokens[0].name, "app");
    assert_int_equal(cfg.tokens[0].scopes, IG_SCOPE_USERS | IG_SCOPE_READ);
    assert_int_equal(set_token_line(&cfg, "", " ops"), 0);
    assert_string_equal(cfg.tokens[1].name, "ops");
    assert_int_equal(cfg.tokens[1].scopes, IG_SCOPE_ALL);
    assert_int_equal(set_token_line(&cfg, "", ""), 0);
    assert_string_equal(cfg.tokens[2].name, "admin");
    assert_int_equal(cfg.tokens[2].scopes, IG_SCOPE_ALL);

    /* Tabs and runs of blanks separate fields like one space. */
    assert_int_equal(set_token_line(&cfg, " \t", "\t\tdash  \t read,gate \t"), 0);
    assert_string_equal(cfg.tokens[3].name, "dash");
    assert_int_equal(cfg.tokens[3].scopes, IG_SCOPE_READ | IG_SCOPE_GATE);
    assert_int_equal(cfg.num_tokens, 4);

    /* Scopes are one field: a fourth field is an error, not silently dropped. */
    assert_int_equal(set_token_line(&cfg, "", " ops issue, revoke"), -1);
    assert_non_null(strstr(cfg.errstr, "revoke"));
    assert_int_equal(set_token_line(&cfg, "", " ops issue extra"), -1);
    /* Unknown scopes are refused as before. */
    assert_int_equal(set_token_line(&cfg, "", " ops issue,sudo"), -1);
    assert_non_null(strstr(cfg.errstr, "sudo"));
    /* A hash of the wrong length does not spill into the name either. */
    assert_int_equal(ig_config_set(&cfg, "admin_token", KEY_HEX KEY_HEX " ops read"), -1);
    assert_int_equal(cfg.num_tokens, 4);

    /* The same through a file, with the blanks the file allows. */
    char hash[IG_TOKEN_HASH_BYTES * 2 + 1], text[512];
    ig_token_hash_hex(hash, "tok", 3);
    snprintf(text, sizeof(text), "admin_token=%s\tpipeline-exporter-for-the-nightly-report issue,read   # comment\n", hash);
    write_file(text);
    assert_int_equal(ig_config_load(&cfg, path), 0);
    assert_int_equal(cfg.num_tokens, 1);
    assert_string_equal(cfg.tokens[0].name, "pipeline-exporter-for-the-nightly-report");
    assert_int_equal(cfg.tokens[0].scopes, IG_SCOPE_ISSUE | IG_SCOPE_READ);
}

static void secret_files_are_read(void **state)
{
    ig_config_t cfg;
    ig_config_defaults(&cfg);
    write_file(KEY_HEX "\n");
    assert_int_equal(ig_config_set(&cfg, "secret_key_file", path), 0);
    assert_true(cfg.has_secret_key);
    assert_int_equal(cfg.secret_key[1], 1);
    ig_config_wipe(&cfg);
    assert_int_equal(cfg.secret_key[1], 0);
}

static void errors_name_the_key_and_line(void **state)
{
    ig_config_t cfg;
    write_file("threads = 2\nthreads = many\n");
    assert_int_equal(ig_config_load(&cfg, path), -1);
    assert_non_null(strstr(cfg.errstr, ":2: threads"));
    unlink(path);

    write_file("no_such_key = 1\n");
    assert_int_equal(ig_config_load(&cfg, path), -1);
    assert_non_null(strstr(cfg.errstr, "no_such_key"));
    unlink(path);

    write_file("just words\n");
    assert_int_equal(ig_config_load(&cfg, path), -1);
    assert_non_null(strstr(cfg.errstr, "key = value"));

    ig_config_defaults(&cfg);
    assert_int_equal(ig_config_set(&cfg, "secret_key", "abcd"), -1);
    assert_int_equal(ig_config_set(&cfg, "admin_token", "zz"), -1);
    assert_int_equal(ig_config_set(&cfg, "admin_token", KEY_HEX " x nosuchscope"), -1);
    assert_non_null(strstr(cfg.errstr, "nosuchscope"));
    assert_int_equal(ig_config_set(&cfg, "redis_url", "redis://host:notaport"), -1);
    assert_int_equal(ig_config_set(&cfg, "redis_url", "http://x"), -1);
    assert_int_equal(ig_config_set(&cfg, "listen", "8080"), -1);
    assert_int_equal(ig_config_set(&cfg, "threads", "-1"), -1);
    assert_int_equal(ig_config_set(&cfg, "secret_key_file", "/nonexistent/key"), -1);
    assert_int_equal(ig_config_load(&cfg, "/nonexistent/invitegate.conf"), -1);
}

/* The text of a file, from a buffer: what ig_config_load reads, without the environment. */
static void parse_from_a_buffer(void **state)
{
    static const char text[] = "listen = [::1]:9191\nthreads = 3 # comment\r\nredis_url = unix:///run/redis.sock";
    ig_config_t cfg;
    ig_config_defaults(&cfg);
    setenv("IG_THREADS", "7", 1);
    assert_int_equal(ig_config_parse(&cfg, text, sizeof(text) - 1, "buf.conf"), 0);
    assert_int_equal(ig_config_check(&cfg), 0);
    assert_string_equal(cfg.listen_host, "::1");
    assert_int_equal(cfg.listen_port, 9191);
    assert_int_equal(cfg.threads, 3);
    assert_string_equal(cfg.redis_unix, "/run/redis.sock");
    assert_string_equal(cfg.redis_host, "");
    assert_int_equal(ig_config_parse(&cfg, "", 0, "empty.conf"), 0);
    assert_int_equal(ig_config_parse(&cfg, "threads = x\n", 12, "bad.conf"), -1);
    assert_non_null(strstr(cfg.errstr, "bad.conf:1: threads"));
    cfg.public_body_bytes = 0;
    assert_int_equal(ig_config_check(&cfg), -1);
}

/*
 * A line is read whole or refused: the tail of a long line was once read as
 * a line of its own, so that a long comment could end in a setting.
 */
static void lines_are_read_whole(void **state)
{
    char text[16384], domains[4000];
    ig_config_t cfg;
    size_t n;

    n = (size_t)snprintf(text, sizeof(text), "# %01021d", 0);
    snprintf(text + n, sizeof(text) - n, "listen = 10.9.9.9:1\n");
    write_file(text);
    assert_int_equal(ig_config_load(&cfg, path), 0);
    assert_string_equal(cfg.listen_host, "127.0.0.1");
    assert_int_equal(cfg.listen_port, 8080);

    /* disposable_domains fits on one line at the length it may have. */
    n = 0;
    for (int i = 0; n + 16 < sizeof(domains); ++i)
        n += (size_t)snprintf(domains + n, sizeof(domains) - n, "%sd%05d.example", i ? "," : "", i);
    snprintf(text, sizeof(text), "disposable_domains = %s\n", domains);
    ig_config_defaults(&cfg);
    assert_int_equal(ig_config_parse(&cfg, text, strlen(text), "domains.conf"), 0);
    assert_string_equal(cfg.disposable_domains, domains);

    memset(text, 'x', sizeof(text));
    memcpy(text, "database_url = ", 15);
    ig_config_defaults(&cfg);
    assert_int_equal(ig_config_parse(&cfg, text, sizeof(text), "long.conf"), -1);
    assert_non_null(strstr(cfg.errstr, "long.conf:1: line longer than"));

    /* Nothing after a NUL byte would be seen: the line is refused. */
    static const char nul[] = "threads = 2\nredis_url = unix://\0/run/redis.sock\n";
    ig_config_defaults(&cfg);
    assert_int_equal(ig_config_parse(&cfg, nul, sizeof(nul) - 1, "nul.conf"), -1);
    assert_non_null(strstr(cfg.errstr, "nul.conf:2: NUL byte"));
    assert_int_equal(ig_config_set(&cfg, "redis_url", "unix://"), -1);
    assert_non_null(strstr(cfg.errstr, "socket"));
}

/* buckets: 16 unless chosen, a power of two from 16 to 256, checked with the rest of the configuration. */
static void bucket_count(void **state)
{
    ig_config_t cfg;
    ig_config_defaults(&cfg);
    assert_int_equal(cfg.buckets, 16);
    assert_int_equal(ig_config_check(&cfg), 0);
    static const char *const good[] = {"16", "32", "64", "256"};
    for (size_t i = 0; i != sizeof(good) / sizeof(good[0]); ++i) {
        assert_int_equal(ig_config_set(&cfg, "buckets", good[i]), 0);
        assert_int_equal(cfg.buckets, (unsigned)atoi(good[i]));
        assert_int_equal(ig_config_check(&cfg), 0);
    }
    static const char *const not_powers[] = {"0", "1", "8", "48", "255"};
    for (size_t i = 0; i != sizeof(not_powers) / sizeof(not_powers[0]); ++i) {
        assert_int_equal(ig_config_set(&cfg, "buckets", not_powers[i]), 0);
        assert_int_equal(ig_config_check(&cfg), -1);
        assert_non_null(strstr(cfg.errstr, "buckets: must be a power of two from 16 to 256"));
    }
    assert_int_equal(ig_config_set(&cfg, "buckets", "512"), -1); /* past the most */
    assert_int_equal(ig_config_set(&cfg, "buckets", "many"), -1);
}

/* redis_wait_replicas: 0 (answer on the master's write) unless set, at most 16. */
static void wait_replicas(void **state)
{
    ig_config_t cfg;
    ig_config_defaults(&cfg);
    assert_int_equal(cfg.redis_wait_replicas, 0);
    assert_int_equal(ig_config_set(&cfg, "redis_wait_replicas", "2"), 0);
    assert_int_equal(cfg.redis_wait_replicas, 2);
    assert_int_equal(ig_config_set(&cfg, "redis_wait_replicas", "17"), -1);
}

/* redis+cluster:// names seed nodes; a plain URL after it is a single node again. */
static void redis_cluster_seeds(void **state)
{
    ig_config_t cfg;
    ig_config_defaults(&cfg);
    assert_false(cfg.redis_cluster);
    assert_int_equal(cfg.redis_num_seeds, 0);
    assert_int_equal(ig_config_set(&cfg, "redis_url", "redis+cluster://127.0.0.1:7000,10.0.0.2:7001,10.0.0.3,[::1]:7003"), 0);
    assert_true(cfg.redis_cluster);
    assert_int_equal(cfg.redis_num_seeds, 4);
    assert_string_equal(cfg.redis_seeds[3].host, "::1");
    assert_int_equal(cfg.redis_seeds[3].port, 7003);
    assert_string_equal(cfg.redis_seeds[0].host, "127.0.0.1");
    assert_int_equal(cfg.redis_seeds[0].port, 7000);
    assert_string_equal(cfg.redis_seeds[1].host, "10.0.0.2");
    assert_int_equal(cfg.redis_seeds[1].port, 7001);
    assert_string_equal(cfg.redis_seeds[2].host, "10.0.0.3");
    assert_int_equal(cfg.redis_seeds[2].port, 6379);
    /* The first seed is also redis_host:redis_port, for the tools that speak to one node. */
    assert_string_equal(cfg.redis_host, "127.0.0.1");
    assert_int_equal(cfg.redis_port, 7000);
    assert_string_equal(cfg.redis_unix, "");

    assert_int_equal(ig_config_set(&cfg, "redis_url", "redis://10.0.0.5:6390"), 0);
    assert_false(cfg.redis_cluster);
    assert_int_equal(cfg.redis_num_seeds, 0);
    assert_string_equal(cfg.redis_host, "10.0.0.5");

    static const char *const bad[] = {"redis+cluster://",
                                      "redis+cluster://127.0.0.1:7000,",
                                      "redis+cluster://127.0.0.1:7000,,127.0.0.1:7001",
                                      "redis+cluster://127.0.0.1:x",
                                      "redis+cluster://127.0.0.1:70000",
                                      "redis+cluster://127.0.0.1:0",
                                      "redis://127.0.0.1:0",
                                      "redis+cluster://:7000",
                                      "redis+cluster:/127.0.0.1:7000"};
    for (size_t i = 0; i != sizeof(bad) / sizeof(bad[0]); ++i) {
        ig_config_defaults(&cfg);
        if (ig_config_set(&cfg, "redis_url", bad[i]) != -1)
            fail_msg("\"%s\" was accepted", bad[i]);
        assert_non_null(strstr(cfg.errstr, "redis_url"));
    }
    char many[256] = "redis+cluster://";
    for (int i = 0; i != IG_CONFIG_MAX_REDIS_SEEDS + 1; ++i)
        snprintf(many + strlen(many), sizeof(many) - strlen(many), "%s10.0.0.%d:1", i ? "," : "", i);
    ig_config_defaults(&cfg);
    assert_int_equal(ig_config_set(&cfg, "redis_url", many), -1);
    assert_non_null(strstr(cfg.errstr, "seed nodes"));
}

/* The same for a file of disposable domains: the tail of a long line was once a domain of its own. */
static void domain_lines_are_read_whole(void **state)
{
    char text[600];
    ig_config_t cfg;

    snprintf(text, sizeof(text), "trash.example # one a line\n\n%0300dgmail.com\n", 0);
    write_file(text);
    ig_config_defaults(&cfg);
    assert_int_equal(ig_config_set(&cfg, "disposable_domains_file", path), -1);
    assert_non_null(strstr(cfg.errstr, "disposable_domains_file"));
    assert_non_null(strstr(cfg.errstr, ":3: line longer than 255 bytes"));
    assert_false(ig_config_is_disposable(&cfg, "ann@gmail.com"));
    unlink(path);

    write_file("trash.example # one a line\n\nSpam.example\r\nx.example");
    ig_config_defaults(&cfg);
    assert_int_equal(ig_config_set(&cfg, "disposable_domains_file", path), 0);
    assert_string_equal(cfg.disposable_domains, "trash.example,spam.example,x.example");
}

static void waitlist_and_gate_keys(void **state)
{
    ig_config_t cfg;
    write_file("disposable_domains = Trash.example, spam.example\ngate_close_below = 0.4\ngate_reopen_above = 0.7\n"
               "gate_weight_fraud = 2.5\nsync_clock_offset_s = -86400\nreferral_earn_after = 5\npoints_expire_days = 365\n");
    assert_int_equal(ig_config_load(&cfg, path), 0);
    assert_true(ig_config_is_disposable(&cfg, "a@trash.example"));
    assert_true(ig_config_is_disposable(&cfg, "a@spam.example"));
    assert_false(ig_config_is_disposable(&cfg, "a@mailinator.com")); /* the list replaces the default */
    assert_false(ig_config_is_disposable(&cfg, "a@sub.trash.example"));
    assert_true(cfg.gate_close_below == 0.4 && cfg.gate_reopen_above == 0.7 && cfg.gate_weight_fraud == 2.5);
    assert_true(cfg.sync_clock_offset_s == -86400);
    assert_int_equal(cfg.referral_earn_after, 5);
    assert_int_equal(cfg.points_expire_days, 365);
    unlink(path);

    ig_config_defaults(&cfg);
    assert_int_equal(cfg.points_expire_days, 0); /* points never expire unless configured */
    assert_int_equal(ig_config_set(&cfg, "points_expire_days", "36501"), -1);
    assert_int_equal(cfg.retention_days, 30); /* seed 000: unredeemed invites' addresses go after 30 days */
    assert_int_equal(ig_config_set(&cfg, "retention_days", "0"), 0);
    assert_int_equal(cfg.retention_days, 0);
    assert_int_equal(ig_config_set(&cfg, "retention_days", "36501"), -1);
    assert_true(ig_config_is_disposable(&cfg, "x@mailinator.com"));
    assert_false(ig_config_is_disposable(&cfg, "x@gmail.com"));
    assert_int_equal(ig_config_set(&cfg, "gate_close_below", "1.5"), -1);
    assert_int_equal(ig_config_set(&cfg, "gate_weight_churn", "-1"), -1);
    write_file("gate_close_below = 0.8\ngate_reopen_above = 0.6\n");
    assert_int_equal(ig_config_load(&cfg, path), -1);
    assert_non_null(strstr(cfg.errstr, "hysteresis"));
}

static void user_identities_are_stable_and_keyed(void **state)
{
    unsigned char k1[IG_SECRET_KEY_BYTES] = {1}, k2[IG_SECRET_KEY_BYTES] = {2};
    ig_user_keys_t a, b;
    char id1[IG_USER_ID_BYTES], id2[IG_USER_ID_BYTES], id3[IG_USER_ID_BYTES], c1[9], c2[9], norm[9];
    ig_user_keys_derive(&a, k1);
    ig_user_keys_derive(&b, k2);
    ig_user_id(id1, "ann@example.com", 15, &a);
    ig_user_id(id2, "ann@example.com", 15, &a);
    ig_user_id(id3, "ann@example.com", 15, &b);
    assert_string_equal(id1, id2);
    assert_string_not_equal(id1, id3);
    assert_int_equal(strlen(id1), 36);
    assert_int_equal(id1[14], '8'); /* version 8 */
    ig_referral_code(c1, "ann@example.com", 15, &a);
    ig_referral_code(c2, "bob@example.com", 15, &a);
    assert_int_equal(strlen(c1), IG_REFERRAL_CODE_LEN);
    assert_string_not_equal(c1, c2);
    assert_int_equal(ig_referral_code_normalise(norm, " k7qx9m2a ", 10), 0);
    assert_string_equal(norm, "K7QX9M2A");
    assert_int_equal(ig_referral_code_normalise(norm, "K7QX9M21", 8), -1); /* 1 is not in the alphabet */
    assert_int_equal(ig_referral_code_normalise(norm, "K7QX", 4), -1);
}

static void trusted_proxies_and_proxy_protocol(void **state)
{
    ig_config_t cfg;
    ig_addr_t a;
    assert_int_equal(ig_config_load(&cfg, NULL), 0);
    assert_int_equal(cfg.num_trusted_proxies, 0); /* nobody is trusted by default */
    assert_false(cfg.proxy_protocol);

    write_file("trusted_proxies = 10.0.0.0/8, 192.168.1.7 ::1,2001:db8::/32\nproxy_protocol = on\n");
    assert_int_equal(ig_config_load(&cfg, path), 0);
    assert_int_equal(cfg.num_trusted_proxies, 4);
    assert_true(cfg.proxy_protocol);
    assert_int_equal(ig_addr_parse(&a, "10.200.3.4", 10), 0);
    assert_true(ig_cidr_list_contains(cfg.trusted_proxies, cfg.num_trusted_proxies, &a));
    assert_int_equal(ig_addr_parse(&a, "192.168.1.8", 11), 0);
    assert_false(ig_cidr_list_contains(cfg.trusted_proxies, cfg.num_trusted_proxies, &a));
    assert_int_equal(ig_addr_parse(&a, "2001:db8:ffff::1", 16), 0);
    assert_true(ig_cidr_list_contains(cfg.trusted_proxies, cfg.num_trusted_proxies, &a));
    unlink(path);

    /* Setting the key again replaces the list; empty means none. */
    assert_int_equal(ig_config_set(&cfg, "trusted_proxies", "127.0.0.1/32"), 0);
    assert_int_equal(cfg.num_trusted_proxies, 1);
    assert_int_equal(ig_config_set(&cfg, "trusted_proxies", ""), 0);
    assert_int_equal(cfg.num_trusted_proxies, 0);

    assert_int_equal(ig_config_set(&cfg, "trusted_proxies", "10.0.0.1/8"), -1);
    assert_non_null(strstr(cfg.errstr, "trusted_proxies: \"10.0.0.1/8\""));
    assert_int_equal(ig_config_set(&cfg, "trusted_proxies", "10.0.0.0/33"), -1);
    assert_int_equal(ig_config_set(&cfg, "trusted_proxies", "::/129"), -1);
    assert_int_equal(ig_config_set(&cfg, "trusted_proxies", "10.0.0.0/"), -1);
    assert_int_equal(ig_config_set(&cfg, "trusted_proxies", "proxy.example"), -1);
    assert_int_equal(ig_config_set(&cfg, "proxy_protocol", "yes"), -1);
    assert_non_null(strstr(cfg.errstr, "proxy_protocol"));

    /* The PROXY line is taken from trusted peers only: on without any is an error. */
    write_file("proxy_protocol = on\n");
    assert_int_equal(ig_config_load(&cfg, path), -1);
    assert_non_null(strstr(cfg.errstr, "trusted_proxies"));
    unlink(path);

    setenv("IG_TRUSTED_PROXIES", "172.16.0.0/12", 1);
    assert_int_equal(ig_config_load(&cfg, NULL), 0);
    unsetenv("IG_TRUSTED_PROXIES");
    assert_int_equal(cfg.num_trusted_proxies, 1);
    assert_int_equal(cfg.trusted_proxies[0].prefix, 96 + 12);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(waitlist_and_gate_keys, teardown),
        cmocka_unit_test_teardown(parse_from_a_buffer, teardown),
        cmocka_unit_test_teardown(lines_are_read_whole, teardown),
        cmocka_unit_test_teardown(domain_lines_are_read_whole, teardown),
        cmocka_unit_test(bucket_count),
        cmocka_unit_test(wait_replicas),
        cmocka_unit_test(redis_cluster_seeds),
        cmocka_unit_test(user_identities_are_stable_and_keyed),
        cmocka_unit_test_teardown(defaults_without_a_file, teardown),
        cmocka_unit_test_teardown(sync_metrics_listen_key, teardown),
        cmocka_unit_test_teardown(file_values_and_comments, teardown),
        cmocka_unit_test_teardown(environment_overrides_the_file, teardown),
        cmocka_unit_test_teardown(connection_limits, teardown),
        cmocka_unit_test_teardown(tokens_match_by_hash_only, teardown),
        cmocka_unit_test_teardown(token_names_up_to_the_limit, teardown),
        cmocka_unit_test_teardown(a_long_name_never_becomes_scopes, teardown),
        cmocka_unit_test_teardown(token_fields_and_whitespace, teardown),
        cmocka_unit_test_teardown(secret_files_are_read, teardown),
        cmocka_unit_test_teardown(errors_name_the_key_and_line, teardown),
        cmocka_unit_test_teardown(trusted_proxies_and_proxy_protocol, teardown),
    };
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
