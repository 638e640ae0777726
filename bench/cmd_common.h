/* What the subcommands share: the configuration, the derived keys, the gateway URL, result files. */
#ifndef BENCH_CMD_COMMON_H
#define BENCH_CMD_COMMON_H

#include <jansson.h>
#include "ig_code.h"
#include "ig_config.h"
#include "ig_email.h"
#include "ig_user.h"

/** The subkeys the gateway derives from secret_key (gateway/main.c). */
typedef struct bench_keys_t {
    unsigned char code[IG_CODE_KEY_BYTES];   /**< IG_KDF_CODE_CHECK: code check characters */
    unsigned char email[IG_EMAIL_KEY_BYTES]; /**< IG_KDF_EMAIL_HASH: e-mail hashes in Redis */
    ig_user_keys_t user;                     /**< IG_KDF_USER_ID, IG_KDF_REFERRAL: referral codes */
} bench_keys_t;

/**
 * Loads the configuration file the gateway runs with (IG_* overrides
 * apply, as for the daemons) and derives keys from its secret_key (keys may
 * be NULL). Returns 0 or -1 (printed). The caller wipes cfg with
 * ig_config_wipe and keys with sodium_memzero.
 */
int bench_config_load(ig_config_t *cfg, bench_keys_t *keys, const char *path);

/** Parses http://127.0.0.1:PORT[/]; anything else is refused. Returns 0 or -1 (printed). */
int bench_parse_url(unsigned *port, const char *url);

/** Loads a JSON file. Returns a new reference or NULL (printed). */
json_t *bench_json_load(const char *path);

/** A number at a dotted path ("invariants.catchup_s") of obj; NAN when absent. */
double bench_json_number(const json_t *obj, const char *path);

/** Writes obj to path (indented). Returns 0 or -1 (printed). Does not steal obj. */
int bench_json_write(const json_t *obj, const char *path);

#endif
