/*
 * `invitegate invites issue|send|import`: one bound code per recipient through
 * the gateway's own POST /api/invites/generate, one rendered message each, then
 * their delivery through $SEND_CMD, each message once; and the import of an
 * earlier system's codes through the Redis library's ig_issue.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>
#include "cohort.h"
#include "http.h"
#include "ig_code.h"
#include "ig_email.h"
#include "ig_calls.h"
#include "ig_keys.h"
#include "message.h"
#include "parse.h"

#define CLI_ISSUE_TIMEOUT_MS 15000
#define CLI_SEND_CMD_DEFAULT "sendmail -t -i"
#define CLI_SEND_MAX_FAILURES 3
#define CLI_SENT_LOG "sent.log"

const char cli_invites_issue_help[] =
    "Issues one code per recipient of FILE.csv, bound to the address, with its cohort, by calling the\n"
    "gateway's POST /api/invites/generate (the API's own atomic path) once per recipient with the batch id\n"
    "ID-<keyed hash of the address>: a rerun with the same --batch gets the same code back for every\n"
    "recipient already issued and creates only what is missing. One failure does not stop the others.\n"
    "\n"
    "The file is checked first as `cohort validate` does (without the distribution thresholds): errors stop\n"
    "everything (exit 1), warnings need --force. Addresses already bound by an earlier run of this batch,\n"
    "and their redemptions of those codes, are not collisions.\n"
    "\n"
    "Writes into DIR (created, mode 0700): one message per recipient, <id>.eml (RFC 5322, MIME\n"
    "multipart/alternative, text and HTML), issued.csv (line,email,cohort,code,expires_at,file) and, when\n"
    "some failed, failed.csv (email,cohort: the input of a rerun). Review them, then `invites send DIR`.\n"
    "\n"
    "options:\n"
    "  --batch ID              batch id prefix (letters, digits, -_.:, at most 51 characters)\n"
    "  --out DIR               where the messages go\n"
    "  --expires-in-days N     validity of the codes (default: default_expires_days)\n"
    "  --template DIR          subject.txt, body.txt, body.html with {{code}} {{link}} {{expires}} {{cohort}}\n"
    "                          (default: the built-in French copy, also installed as share/invitegate/templates/invite)\n"
    "  --link URL              redemption link; {{code}} in it is replaced, else ?invite=CODE is appended\n"
    "                          (default: signup_url)\n"
    "  --from ADDRESS          From: of the messages (default: $INVITEGATE_FROM, else invitegate@localhost)\n"
    "  --gateway URL           http://IP:PORT of a gateway (default: $INVITEGATE_GATEWAY, else listen of the\n"
    "                          configuration, 0.0.0.0 read as 127.0.0.1)\n"
    "  --token-file FILE       an admin token with the issue scope (default: $INVITEGATE_TOKEN)\n"
    "  --force                 issue despite warnings\n"
    "\n"
    "Needs secret_key (the per-recipient ids are keyed with it) and PostgreSQL (collision check).\n"
    "Exit status: 0 every recipient issued, 1 a failure (each printed with its line), 2 refused for warnings.\n";

const char cli_invites_send_help[] =
    "Pipes each DIR/*.eml, in name order, to $SEND_CMD (default: sendmail -t -i) run by /bin/sh, and records\n"
    "each accepted message in DIR/sent.log: a rerun sends only what was not accepted yet. Stops after\n"
    "--max-failures consecutive failures (default 3: something systematic, such as a broken relay).\n"
    "A message handed to $SEND_CMD when the run was killed is uncertain (the mailer may have taken it): a rerun\n"
    "does not send it again but lists it; check the mailer's log, then --resend-uncertain sends those too.\n"
    "--dry-run lists what would be sent. Exit status: 0 all sent, 1 some failed, were uncertain, or the run stopped.\n";

/* The per-recipient id: a hex keyed hash of the normalised address (stable across runs with the same secret_key). */
static void recipient_id(char out[CLI_RECIPIENT_ID_HEX + 1], const cli_ctx_t *ctx, const char *email)
{
    unsigned char h[CLI_RECIPIENT_ID_HEX / 2];
    char hex[CLI_RECIPIENT_ID_HEX + 1];

    crypto_generichash(h, sizeof(h), (const unsigned char *)email, strlen(email), ctx->log_key, sizeof(ctx->log_key));
    sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
    memcpy(out, hex, sizeof(hex));
}

/* The gateway's URL: the flag, $INVITEGATE_GATEWAY, or the configuration's listen. */
static void gateway_url(char *out, size_t out_len, const cli_ctx_t *ctx, const char *flag)
{
    const char *host = ctx->cfg.listen_host;

    if (flag == NULL)
        flag = getenv("INVITEGATE_GATEWAY");
    if (flag != NULL) {
        snprintf(out, out_len, "%s", flag);
        return;
    }
    if (strcmp(host, "0.0.0.0") == 0 || host[0] == '\0')
        host = "127.0.0.1";
    else if (strcmp(host, "::") == 0)
        host = "::1";
    snprintf(out, out_len, strchr(host, ':') != NULL ? "http://[%s]:%u" : "http://%s:%u", host, ctx->cfg.listen_port);
}

static char *read_token(const cli_ctx_t *ctx, const char *path)
{
    char buf[1024];
    FILE *fp;
    size_t n;

    if (path == NULL) {
        const char *env = getenv("INVITEGATE_TOKEN");
        return env != NULL && env[0] != '\0' ? strdup(env) : NULL;
    }
    if ((fp = fopen(path, "r")) == NULL) {
        cli_error(ctx, "%s: %s", path, strerror(errno));
        return NULL;
    }
    n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    while (n != 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        --n;
    buf[n] = '\0';
    char *token = n != 0 ? strdup(buf) : NULL;
    sodium_memzero(buf, sizeof(buf));
    return token;
}

static void link_for(char *out, size_t out_len, const char *base, const char *code)
{
    const char *at = strstr(base, "{{code}}");
    if (at != NULL)
        snprintf(out, out_len, "%.*s%s%s", (int)(at - base), base, code, at + 8);
    else
        snprintf(out, out_len, "%s%cinvite=%s", base, strchr(base, '?') != NULL ? '&' : '?', code);
}

/* Issues the code of one recipient. Returns 0 with code and expires_at filled, or -1 with why. */
static int issue_one(const cli_http_target_t *gw, const char *token, const char *batch_id, const cli_cohort_row_t *r,
                     unsigned expires_days, char *code, size_t code_len, char *expires, size_t expires_len, char *why,
                     size_t why_len)
{
    json_t *req =
        json_pack("{s:i, s:s, s:s, s:[s]}", "batch_size", 1, "batch_id", batch_id, "cohort", r->cohort, "issued_to", r->email);
    char *body, *resp = NULL;
    int status = 0, ret = -1;
    json_t *doc = NULL, *codes;

    if (expires_days != 0)
        json_object_set_new(req, "expires_in_days", json_integer(expires_days));
    body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    if (cli_http_post_json(gw, "/api/invites/generate", token, body, CLI_ISSUE_TIMEOUT_MS, &status, &resp, why, why_len) != 0)
        goto Exit;
    doc = json_loads(resp, 0, NULL);
    if (status != 200 && status != 201) {
        json_t *e = doc != NULL ? json_object_get(doc, "error") : NULL;
        snprintf(why, why_len, "HTTP %d %s", status, json_is_string(e) ? json_string_value(e) : "");
        goto Exit;
    }
    codes = doc != NULL ? json_object_get(doc, "codes") : NULL;
    if (!json_is_array(codes) || json_array_size(codes) != 1 || !json_is_string(json_array_get(codes, 0))) {
        snprintf(why, why_len, "HTTP %d without a code", status);
        goto Exit;
    }
    snprintf(code, code_len, "%s", json_string_value(json_array_get(codes, 0)));
    json_t *e = json_object_get(doc, "expires_at");
    snprintf(expires, expires_len, "%.10s", json_is_string(e) ? json_string_value(e) : "");
    ret = 0;
Exit:
    json_decref(doc);
    free(body);
    free(resp);
    return ret;
}

/*
 * The code PostgreSQL holds for a recipient's batch: a rerun after Redis lost
 * its batch records (restored by invitegate rehydrate, all but the batches)
 * gives the recipient the code they have, not a second one. Returns 1 found
 * (code with the prefix, expires the date), 0 none, -1 after printing why.
 */
static int known_code(const cli_ctx_t *ctx, PGconn *pg, const char *batch_id, char *code, size_t code_len, char *expires,
                      size_t expires_len)
{
    const char *params[] = {batch_id};
    PGresult *res = PQexecParams(pg,
                                 "SELECT code, to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') FROM invites "
                                 "WHERE batch_id = $1 ORDER BY code LIMIT 1",
                                 1, NULL, params, NULL, NULL, 0);
    int ret = -1;

    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        cli_error(ctx, "looking up batch %s: %s", batch_id, PQresultErrorMessage(res));
    else if ((ret = PQntuples(res)) == 1) {
        snprintf(code, code_len, "%s%s", ctx->cfg.code_prefix, PQgetvalue(res, 0, 0));
        snprintf(expires, expires_len, "%s", PQgetvalue(res, 0, 1));
    }
    PQclear(res);
    return ret;
}

int cli_invites_issue(cli_ctx_t *ctx, int argc, char **argv)
{
    static const struct option options[] = {{"batch", required_argument, NULL, 'b'},
                                            {"out", required_argument, NULL, 'o'},
                                            {"expires-in-days", required_argument, NULL, 'e'},
                                            {"template", required_argument, NULL, 't'},
                                            {"force", no_argument, NULL, 'f'},
                                            {"gateway", required_argument, NULL, 'g'},
                                            {"token-file", required_argument, NULL, 'k'},
                                            {"from", required_argument, NULL, 'F'},
                                            {"link", required_argument, NULL, 'l'},
                                            {NULL}};
    const char *batch = NULL, *out = NULL, *template_dir = NULL, *gw_flag = NULL, *token_file = NULL, *from = NULL, *link = NULL;
    unsigned expires_days = 0;
    int opt, force = 0, ret = CLI_EXIT_FAIL;
    char url[256], err[CLI_ERR_BYTES], path[4096];
    cli_http_target_t gw;
    cli_template_t tpl = {0};
    cli_cohort_t c = {0};
    char *token = NULL;
    FILE *issued = NULL, *failed = NULL;
    size_t done = 0, ok = 0, nfail = 0, todo = 0;
    PGconn *pg;

    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
        case 'b':
            batch = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 'e':
            if (cli_parse_uint(&expires_days, optarg, 1, 3650) != 0)
                return cli_usage(ctx);
            break;
        case 't':
            template_dir = optarg;
            break;
        case 'f':
            force = 1;
            break;
        case 'g':
            gw_flag = optarg;
            break;
        case 'k':
            token_file = optarg;
            break;
        case 'F':
            from = optarg;
            break;
        case 'l':
            link = optarg;
            break;
        default:
            return cli_usage(ctx);
        }
    }
    if (optind + 1 != argc || batch == NULL || out == NULL)
        return cli_usage(ctx);
    if (strlen(batch) > GW_BATCH_ID_MAX_BYTES - CLI_RECIPIENT_ID_HEX - 1 || !gw_parse_label_ok(batch, strlen(batch)) ||
        batch[0] == '\0') {
        cli_error(ctx, "--batch must be 1 to %d letters, digits or -_.:", GW_BATCH_ID_MAX_BYTES - CLI_RECIPIENT_ID_HEX - 1);
        return CLI_EXIT_USAGE;
    }
    if (from == NULL && (from = getenv("INVITEGATE_FROM")) == NULL)
        from = "invitegate@localhost";
    if (link == NULL)
        link = ctx->cfg.signup_url;
    gateway_url(url, sizeof(url), ctx, gw_flag);
    if (cli_http_target(&gw, url) != 0) {
        cli_error(ctx, "the gateway URL \"%s\" is not http://IP:PORT", url);
        return CLI_EXIT_USAGE;
    }
    if (!ctx->cfg.has_secret_key) {
        cli_error(ctx, "secret_key (or secret_key_file) is required: the per-recipient batch ids are keyed with it");
        return CLI_EXIT_FAIL;
    }
    if ((token = read_token(ctx, token_file)) == NULL) {
        cli_error(ctx, "an admin token is needed: --token-file FILE or INVITEGATE_TOKEN");
        return CLI_EXIT_USAGE;
    }
    if (cli_template_load(&tpl, template_dir, err, sizeof(err)) != 0) {
        cli_error(ctx, "template: %s", err);
        goto Exit;
    }
    if (cli_cohort_load(&c, ctx, argv[optind]) != 0)
        goto Exit;
    if ((pg = cli_pg(ctx)) == NULL || cli_cohort_check_collisions(&c, ctx, pg, batch) != 0)
        goto Exit;
    if (c.errors != 0 || (c.warnings != 0 && !force)) {
        cli_cohort_print(&c, ctx);
        cli_error(ctx, c.errors != 0 ? "nothing issued: fix the errors first" : "nothing issued: warnings (--force issues anyway)");
        ret = c.errors != 0 ? CLI_EXIT_FAIL : CLI_EXIT_WARN;
        goto Exit;
    }
    if (mkdir(out, 0700) != 0 && errno != EEXIST) {
        cli_error(ctx, "%s: %s", out, strerror(errno));
        goto Exit;
    }
    snprintf(path, sizeof(path), "%s/issued.csv", out);
    if ((issued = fopen(path, "w")) == NULL) {
        cli_error(ctx, "%s: %s", path, strerror(errno));
        goto Exit;
    }
    fchmod(fileno(issued), 0600);
    fprintf(issued, "line,email,cohort,code,expires_at,file\n");
    snprintf(path, sizeof(path), "%s/failed.csv", out);
    unlink(path);
    for (size_t i = 0; i != c.num_rows; ++i)
        todo += c.rows[i].ok;
    json_t *failures = json_array();
    for (size_t i = 0; i != c.num_rows; ++i) {
        const cli_cohort_row_t *r = &c.rows[i];
        char id[CLI_RECIPIENT_ID_HEX + 1], batch_id[GW_BATCH_ID_MAX_BYTES + 1], code[64], expires[32], why[CLI_ERR_BYTES];
        char lnk[1024], msgid[128], file[4096];
        if (!r->ok)
            continue;
        recipient_id(id, ctx, r->email);
        snprintf(batch_id, sizeof(batch_id), "%s-%s", batch, id);
        int known = known_code(ctx, pg, batch_id, code, sizeof(code), expires, sizeof(expires));
        if (known < 0) {
            json_decref(failures);
            goto Exit;
        }
        if (known == 1 ||
            issue_one(&gw, token, batch_id, r, expires_days, code, sizeof(code), expires, sizeof(expires), why, sizeof(why)) == 0) {
            link_for(lnk, sizeof(lnk), link, code);
            snprintf(msgid, sizeof(msgid), "%s@invitegate", batch_id);
            snprintf(file, sizeof(file), "%s/%s.eml", out, id);
            cli_message_vars_t v = {from, r->email, code, lnk, expires, r->cohort, msgid};
            FILE *fp = fopen(file, "w");
            if (fp == NULL || cli_message_write(fp, &tpl, &v) != 0 || fclose(fp) != 0) {
                snprintf(why, sizeof(why), "writing %s.eml: %s", id, strerror(errno));
                fp = NULL;
            } else {
                fprintf(issued, "%u,%s,%s,%s,%s,%s.eml\n", r->line, r->email, r->cohort, code, expires, id);
                ++ok;
                goto Next;
            }
        }
        {
            char shown[IG_EMAIL_MAX_BYTES + 1];
            cli_redact(ctx, shown, sizeof(shown), r->email);
            if (ctx->err_tty)
                fputc('\n', stderr);
            cli_error(ctx, "line %u (%s): %s", r->line, shown, why);
            json_array_append_new(failures, json_pack("{s:i, s:s, s:s}", "line", (int)r->line, "email", shown, "error", why));
            if (failed == NULL && (failed = fopen(path, "w")) != NULL) {
                fchmod(fileno(failed), 0600);
                fprintf(failed, "email,cohort\n");
            }
            if (failed != NULL)
                fprintf(failed, "%s,%s\n", r->email, r->cohort);
            ++nfail;
        }
    Next:
        cli_progress(ctx, "issuing", ++done, todo);
    }
    if (ctx->json)
        cli_json_print(json_pack("{s:s, s:i, s:i, s:s, s:o}", "batch", batch, "issued", (int)ok, "failed", (int)nfail, "out", out,
                                 "failures", failures));
    else {
        json_decref(failures);
        printf("batch %s: %zu issued, %zu failed; messages in %s%s\n", batch, ok, nfail, out,
               nfail != 0 ? " (failed.csv lists the failed recipients: rerun with the same --batch)" : "");
    }
    ret = nfail != 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK;

Exit:
    if (issued != NULL)
        fclose(issued);
    if (failed != NULL)
        fclose(failed);
    if (token != NULL) {
        sodium_memzero(token, strlen(token));
        free(token);
    }
    cli_template_dispose(&tpl);
    cli_cohort_dispose(&c);
    return ret;
}

/* How many lines of text (which starts with a newline) are exactly prefix followed by name. */
static size_t count_marks(const char *text, const char *prefix, const char *name)
{
    char needle[512];
    size_t n = 0;

    snprintf(needle, sizeof(needle), "\n%s%s\n", prefix, name);
    for (const char *p = text; p != NULL && (p = strstr(p, needle)) != NULL; ++p)
        ++n;
    return n;
}

/* Appends one line to the sent log and puts it on disk before anything else happens. */
static void mark(FILE *log, const char *prefix, const char *name)
{
    fprintf(log, "%s%s\n", prefix, name);
    fflush(log);
    fsync(fileno(log));
}

static int compare_names(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* Runs cmd with the file as standard input; returns its exit status (or -1). */
static int pipe_file(const char *cmd, const char *file)
{
    int fd = open(file, O_RDONLY | O_CLOEXEC), status;
    pid_t pid;

    if (fd < 0)
        return -1;
    if ((pid = fork()) == 0) {
        dup2(fd, 0);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(fd);
    if (pid < 0)
        return -1;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int cli_invites_send(cli_ctx_t *ctx, int argc, char **argv)
{
    static const struct option options[] = {{"dry-run", no_argument, NULL, 'n'},
                                            {"max-failures", required_argument, NULL, 'm'},
                                            {"resend-uncertain", no_argument, NULL, 'r'},
                                            {NULL}};
    const char *dir, *cmd = getenv("SEND_CMD");
    unsigned max_failures = CLI_SEND_MAX_FAILURES;
    int opt, dry = 0, resend = 0, ret = CLI_EXIT_FAIL, stopped = 0;
    char **names = NULL, *sent_text = NULL, path[4096];
    size_t n = 0, cap = 0, sent = 0, already = 0, failed = 0, uncertain = 0, consecutive = 0, sent_len = 0;
    DIR *d;
    struct dirent *e;
    FILE *log = NULL;

    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (opt == 'n')
            dry = 1;
        else if (opt == 'r')
            resend = 1;
        else if (opt != 'm' || cli_parse_uint(&max_failures, optarg, 1, 1000000) != 0)
            return cli_usage(ctx);
    }
    if (optind + 1 != argc)
        return cli_usage(ctx);
    dir = argv[optind];
    if (cmd == NULL || cmd[0] == '\0')
        cmd = CLI_SEND_CMD_DEFAULT;
    if ((d = opendir(dir)) == NULL) {
        cli_error(ctx, "%s: %s", dir, strerror(errno));
        return CLI_EXIT_FAIL;
    }
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 4, ".eml") != 0)
            continue;
        if (n == cap && (names = realloc(names, (cap = cap * 2 + 64) * sizeof(*names))) == NULL)
            abort();
        if ((names[n++] = strdup(e->d_name)) == NULL)
            abort();
    }
    closedir(d);
    qsort(names, n, sizeof(*names), compare_names);

    /*
     * What earlier runs did, one line per step: "? NAME" handed to
     * $SEND_CMD, then "NAME" accepted or "- NAME" refused. A "?" with
     * neither after it is a message the mailer may or may not have taken.
     */
    snprintf(path, sizeof(path), "%s/%s", dir, CLI_SENT_LOG);
    FILE *prev = fopen(path, "r");
    if (prev != NULL) {
        FILE *mem = open_memstream(&sent_text, &sent_len);
        char buf[4096];
        size_t got;
        fputc('\n', mem);
        while ((got = fread(buf, 1, sizeof(buf), prev)) != 0)
            fwrite(buf, 1, got, mem);
        fclose(prev);
        fclose(mem);
    }
    if (!dry && (log = fopen(path, "a")) == NULL) {
        cli_error(ctx, "%s: %s", path, strerror(errno));
        goto Exit;
    }
    for (size_t i = 0; i != n; ++i) {
        char file[4096];
        if (count_marks(sent_text, "", names[i]) != 0) {
            ++already;
            continue;
        }
        if (count_marks(sent_text, "? ", names[i]) > count_marks(sent_text, "- ", names[i]) && !resend) {
            if (!ctx->json)
                printf("uncertain %s: handed to $SEND_CMD by a run that did not finish; not sent again\n", names[i]);
            ++uncertain;
            continue;
        }
        snprintf(file, sizeof(file), "%s/%s", dir, names[i]);
        if (dry) {
            if (!ctx->json)
                printf("would send %s\n", names[i]);
            ++sent;
            continue;
        }
        mark(log, "? ", names[i]);
        int status = pipe_file(cmd, file);
        mark(log, status == 0 ? "" : "- ", names[i]);
        if (status == 0) {
            ++sent;
            consecutive = 0;
        } else {
            if (ctx->err_tty)
                fputc('\n', stderr);
            cli_error(ctx, "%s: $SEND_CMD exited with status %d", names[i], status);
            ++failed;
            if (++consecutive >= max_failures) {
                cli_error(ctx, "%zu failures in a row: stopping (something systematic; fix it and rerun)", consecutive);
                stopped = 1;
                break;
            }
        }
        cli_progress(ctx, "sending", i + 1, n);
    }
    if (ctx->json)
        cli_json_print(json_pack("{s:b, s:i, s:i, s:i, s:i, s:b}", "dry_run", dry, dry ? "would_send" : "sent", (int)sent,
                                 "already_sent", (int)already, "failed", (int)failed, "uncertain", (int)uncertain, "stopped",
                                 stopped));
    else
        printf("%s %zu, already sent %zu, failed %zu, uncertain %zu%s\n", dry ? "would send" : "sent", sent, already, failed,
               uncertain, stopped ? " (stopped)" : "");
    if (uncertain != 0)
        cli_error(ctx,
                  "%zu messages may or may not have been sent (see above): check the mailer's log, then rerun with "
                  "--resend-uncertain to send them",
                  uncertain);
    ret = failed != 0 || uncertain != 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK;

Exit:
    if (log != NULL)
        fclose(log);
    for (size_t i = 0; i != n; ++i)
        free(names[i]);
    free(names);
    free(sent_text);
    return ret;
}

/* ---- invites import ------------------------------------------------------ */

#define CLI_IMPORT_HEADER "code,max_uses,expires_at,issued_to,cohort"
#define CLI_IMPORT_BATCH "import"
#define CLI_IMPORT_BY "import"

const char cli_invites_import_help[] =
    "Imports codes of an earlier system so that they redeem as they did: each code is PREFIX + 12 hex digits\n"
    "(case-insensitive, the prefix optional), an imported code without check characters. FILE.csv has the\n"
    "header `" CLI_IMPORT_HEADER "` and one code a line, no quoting:\n"
    "  code        PREFIX + 12 hex digits, once in the file\n"
    "  max_uses    1 to 1000000\n"
    "  expires_at  YYYY-MM-DDTHH:MM:SSZ (UTC; a past time imports an expired code), or empty for\n"
    "              default_expires_days from now\n"
    "  issued_to   the e-mail the code is bound to, or empty for a code anyone may use\n"
    "  cohort      attribution label (letters, digits, -_.:, at most 64), or empty\n"
    "\n"
    "Every line is checked first; any bad line is reported with its line number and nothing is written\n"
    "(exit 1). Then each code is written by the Redis library's ig_issue, the API's own atomic path (batch\n"
    "`" CLI_IMPORT_BATCH "`): a code that exists is left as it is, so a rerun changes nothing. The sync daemon\n"
    "copies the codes to PostgreSQL, where their rows have imported = true.\n";

typedef struct import_row_t {
    unsigned line;
    char code[IG_CODE_BODY_LEN + 1];
    char max[16], exp[24];
    char email[IG_EMAIL_MAX_BYTES + 1];
    size_t email_len;
    char cohort[GW_COHORT_MAX_BYTES + 1];
} import_row_t;

/* Splits line at commas into exactly n fields (in place); returns the number found. */
static size_t split_fields(char *line, char **fields, size_t n)
{
    size_t k = 0;
    for (char *p = line;; ++p) {
        if (k < n)
            fields[k] = p;
        ++k;
        if ((p = strchr(p, ',')) == NULL)
            return k;
        *p = '\0';
    }
}

/* Checks one data line into row; returns NULL or what is wrong. */
static const char *import_parse_line(import_row_t *row, char *line, const cli_ctx_t *ctx, const unsigned char *code_key, time_t now)
{
    char *f[5];
    unsigned max;
    if (split_fields(line, f, 5) != 5)
        return "expected 5 fields: " CLI_IMPORT_HEADER;
    if (ig_code_read(row->code, f[0], strlen(f[0]), ctx->cfg.code_prefix, code_key) != IG_CODE_IMPORTED)
        return "code is not PREFIX + 12 hex digits";
    if (cli_parse_uint(&max, f[1], 1, GW_MAX_USES_MAX) != 0)
        return "max_uses must be an integer from 1 to 1000000";
    snprintf(row->max, sizeof(row->max), "%u", max);
    time_t exp = now + (time_t)ctx->cfg.default_expires_days * 86400;
    if (f[2][0] != '\0') {
        struct tm tm = {0};
        const char *end = strptime(f[2], "%Y-%m-%dT%H:%M:%SZ", &tm);
        if (end == NULL || *end != '\0' || (exp = timegm(&tm)) <= 0)
            return "expires_at must be YYYY-MM-DDTHH:MM:SSZ or empty";
    }
    snprintf(row->exp, sizeof(row->exp), "%lld", (long long)exp);
    row->email[0] = '\0', row->email_len = 0;
    if (f[3][0] != '\0') {
        int n = ig_email_normalise(row->email, f[3], strlen(f[3]));
        if (n < 0)
            return "issued_to is not a valid e-mail address";
        row->email_len = (size_t)n;
    }
    if (strlen(f[4]) > GW_COHORT_MAX_BYTES || !gw_parse_label_ok(f[4], strlen(f[4])))
        return "cohort must be at most 64 letters, digits or -_.:";
    memcpy(row->cohort, f[4], strlen(f[4]) + 1);
    return NULL;
}

/* Reads and checks the whole file; prints each bad line. Returns the number of bad lines, or -1 when unreadable. */
static long import_read(const cli_ctx_t *ctx, const char *path, import_row_t **rows, size_t *nrows)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0, n = 0, room = 0;
    ssize_t len;
    long bad = 0;
    time_t now = time(NULL);
    unsigned char code_key[IG_CODE_KEY_BYTES];

    ig_code_key_derive(code_key, ctx->cfg.secret_key);
    if (f == NULL) {
        cli_error(ctx, "%s: %s", path, strerror(errno));
        return -1;
    }
    *rows = NULL;
    for (unsigned lineno = 1; (len = getline(&line, &cap, f)) >= 0; ++lineno) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        const char *why = NULL;
        if (lineno == 1) {
            if (strcmp(line, CLI_IMPORT_HEADER) != 0)
                why = "header must be " CLI_IMPORT_HEADER;
        } else if (len == 0) {
            continue;
        } else {
            if (n == room && (*rows = realloc(*rows, (room = room != 0 ? room * 2 : 64) * sizeof(**rows))) == NULL)
                abort();
            import_row_t *r = &(*rows)[n];
            r->line = lineno;
            if ((why = import_parse_line(r, line, ctx, code_key, now)) == NULL) {
                for (size_t i = 0; i != n && why == NULL; ++i)
                    if (strcmp((*rows)[i].code, r->code) == 0)
                        why = "code appears on an earlier line";
            }
            if (why == NULL)
                ++n;
        }
        if (why != NULL) {
            fprintf(stderr, "%s:%u: %s\n", path, lineno, why);
            ++bad;
        }
    }
    if (ferror(f)) {
        cli_error(ctx, "%s: %s", path, strerror(errno));
        bad = -1;
    }
    free(line);
    fclose(f);
    sodium_memzero(code_key, sizeof(code_key));
    *nrows = n;
    return bad;
}

/* Writes one code through ig_issue on its bucket's connection; returns 1 created, 0 present already, -1 failed. */
static int import_one(cli_ctx_t *ctx, const sync_route_t *route, const import_row_t *r,
                      const unsigned char email_key[IG_EMAIL_KEY_BYTES])
{
    ig_code_keys_t k;
    char stream[IG_KEY_MAX_BYTES];
    unsigned char hash[IG_EMAIL_HASH_BYTES] = {0};
    ig_code_keys(&k, r->code, route->buckets);
    redisContext *redis = sync_route_bucket(route, k.bucket);
    IG_FCALL_LOCAL(c, ISSUE, 1);
    ig_key_events(stream, k.bucket);
    if (r->email_len != 0)
        ig_email_hash(hash, r->email, r->email_len, email_key);
    const char *strs[] = {stream, k.hash, CLI_IMPORT_BATCH, r->cohort, r->max, r->exp, CLI_IMPORT_BY, k.field, r->code, r->email};
    ig_fcall_strs(&c, strs, sizeof(strs) / sizeof(strs[0]));
    ig_fcall_bin(&c, hash, r->email_len != 0 ? IG_EMAIL_HASH_BYTES : 0);
    redisReply *reply = redisCommandArgv(redis, (int)ig_fcall_end(&c), c.argv, c.lens);
    int ret = -1;
    if (reply == NULL)
        cli_error(ctx, "line %u: redis: %s", r->line, redis->errstr);
    else if (reply->type != REDIS_REPLY_INTEGER)
        cli_error(ctx, "line %u: redis: %s", r->line, reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply");
    else
        ret = reply->integer == 1;
    if (reply != NULL)
        freeReplyObject(reply);
    return ret;
}

int cli_invites_import(cli_ctx_t *ctx, int argc, char **argv)
{
    static const struct option options[] = {{NULL}};
    import_row_t *rows = NULL;
    size_t nrows = 0, created = 0, present = 0, failed = 0;
    unsigned char email_key[IG_EMAIL_KEY_BYTES];
    sync_route_t *route;
    long bad;
    int ret = CLI_EXIT_FAIL;

    if (getopt_long(argc, argv, "", options, NULL) != -1 || optind + 1 != argc)
        return cli_usage(ctx);
    if ((bad = import_read(ctx, argv[optind], &rows, &nrows)) != 0) {
        if (bad > 0)
            cli_error(ctx, "%ld bad line%s: nothing imported", bad, bad == 1 ? "" : "s");
        goto Exit;
    }
    if (!ctx->cfg.has_secret_key) {
        cli_error(ctx, "secret_key is not configured: e-mail hashes would not match the gateway's");
        goto Exit;
    }
    if ((route = cli_route(ctx)) == NULL)
        goto Exit;
    ig_email_key_derive(email_key, ctx->cfg.secret_key);
    for (size_t i = 0; i != nrows; ++i) {
        int r = import_one(ctx, route, &rows[i], email_key);
        r<0 ? ++failed : r> 0 ? ++created : ++present;
        cli_progress(ctx, "import", i + 1, nrows);
    }
    sodium_memzero(email_key, sizeof(email_key));
    if (ctx->json)
        cli_json_print(json_pack("{s:I, s:I, s:I}", "imported", (json_int_t)created, "present", (json_int_t)present, "failed",
                                 (json_int_t)failed));
    else
        printf("imported %zu, already present %zu, failed %zu\n", created, present, failed);
    ret = failed == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
Exit:
    free(rows);
    return ret;
}
