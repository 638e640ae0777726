/*
 * One configuration for every invitegate binary.
 *
 * The file is a list of `key = value` lines; `#` starts a comment. Every key
 * can be overridden from the environment as IG_<KEY> in upper case (for
 * example IG_REDIS_URL). Secrets may be given inline or read from a file
 * (`secret_key_file`, `admin_token_file`), which is how systemd credentials
 * reach the daemons. The configuration is immutable once threads start.
 */
#ifndef IG_CONFIG_H
#define IG_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include "ig_net.h"

#define IG_CONFIG_MAX_TOKENS 16
#define IG_TOKEN_HASH_BYTES 32
#define IG_SECRET_KEY_BYTES 32
#define IG_CONFIG_ERR_BYTES 256
#define IG_DOMAINS_BYTES 4096
/**
 * Longest admin token name. The name is recorded as invites.created_by,
 * VARCHAR(64) in PostgreSQL; a longer name is a configuration error, never
 * truncated.
 */
#define IG_TOKEN_NAME_MAX_BYTES 64
/** Most blocks in `trusted_proxies`. */
#define IG_CONFIG_MAX_PROXIES 64
/** Most seed nodes in a redis+cluster:// URL. */
#define IG_CONFIG_MAX_REDIS_SEEDS 16
/** Largest max_connections (and per-address limit): Linux's default ceiling on a process's descriptors (fs.nr_open). */
#define IG_MAX_CONNECTIONS_LIMIT 1048576

/** Admin token scopes (bit flags). */
enum {
    IG_SCOPE_ISSUE = 1 << 0,  /**< POST /api/invites/generate */
    IG_SCOPE_ADMIT = 1 << 1,  /**< POST /api/waitlist/admit */
    IG_SCOPE_REVOKE = 1 << 2, /**< POST /api/invites/{code}/revoke */
    IG_SCOPE_READ = 1 << 3,   /**< admin reads (points, reports) */
    IG_SCOPE_USERS = 1 << 4,  /**< lifecycle events, spending points, erasure (the host application) */
    IG_SCOPE_GATE = 1 << 5,   /**< POST /api/quality/evaluate-gate (forcing the gate) */
    IG_SCOPE_ALL = (1 << 6) - 1,
};

/** An admin bearer token as the config holds it: only its BLAKE2b-256 hash. */
typedef struct ig_admin_token_t {
    unsigned char hash[IG_TOKEN_HASH_BYTES]; /**< crypto_generichash(token) */
    char name[IG_TOKEN_NAME_MAX_BYTES + 1];  /**< recorded as created_by */
    unsigned scopes;                         /**< IG_SCOPE_* bits */
} ig_admin_token_t;

typedef struct ig_config_t {
    char listen_host[64]; /**< gateway bind address (IPv4 or IPv6 literal) */
    uint16_t listen_port; /**< gateway port */
    unsigned threads;     /**< gateway event loops; 0 = one per core */
    char redis_url[256];  /**< redis://IP:PORT, unix:///path or redis+cluster://IP:PORT,... */
    char redis_host[64];  /**< parsed from redis_url (a cluster's first seed); empty for unix */
    uint16_t redis_port;  /**< parsed from redis_url */
    int redis_cluster;    /**< redis_url names the seed nodes of a Redis Cluster */
    struct {
        char host[64];                             /**< IP literal */
        uint16_t port;                             /**< TCP port */
    } redis_seeds[IG_CONFIG_MAX_REDIS_SEEDS];      /**< a cluster's seed nodes, redis_seeds[0] = redis_host:redis_port */
    unsigned redis_num_seeds;                      /**< entries of redis_seeds; 0 without a cluster */
    char redis_unix[200];                          /**< parsed from redis_url; empty for TCP */
    unsigned redis_timeout_ms;                     /**< per-call deadline on the request path */
    unsigned buckets;                              /**< hash-tag buckets of the key layout (ig_keys.h); fixed at install */
    unsigned redis_wait_replicas;                  /**< replicas that must have a write before it is answered (WAIT); 0 = none */
    char database_url[512];                        /**< libpq connection string or URI */
    unsigned char secret_key[IG_SECRET_KEY_BYTES]; /**< master key: code check + e-mail hashing */
    int has_secret_key;                            /**< secret_key was configured */
    char code_prefix[16];                          /**< displayed before each code, e.g. "VOBEE-" */
    unsigned default_expires_days;                 /**< invite expiry when a batch gives none */
    unsigned rate_limit_per_sec;                   /**< GCRA rate per client address; 0 = off */
    unsigned rate_limit_burst;                     /**< GCRA burst per client address */
    size_t public_body_bytes;                      /**< body cap on public endpoints (API: 4 KiB) */
    size_t admin_body_bytes;                       /**< body cap on admin endpoints */
    unsigned max_connections;                      /**< open client connections per gateway process, all threads */
    unsigned max_connections_per_address;          /**< per client IPv4 address or IPv6 /64; 0 = no limit */
    ig_admin_token_t tokens[IG_CONFIG_MAX_TOKENS]; /**< accepted admin tokens */
    size_t num_tokens;
    char migrations_dir[512];       /**< where the sync daemon finds migrations */
    unsigned sync_batch_size;       /**< stream entries read per stream per XREAD */
    unsigned sync_block_ms;         /**< XREAD BLOCK when idle */
    unsigned sync_batch_window_ms;  /**< a batch gathers events this long after its first */
    unsigned sync_batch_max_events; /**< and at most this many */
    char sync_consumer[64];         /**< this daemon's name, for logs */
    long long sync_clock_offset_s;  /**< shifts the sync daemon's clock (rehearsals, tests); 0 in production */
    unsigned retention_days;        /**< addresses of invites unredeemable and older than this are anonymised; 0 = off */
    /* Waitlist and referrals */
    char signup_url[256];                      /**< where GET /r/{code} redirects (?ref=CODE is appended) */
    char disposable_domains[IG_DOMAINS_BYTES]; /**< comma-separated domains refused with 422 disposable_email */
    unsigned waitlist_referral_boost;          /**< priority points per confirmed referral */
    unsigned referral_earn_after;              /**< K: confirmed referrals per earned tranche of codes */
    unsigned referral_earn_codes;              /**< N: invite codes per tranche */
    unsigned referral_expire_days;             /**< PENDING referrals expire after this many days */
    /* Points (seed 002 ledger types) */
    unsigned points_welcome;          /**< REFERRAL_WELCOME to the newcomer when they activate */
    unsigned points_first_payment;    /**< REFERRAL_FIRST_PAYMENT to the direct referrer */
    unsigned points_recurring;        /**< REFERRAL_RECURRING to the direct referrer per later monthly payment */
    unsigned points_recurring_months; /**< at most this many REFERRAL_RECURRING per relationship */
    unsigned points_l2;               /**< REFERRAL_L2 to the referrer's referrer per payment */
    unsigned points_l2_months;        /**< at most this many REFERRAL_L2 per relationship */
    unsigned points_expire_days;      /**< earned points not used within this many days expire (EXPIRY rows); 0 = never */
    /* Trust gate */
    unsigned gate_interval_ms;       /**< how often the sync daemon evaluates the gate */
    unsigned gate_window_days;       /**< trailing window of the rates */
    unsigned gate_min_redemptions;   /**< below this many redemptions in the window: no data, gate open */
    double gate_weight_engagement;   /**< weight of engagement_rate in trust_score */
    double gate_weight_churn;        /**< weight of (1 - churn_rate) */
    double gate_weight_fraud;        /**< weight of (1 - fraud_rate) */
    double gate_close_below;         /**< trust_score below this closes the gate */
    double gate_reopen_above;        /**< a closed gate reopens only above this (hysteresis) */
    double gate_max_fraud_rate;      /**< fraud_rate above this closes the gate whatever the score */
    unsigned gate_burst_window_s;    /**< window of the per-network burst signal */
    unsigned gate_burst_per_network; /**< redemptions from one /24 (IPv4) or /48 (IPv6) in that window that raise the signal */
    /* Client addresses behind reverse proxies (gateway/client.h) */
    ig_cidr_t trusted_proxies[IG_CONFIG_MAX_PROXIES]; /**< peers whose X-Forwarded-For and PROXY line are believed */
    size_t num_trusted_proxies;                       /**< 0: every client is its TCP peer */
    int proxy_protocol;                               /**< trusted peers may open a connection with a PROXY v1 line */
    /* Sync daemon metrics (Prometheus text over HTTP) */
    char sync_metrics_listen[80];     /**< "IP:PORT" as configured; empty = no metrics server */
    char sync_metrics_host[64];       /**< parsed: IPv4 or IPv6 literal */
    uint16_t sync_metrics_port;       /**< parsed */
    char errstr[IG_CONFIG_ERR_BYTES]; /**< last error, for the caller to print */
} ig_config_t;

/** Whether the domain of a normalised e-mail is in cfg->disposable_domains. */
int ig_config_is_disposable(const ig_config_t *cfg, const char *email);

/** Fills cfg with the documented defaults. */
void ig_config_defaults(ig_config_t *cfg);

/**
 * Loads defaults, then the file at path (NULL = none), then IG_* environment
 * overrides, then validates. Returns 0, or -1 with cfg->errstr set.
 */
__attribute__((warn_unused_result)) int ig_config_load(ig_config_t *cfg, const char *path);

/**
 * Reads `key = value` lines from text[0..len) over the values cfg holds, as
 * ig_config_load reads a file; name (the file's path, say) starts the error
 * messages. Takes neither the environment nor the checks across keys
 * (ig_config_check). Returns 0, or -1 with cfg->errstr set.
 */
__attribute__((warn_unused_result)) int ig_config_parse(ig_config_t *cfg, const char *text, size_t len, const char *name);

/** The checks across keys that ig_config_load makes last. Returns 0, or -1 with cfg->errstr set. */
__attribute__((warn_unused_result)) int ig_config_check(ig_config_t *cfg);

/** Sets one key from its text form. Returns 0, or -1 with cfg->errstr set. */
__attribute__((warn_unused_result)) int ig_config_set(ig_config_t *cfg, const char *key, const char *value);

/** Wipes the secrets held by cfg. */
void ig_config_wipe(ig_config_t *cfg);

/**
 * Finds the admin token whose hash matches token (constant-time compare over
 * every configured token). Returns the entry or NULL.
 */
const ig_admin_token_t *ig_config_find_token(const ig_config_t *cfg, const char *token, size_t token_len);

/** Writes the hex hash of token (what `admin_token =` takes) to out. */
void ig_token_hash_hex(char out[IG_TOKEN_HASH_BYTES * 2 + 1], const char *token, size_t token_len);

#endif
