#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>
#include "layout.h"
#include "ig_log.h"
#include "db.h"
#include "migrate.h"
#include "runtime.h"

/* The advisory lock every migrate run takes: the bytes of "igmigrat". */
#define SYNC_MIGRATE_LOCK_KEY "7595159596058173812"
/* A migration larger than this is surely not a hand-written schema change. */
#define SYNC_MIGRATION_MAX_BYTES (16u << 20)
#define SYNC_CHECKSUM_HEX_BYTES (crypto_hash_sha256_BYTES * 2 + 1)
#define SYNC_MIGRATION_NAME_BYTES 256

/* The built-in migrations_dir (common/ig_config.c) and where an installation keeps them, from PREFIX/bin. */
#define SYNC_MIGRATIONS_DEFAULT "migrations"
#define SYNC_MIGRATIONS_INSTALLED "/../share/invitegate/migrations"

static const char SQL_CREATE_TABLE[] = "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                       "version INT PRIMARY KEY, "
                                       "name TEXT NOT NULL, "
                                       "checksum TEXT NOT NULL, "
                                       "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())";

typedef struct migration_t {
    int version;                            /**< NNN of the file name */
    char name[SYNC_MIGRATION_NAME_BYTES];   /**< file name, recorded in schema_migrations.name */
    char checksum[SYNC_CHECKSUM_HEX_BYTES]; /**< hex SHA-256 of the file */
    char *sql;                              /**< owned file contents, NUL-terminated */
    int applied;                            /**< already recorded in schema_migrations */
} migration_t;

typedef struct migration_list_t {
    migration_t *items; /**< owned, sorted by version after load */
    size_t count;
} migration_list_t;

static void list_dispose(migration_list_t *list)
{
    for (size_t i = 0; i != list->count; ++i)
        free(list->items[i].sql);
    free(list->items);
    list->items = NULL;
    list->count = 0;
}

/* Version of a NNN_name.sql file name, or -1 for any other name. */
static int parse_name(const char *name)
{
    size_t len = strlen(name), digits = strspn(name, "0123456789");
    long version;

    if (digits == 0 || digits > 9 || name[digits] != '_' || len < digits + 6 || strcmp(name + len - 4, ".sql") != 0 ||
        len >= SYNC_MIGRATION_NAME_BYTES)
        return -1;
    version = strtol(name, NULL, 10);
    return version > INT_MAX ? -1 : (int)version;
}

/* Reads path whole into m->sql and computes its checksum. Returns 0, or -1 with the reason in err. */
static int load_file(migration_t *m, const char *path, char *err, size_t err_len)
{
    unsigned char hash[crypto_hash_sha256_BYTES];
    FILE *fp = fopen(path, "rb");
    size_t len = 0, cap = 8192, n;
    int ret = -1;

    if (fp == NULL) {
        snprintf(err, err_len, "msg=\"cannot open migration\" file=%s reason=\"%s\"", m->name, strerror(errno));
        return -1;
    }
    if ((m->sql = malloc(cap)) == NULL)
        abort();
    while ((n = fread(m->sql + len, 1, cap - len - 1, fp)) != 0) {
        len += n;
        if (len > SYNC_MIGRATION_MAX_BYTES) {
            snprintf(err, err_len, "msg=\"migration too large\" file=%s max_bytes=%u", m->name, SYNC_MIGRATION_MAX_BYTES);
            goto Exit;
        }
        if (cap - len - 1 == 0 && (m->sql = realloc(m->sql, cap *= 2)) == NULL)
            abort();
    }
    if (ferror(fp)) {
        snprintf(err, err_len, "msg=\"cannot read migration\" file=%s reason=\"%s\"", m->name, strerror(errno));
        goto Exit;
    }
    /* The checksum covers every byte, so every byte must reach the server. */
    if (memchr(m->sql, '\0', len) != NULL) {
        snprintf(err, err_len, "msg=\"migration contains a NUL byte\" file=%s", m->name);
        goto Exit;
    }
    m->sql[len] = '\0';
    crypto_hash_sha256(hash, (const unsigned char *)m->sql, len);
    sodium_bin2hex(m->checksum, sizeof(m->checksum), hash, sizeof(hash));
    ret = 0;

Exit:
    fclose(fp);
    return ret;
}

static int compare_version(const void *x, const void *y)
{
    const migration_t *a = x, *b = y;
    return (a->version > b->version) - (a->version < b->version);
}

/*
 * Loads every NNN_name.sql of dir, sorted by version; duplicate versions are
 * an error. Returns 0, or -1 with the reason in err (what list holds then is
 * for list_dispose only).
 */
static int load_dir(migration_list_t *list, const char *dir, char *err, size_t err_len)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    size_t cap = 0;
    int ret = -1;

    if (d == NULL) {
        snprintf(err, err_len, "msg=\"cannot open migrations directory\" dir=%s reason=\"%s\"", dir, strerror(errno));
        return -1;
    }
    while ((de = readdir(d)) != NULL) {
        char path[PATH_MAX];
        struct stat st;
        int version = parse_name(de->d_name);
        if (version < 0)
            continue;
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= sizeof(path) || stat(path, &st) != 0 ||
            !S_ISREG(st.st_mode))
            continue;
        if (list->count == cap &&
            (list->items = realloc(list->items, (cap = cap == 0 ? 16 : cap * 2) * sizeof(*list->items))) == NULL)
            abort();
        migration_t *m = &list->items[list->count++];
        memset(m, 0, sizeof(*m));
        m->version = version;
        strcpy(m->name, de->d_name);
        if (load_file(m, path, err, err_len) != 0)
            goto Exit;
    }
    qsort(list->items, list->count, sizeof(*list->items), compare_version);
    for (size_t i = 1; i < list->count; ++i) {
        if (list->items[i].version == list->items[i - 1].version) {
            snprintf(err, err_len, "msg=\"two migrations share a version\" version=%d file=%s other=%s", list->items[i].version,
                     list->items[i - 1].name, list->items[i].name);
            goto Exit;
        }
    }
    ret = 0;

Exit:
    closedir(d);
    return ret;
}

static migration_t *find_version(migration_list_t *list, int version)
{
    migration_t key = {.version = version};
    return bsearch(&key, list->items, list->count, sizeof(*list->items), compare_version);
}

/* Takes the advisory lock, waiting (and saying so) while another run holds it. */
static int take_lock(PGconn *conn)
{
    char err[SYNC_DB_ERR_BYTES];
    PGresult *res = PQexec(conn, "SELECT pg_try_advisory_lock(" SYNC_MIGRATE_LOCK_KEY ")");
    int got = PQresultStatus(res) == PGRES_TUPLES_OK && strcmp(PQgetvalue(res, 0, 0), "t") == 0;

    PQclear(res);
    if (got)
        return 0;
    ig_info("msg=\"another migrate run holds the lock, waiting\"");
    if (sync_db_exec(conn, "SELECT pg_advisory_lock(" SYNC_MIGRATE_LOCK_KEY ")", "advisory_lock", err, sizeof(err)) != 0) {
        ig_error("msg=\"cannot take the migration lock\" %s", err);
        return -1;
    }
    return 0;
}

/*
 * Marks the migrations already recorded and checks their checksums. A
 * changed file fails the run; a recorded version without a file (a newer
 * schema than this checkout) is only reported.
 */
static int check_recorded(PGconn *conn, migration_list_t *list)
{
    char desc[SYNC_DB_DESC_BYTES];
    PGresult *res = PQexec(conn, "SELECT version, name, checksum FROM schema_migrations ORDER BY version");
    int ret = 0;

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        sync_db_describe(desc, sizeof(desc), conn, res, 0);
        ig_error("msg=\"cannot read schema_migrations\" %s", desc);
        PQclear(res);
        return -1;
    }
    for (int i = 0; i != PQntuples(res); ++i) {
        int version = atoi(PQgetvalue(res, i, 0));
        const char *name = PQgetvalue(res, i, 1), *checksum = PQgetvalue(res, i, 2);
        migration_t *m = find_version(list, version);
        if (m == NULL) {
            ig_warn("msg=\"applied migration has no file here\" version=%d name=%s", version, name);
            continue;
        }
        m->applied = 1;
        if (strcmp(m->checksum, checksum) != 0) {
            ig_error("msg=\"applied migration was changed afterwards; restore the file or write a new migration\" version=%d "
                     "file=%s recorded_checksum=%s file_checksum=%s",
                     version, m->name, checksum, m->checksum);
            ret = -1;
        } else if (strcmp(m->name, name) != 0) {
            ig_warn("msg=\"applied migration was renamed\" version=%d file=%s recorded_name=%s", version, m->name, name);
        }
    }
    PQclear(res);
    return ret;
}

/* Line (1-based) of the 1-based character position pos in sql, for error messages. */
static int line_of(const char *sql, const char *pos)
{
    long at = pos != NULL ? strtol(pos, NULL, 10) : 0;
    int line = 1;
    for (long i = 0; i + 1 < at && sql[i] != '\0'; ++i)
        line += sql[i] == '\n';
    return at > 0 ? line : 0;
}

/* Applies one migration and records it, in one transaction. */
static int apply_one(PGconn *conn, const migration_t *m)
{
    char err[SYNC_DB_ERR_BYTES], version[16];
    const char *params[] = {version, m->name, m->checksum};
    PGresult *res;
    uint64_t start = sync_now_ms();

    if (sync_db_exec(conn, "BEGIN", "begin", err, sizeof(err)) != 0)
        goto Error;
    res = PQexec(conn, m->sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK &&
        PQresultStatus(res) != PGRES_EMPTY_QUERY) {
        int line = line_of(m->sql, PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION));
        char where[32] = "";
        if (line > 0)
            snprintf(where, sizeof(where), " line=%d", line);
        sync_db_describe(err, sizeof(err), conn, res, 0);
        ig_error("msg=\"migration failed, nothing of it was applied\" file=%s%s %s", m->name, where, err);
        PQclear(res);
        PQclear(PQexec(conn, "ROLLBACK"));
        return -1;
    }
    PQclear(res);
    snprintf(version, sizeof(version), "%d", m->version);
    res = PQexecParams(conn, "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)", 3, NULL, params, NULL,
                       NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        char desc[SYNC_DB_DESC_BYTES];
        sync_db_describe(desc, sizeof(desc), conn, res, 0);
        snprintf(err, sizeof(err), "step=record %s", desc);
        PQclear(res);
        goto Error;
    }
    PQclear(res);
    if (sync_db_exec(conn, "COMMIT", "commit", err, sizeof(err)) != 0)
        goto Error;
    printf("applied %s (%llu ms)\n", m->name, (unsigned long long)(sync_now_ms() - start));
    fflush(stdout);
    return 0;

Error:
    ig_error("msg=\"migration failed, nothing of it was applied\" file=%s %s", m->name, err);
    if (PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) != PQTRANS_IDLE)
        PQclear(PQexec(conn, "ROLLBACK"));
    return -1;
}

/*
 * migrations_dir at its built-in default means the migrations installed with
 * this binary when there are some (PREFIX/share/invitegate/migrations beside
 * PREFIX/bin, wherever the installation was moved), else `migrations` in the
 * working directory (a source tree).
 */
void sync_migrate_default_dir(ig_config_t *cfg)
{
    char exe[PATH_MAX], dir[PATH_MAX + sizeof(SYNC_MIGRATIONS_INSTALLED)];
    struct stat st;
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    char *slash;

    if (strcmp(cfg->migrations_dir, SYNC_MIGRATIONS_DEFAULT) != 0 || n <= 0)
        return;
    exe[n] = '\0';
    if ((slash = strrchr(exe, '/')) == NULL)
        return;
    *slash = '\0';
    snprintf(dir, sizeof(dir), "%s%s", exe, SYNC_MIGRATIONS_INSTALLED);
    if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode) && realpath(dir, exe) != NULL && strlen(exe) < sizeof(cfg->migrations_dir))
        strcpy(cfg->migrations_dir, exe);
}

int sync_migrate_run(const ig_config_t *cfg, const char *dir)
{
    migration_list_t list = {0};
    char err[SYNC_DB_ERR_BYTES];
    PGconn *conn = NULL;
    size_t applied = 0;
    int ret = -1;

    if (load_dir(&list, dir, err, sizeof(err)) != 0) {
        ig_error("%s", err);
        goto Exit;
    }
    if ((conn = sync_db_connect(cfg->database_url, err, sizeof(err))) == NULL) {
        ig_error("msg=\"cannot connect to postgresql\" %s", err);
        goto Exit;
    }
    /* Quiet the NOTICEs of IF NOT EXISTS on stderr: the log is ours. */
    PQclear(PQexec(conn, "SET client_min_messages = warning"));
    /* The table is created under the lock: two concurrent CREATE TABLE IF NOT EXISTS can collide. */
    if (take_lock(conn) != 0)
        goto Exit;
    if (sync_db_exec(conn, SQL_CREATE_TABLE, "create_table", err, sizeof(err)) != 0) {
        ig_error("msg=\"cannot create schema_migrations\" %s", err);
        goto Exit;
    }
    if (check_recorded(conn, &list) != 0)
        goto Exit;
    for (size_t i = 0; i != list.count; ++i) {
        if (list.items[i].applied)
            continue;
        if (apply_one(conn, &list.items[i]) != 0)
            goto Exit;
        ++applied;
    }
    /* The install's bucket count, recorded once the table exists (a difference ends the process). */
    if (sync_layout_pg(conn, cfg->buckets, err, sizeof(err)) != 0) {
        ig_error("msg=\"cannot record the bucket count\" %s", err);
        goto Exit;
    }
    if (applied == 0)
        ig_info("msg=\"schema up to date\" dir=%s migrations=%zu", dir, list.count);
    ret = 0;

Exit:
    /* Closing the session releases the advisory lock. */
    if (conn != NULL)
        PQfinish(conn);
    list_dispose(&list);
    return ret;
}

int sync_migrate_pending(PGconn *conn, const char *dir, char *first, size_t first_len, char *err, size_t err_len)
{
    migration_list_t list = {0};
    char desc[SYNC_DB_DESC_BYTES];
    PGresult *res = NULL;
    int pending = -1;

    first[0] = '\0';
    if (load_dir(&list, dir, err, err_len) != 0)
        goto Exit;
    res = PQexec(conn, "SELECT version, checksum FROM schema_migrations");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        if (state == NULL || strcmp(state, "42P01") != 0) { /* 42P01: no schema_migrations yet, nothing applied */
            sync_db_describe(desc, sizeof(desc), conn, res, 0);
            snprintf(err, err_len, "msg=\"cannot read schema_migrations\" %s", desc);
            goto Exit;
        }
    } else {
        for (int i = 0; i != PQntuples(res); ++i) {
            migration_t *m = find_version(&list, atoi(PQgetvalue(res, i, 0)));
            if (m == NULL)
                continue;
            if (strcmp(m->checksum, PQgetvalue(res, i, 1)) != 0) {
                snprintf(err, err_len, "msg=\"applied migration was changed afterwards\" file=%s", m->name);
                goto Exit;
            }
            m->applied = 1;
        }
    }
    pending = 0;
    for (size_t i = 0; i != list.count; ++i) {
        if (list.items[i].applied)
            continue;
        if (pending++ == 0)
            snprintf(first, first_len, "%s", list.items[i].name);
    }

Exit:
    PQclear(res);
    list_dispose(&list);
    return pending;
}
