/* Cohort CSV files and their checks (cohort.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "ig_config.h"
#include "parse.h"
#include "cohort.h"

#define CLI_COHORT_MAX_FILE_BYTES (64u << 20)

static void problem(cli_cohort_t *c, unsigned line, int blocking, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void problem(cli_cohort_t *c, unsigned line, int blocking, const char *kind, const char *fmt, ...)
{
    cli_problem_t *p;
    va_list ap;

    if ((c->num_problems & (c->num_problems + 1)) == 0 || c->problems == NULL) {
        cli_problem_t *grown = realloc(c->problems, (c->num_problems + 1) * 2 * sizeof(*grown));
        if (grown == NULL)
            abort();
        c->problems = grown;
    }
    p = &c->problems[c->num_problems++];
    p->line = line;
    p->blocking = blocking;
    p->kind = kind;
    va_start(ap, fmt);
    vsnprintf(p->message, sizeof(p->message), fmt, ap);
    va_end(ap);
    if (blocking)
        ++c->errors;
    else
        ++c->warnings;
}

/* Trims blanks and one pair of double quotes around [*s, *e). */
static void trim(char **s, char **e)
{
    while (*s < *e && (**s == ' ' || **s == '\t'))
        ++*s;
    while (*e > *s && ((*e)[-1] == ' ' || (*e)[-1] == '\t'))
        --*e;
    if (*e - *s >= 2 && **s == '"' && (*e)[-1] == '"')
        ++*s, --*e;
}

/* Splits line at commas outside double quotes into at most max fields; returns how many there are. */
static size_t split(char *line, char **fields, size_t max)
{
    size_t n = 0;
    int quoted = 0;
    char *start = line, *p = line;

    for (;; ++p) {
        if (*p == '"')
            quoted = !quoted;
        if ((*p == ',' && !quoted) || *p == '\0') {
            int end = *p == '\0';
            char *s = start, *e = p;
            trim(&s, &e);
            *e = '\0';
            if (n < max)
                fields[n] = s;
            ++n;
            if (end)
                return n;
            start = p + 1;
        }
    }
}

static int compare_email(const void *x, const void *y)
{
    const cli_cohort_row_t *a = *(cli_cohort_row_t *const *)x, *b = *(cli_cohort_row_t *const *)y;
    int d = strcmp(a->email, b->email);
    return d != 0 ? d : (a->line > b->line) - (a->line < b->line);
}

static void check_duplicates(cli_cohort_t *c, cli_ctx_t *ctx)
{
    cli_cohort_row_t **order = malloc((c->num_rows + 1) * sizeof(*order));
    size_t n = 0;

    if (order == NULL)
        abort();
    for (size_t i = 0; i != c->num_rows; ++i)
        if (c->rows[i].email[0] != '\0')
            order[n++] = &c->rows[i];
    qsort(order, n, sizeof(*order), compare_email);
    for (size_t i = 1; i < n; ++i) {
        size_t first = i - 1;
        while (first > 0 && strcmp(order[first - 1]->email, order[i]->email) == 0)
            --first;
        if (strcmp(order[i - 1]->email, order[i]->email) != 0)
            continue;
        char shown[IG_EMAIL_MAX_BYTES + 1];
        cli_redact(ctx, shown, sizeof(shown), order[i]->email);
        problem(c, order[i]->line, 1, "duplicate", "%s is the same address as line %u once normalised", shown, order[first]->line);
        order[i]->ok = 0;
    }
    free(order);
}

int cli_cohort_load(cli_cohort_t *c, cli_ctx_t *ctx, const char *path)
{
    FILE *fp = fopen(path, "rb");
    char *text = NULL, *p, *next;
    size_t len = 0, cap = 0;
    unsigned line = 0;

    memset(c, 0, sizeof(*c));
    if (fp == NULL) {
        cli_error(ctx, "%s: %s", path, strerror(errno));
        return -1;
    }
    for (;;) {
        if (len + 4096 + 1 > cap) {
            char *grown;
            cap = cap * 2 + 8192;
            if (cap > CLI_COHORT_MAX_FILE_BYTES || (grown = realloc(text, cap)) == NULL) {
                cli_error(ctx, "%s: too large", path);
                free(text);
                fclose(fp);
                return -1;
            }
            text = grown;
        }
        size_t got = fread(text + len, 1, cap - len - 1, fp);
        len += got;
        if (got == 0)
            break;
    }
    if (ferror(fp)) {
        cli_error(ctx, "%s: read error", path);
        free(text);
        fclose(fp);
        return -1;
    }
    fclose(fp);
    text[len] = '\0';
    if (strlen(text) != len) {
        problem(c, 0, 1, "binary", "the file holds NUL bytes: not a CSV file");
        free(text);
        return 0;
    }

    p = text;
    if (strncmp(p, "\xef\xbb\xbf", 3) == 0)
        p += 3;
    for (; p != NULL && *p != '\0'; p = next) {
        char *fields[3];
        size_t nf, e;
        if ((next = strchr(p, '\n')) != NULL)
            *next++ = '\0';
        e = strlen(p);
        if (e != 0 && p[e - 1] == '\r')
            p[--e] = '\0';
        ++line;
        if (line == 1) {
            nf = split(p, fields, 3);
            if (nf != 2 || strcasecmp(fields[0], "email") != 0 || strcasecmp(fields[1], "cohort") != 0) {
                problem(c, 1, 1, "header", "the first line must be the header \"email,cohort\"");
                break;
            }
            continue;
        }
        if (strspn(p, " \t") == strlen(p))
            continue;
        nf = split(p, fields, 3);
        if (nf != 2) {
            problem(c, line, 1, "fields", "expected 2 fields (email,cohort), found %zu", nf);
            continue;
        }
        if ((c->num_rows & (c->num_rows + 1)) == 0 || c->rows == NULL) {
            cli_cohort_row_t *grown = realloc(c->rows, (c->num_rows + 1) * 2 * sizeof(*grown));
            if (grown == NULL)
                abort();
            c->rows = grown;
        }
        cli_cohort_row_t *r = &c->rows[c->num_rows++];
        memset(r, 0, sizeof(*r));
        r->line = line;
        r->ok = 1;
        if ((r->raw = strdup(fields[0])) == NULL || (r->cohort = strdup(fields[1])) == NULL)
            abort();
        if (ig_email_normalise(r->email, r->raw, strlen(r->raw)) < 0) {
            r->email[0] = '\0';
            r->ok = 0;
            /* A malformed address is not an address: shown as written only on request. */
            if (ctx->show_emails)
                problem(c, line, 1, "malformed_email", "\"%s\" is not an acceptable e-mail address", r->raw);
            else
                problem(c, line, 1, "malformed_email", "not an acceptable e-mail address");
            continue;
        }
        if (r->cohort[0] == '\0' || strlen(r->cohort) > GW_COHORT_MAX_BYTES || !gw_parse_label_ok(r->cohort, strlen(r->cohort))) {
            r->ok = 0;
            problem(c, line, 1, "cohort_label", "cohort \"%.64s\" must be 1 to %d letters, digits or -_.:", r->cohort,
                    GW_COHORT_MAX_BYTES);
            continue;
        }
        if (ig_config_is_disposable(&ctx->cfg, r->email)) {
            char shown[IG_EMAIL_MAX_BYTES + 1];
            cli_redact(ctx, shown, sizeof(shown), r->email);
            problem(c, line, 0, "disposable_domain", "%s is at a disposable-mail domain (disposable_domains)", shown);
        }
    }
    if (line == 0)
        problem(c, 0, 1, "header", "the file is empty (expected the header \"email,cohort\")");
    free(text);
    check_duplicates(c, ctx);
    return 0;
}

static int has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

void cli_cohort_check_distribution(cli_cohort_t *c, const cli_cohort_limits_t *limits)
{
    size_t good = 0, creators = 0, labels = 0;

    if (c->num_rows == 0 && c->errors != 0)
        return; /* not a cohort file at all: its header is the problem */

    for (size_t i = 0; i != c->num_rows; ++i) {
        const cli_cohort_row_t *r = &c->rows[i];
        size_t j;
        if (!r->ok)
            continue;
        ++good;
        creators += has_prefix(r->cohort, limits->creator_prefix);
        for (j = 0; j != i; ++j)
            if (c->rows[j].ok && strcmp(c->rows[j].cohort, r->cohort) == 0)
                break;
        labels += j == i;
    }
    if (good < limits->min_rows)
        problem(c, 0, 0, "too_few_rows", "%zu valid recipients, fewer than %u (--min-rows)", good, limits->min_rows);
    if (creators < limits->min_creators)
        problem(c, 0, 0, "too_few_creators", "%zu recipients in a \"%s*\" cohort, fewer than %u (--min-creators)", creators,
                limits->creator_prefix, limits->min_creators);
    if (labels < limits->min_labels)
        problem(c, 0, 0, "too_few_labels", "%zu distinct cohort labels, fewer than %u (--min-labels)", labels, limits->min_labels);
}

/* Appends s to the PostgreSQL array literal in *buf as a quoted element. */
static void array_append(char **buf, size_t *len, size_t *cap, const char *s)
{
    size_t need = *len + strlen(s) * 2 + 4;
    if (need > *cap) {
        *cap = need * 2;
        if ((*buf = realloc(*buf, *cap)) == NULL)
            abort();
    }
    char sep = *len == 0 ? '{' : ',';
    (*buf)[(*len)++] = sep;
    (*buf)[(*len)++] = '"';
    for (; *s != '\0'; ++s) {
        if (*s == '"' || *s == '\\')
            (*buf)[(*len)++] = '\\';
        (*buf)[(*len)++] = *s;
    }
    (*buf)[(*len)++] = '"';
}

#define COHORT_STR(x) #x
#define COHORT_XSTR(x) COHORT_STR(x)
/*
 * An invite of the run being issued ($2, `invites issue --batch`): its batch
 * id is $2-<CLI_RECIPIENT_ID_HEX hex digits>, not merely one beginning with $2
 * (--batch LAUNCH-1 is not LAUNCH-10). Never true when $2 is empty.
 */
#define OWN_RUN(batch_id)                                                                                                          \
    "($2 <> '' AND " batch_id " = $2 || '-' || right(" batch_id                                                                    \
    ", " COHORT_XSTR(CLI_RECIPIENT_ID_HEX) ") AND right(" batch_id ", " COHORT_XSTR(CLI_RECIPIENT_ID_HEX) ") ~ '^[0-9a-f]+$')"

/*
 * Where an address may already be known, and what to say about it. A rerun of
 * a run finds its own invites, and their redemptions: those are no collision.
 */
static const struct {
    const char *kind;
    const char *sql; /* $1 the addresses, $2 the --batch of the run to leave out (may be empty) */
    const char *what;
} collisions[] = {
    {"existing_invite", "SELECT DISTINCT issued_to FROM invites WHERE issued_to = ANY($1::text[]) AND NOT " OWN_RUN("batch_id"),
     "already has an invite bound to it"},
    {"already_member",
     "SELECT DISTINCT email FROM redemptions AS r WHERE email = ANY($1::text[])"
     " AND NOT EXISTS (SELECT 1 FROM invites AS i WHERE i.code = r.code AND " OWN_RUN("i.batch_id") ")",
     "already redeemed an invite"},
    {"on_waitlist", "SELECT email FROM waitlist WHERE email = ANY($1::text[]) AND invited_at IS NULL",
     "is on the waitlist (an admission would invite it too)"},
};

int cli_cohort_check_collisions(cli_cohort_t *c, cli_ctx_t *ctx, PGconn *pg, const char *own_batch)
{
    char *arr = NULL;
    size_t len = 0, cap = 0;
    int ret = -1;

    for (size_t i = 0; i != c->num_rows; ++i)
        if (c->rows[i].ok)
            array_append(&arr, &len, &cap, c->rows[i].email);
    if (len == 0)
        return 0;
    arr[len++] = '}';
    arr[len] = '\0';
    for (size_t k = 0; k != sizeof(collisions) / sizeof(collisions[0]); ++k) {
        const char *params[2] = {arr, own_batch != NULL ? own_batch : ""};
        int nparams = strstr(collisions[k].sql, "$2") != NULL ? 2 : 1;
        PGresult *res = PQexecParams(pg, collisions[k].sql, nparams, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            cli_error(ctx, "checking %s: %s", collisions[k].kind, PQresultErrorMessage(res));
            PQclear(res);
            goto Exit;
        }
        for (int t = 0; t != PQntuples(res); ++t) {
            const char *email = PQgetvalue(res, t, 0);
            for (size_t i = 0; i != c->num_rows; ++i) {
                if (!c->rows[i].ok || strcmp(c->rows[i].email, email) != 0)
                    continue;
                char shown[IG_EMAIL_MAX_BYTES + 1];
                cli_redact(ctx, shown, sizeof(shown), email);
                problem(c, c->rows[i].line, 0, collisions[k].kind, "%s %s", shown, collisions[k].what);
            }
        }
        PQclear(res);
    }
    ret = 0;
Exit:
    free(arr);
    return ret;
}

static int compare_problem(const void *x, const void *y)
{
    const cli_problem_t *a = x, *b = y;
    return (a->line > b->line) - (a->line < b->line);
}

int cli_cohort_status(const cli_cohort_t *c)
{
    return c->errors != 0 ? CLI_EXIT_FAIL : c->warnings != 0 ? CLI_EXIT_WARN : CLI_EXIT_OK;
}

void cli_cohort_print(cli_cohort_t *c, const cli_ctx_t *ctx)
{
    static const char *const status_names[] = {[CLI_EXIT_OK] = "ok", [CLI_EXIT_FAIL] = "blocking", [CLI_EXIT_WARN] = "warnings"};
    json_t *labels = json_object();

    /* Stable: problems of one line keep the order of the checks. */
    for (size_t i = 1; i < c->num_problems; ++i)
        for (size_t j = i; j > 0 && compare_problem(&c->problems[j - 1], &c->problems[j]) > 0; --j) {
            cli_problem_t t = c->problems[j];
            c->problems[j] = c->problems[j - 1];
            c->problems[j - 1] = t;
        }
    for (size_t i = 0; i != c->num_rows; ++i) {
        if (!c->rows[i].ok)
            continue;
        json_t *n = json_object_get(labels, c->rows[i].cohort);
        json_object_set_new(labels, c->rows[i].cohort, json_integer(n != NULL ? json_integer_value(n) + 1 : 1));
    }
    if (ctx->json) {
        json_t *problems = json_array();
        for (size_t i = 0; i != c->num_problems; ++i) {
            const cli_problem_t *p = &c->problems[i];
            json_array_append_new(problems, json_pack("{s:i, s:s, s:s, s:s}", "line", (int)p->line, "severity",
                                                      p->blocking ? "error" : "warning", "kind", p->kind, "message", p->message));
        }
        cli_json_print(json_pack("{s:s, s:i, s:o, s:i, s:i, s:o}", "status", status_names[cli_cohort_status(c)], "rows",
                                 (int)c->num_rows, "labels", labels, "errors", (int)c->errors, "warnings", (int)c->warnings,
                                 "problems", problems));
        return;
    }
    if (c->num_problems != 0)
        printf("%-6s %-8s %-18s %s\n", "LINE", "SEVERITY", "KIND", "PROBLEM");
    for (size_t i = 0; i != c->num_problems; ++i) {
        const cli_problem_t *p = &c->problems[i];
        char line[16] = "-";
        if (p->line != 0)
            snprintf(line, sizeof(line), "%u", p->line);
        printf("%-6s %-8s %-18s %s\n", line, p->blocking ? "error" : "warning", p->kind, p->message);
    }
    printf("%s%zu recipients, %zu errors, %zu warnings; cohorts:", c->num_problems != 0 ? "\n" : "", c->num_rows, c->errors,
           c->warnings);
    const char *key;
    json_t *value;
    json_object_foreach(labels, key, value) printf(" %s=%lld", key, (long long)json_integer_value(value));
    printf("\n%s\n", c->errors != 0     ? "BLOCKING: fix the errors before issuing."
                     : c->warnings != 0 ? "WARNINGS: issuing needs --force."
                                        : "OK.");
    json_decref(labels);
}

void cli_cohort_dispose(cli_cohort_t *c)
{
    for (size_t i = 0; i != c->num_rows; ++i) {
        free(c->rows[i].raw);
        free(c->rows[i].cohort);
    }
    free(c->rows);
    free(c->problems);
    memset(c, 0, sizeof(*c));
}
