/* Configuration, keys, URL and JSON helpers of the subcommands (cmd_common.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "bench.h"
#include "cmd_common.h"
#include "ig_keys.h"

int bench_config_load(ig_config_t *cfg, bench_keys_t *keys, const char *path)
{
    if (path == NULL) {
        bench_error("-c FILE is required: the configuration file the gateway runs with");
        return -1;
    }
    if (ig_config_load(cfg, path) != 0) {
        bench_error("%s: %s", path, cfg->errstr);
        return -1;
    }
    if (keys == NULL)
        return 0;
    if (!cfg->has_secret_key) {
        bench_error("%s: no secret_key (the harness derives the gateway's code and e-mail keys from it)", path);
        ig_config_wipe(cfg);
        return -1;
    }
    ig_code_key_derive(keys->code, cfg->secret_key);
    crypto_kdf_derive_from_key(keys->email, sizeof(keys->email), IG_KDF_EMAIL_HASH, IG_KDF_CONTEXT, cfg->secret_key);
    ig_user_keys_derive(&keys->user, cfg->secret_key);
    return 0;
}

int bench_parse_url(unsigned *port, const char *url)
{
    static const char prefix[] = "http://127.0.0.1:";
    char *end;
    unsigned long p;

    if (url == NULL || strncmp(url, prefix, sizeof(prefix) - 1) != 0) {
        bench_error("--url %s: the load generator only connects to http://127.0.0.1:PORT", url != NULL ? url : "(none)");
        return -1;
    }
    p = strtoul(url + sizeof(prefix) - 1, &end, 10);
    if (end == url + sizeof(prefix) - 1 || p == 0 || p > 65535 || !(*end == '\0' || strcmp(end, "/") == 0)) {
        bench_error("--url %s: expected http://127.0.0.1:PORT", url);
        return -1;
    }
    *port = (unsigned)p;
    return 0;
}

json_t *bench_json_load(const char *path)
{
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    if (root == NULL)
        bench_error("%s:%d: %s", path, err.line, err.text);
    return root;
}

double bench_json_number(const json_t *obj, const char *path)
{
    char key[64];
    const char *dot;

    while ((dot = strchr(path, '.')) != NULL) {
        size_t n = (size_t)(dot - path);
        if (n >= sizeof(key))
            return NAN;
        memcpy(key, path, n);
        key[n] = '\0';
        if ((obj = json_object_get(obj, key)) == NULL)
            return NAN;
        path = dot + 1;
    }
    obj = json_object_get(obj, path);
    return obj != NULL && json_is_number(obj) ? json_number_value(obj) : NAN;
}

int bench_json_write(const json_t *obj, const char *path)
{
    if (json_dump_file(obj, path, JSON_INDENT(1) | JSON_REAL_PRECISION(8)) != 0) {
        bench_error("cannot write %s", path);
        return -1;
    }
    return 0;
}
