/* Invitation messages (message.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sodium.h>
#include "message.h"

/* templates/invite/, compiled in (cmake/embed.cmake; each file ends with an added newline). */
extern const char cli_template_subject[], cli_template_text[], cli_template_html[];

static char *read_file(const char *dir, const char *name, char *err, size_t err_len)
{
    char path[4096];
    FILE *fp;
    char *text = NULL;
    size_t len = 0;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if ((fp = fopen(path, "rb")) == NULL) {
        snprintf(err, err_len, "%s: %s", path, strerror(errno));
        return NULL;
    }
    FILE *mem = open_memstream(&text, &len);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), fp)) != 0)
        fwrite(buf, 1, n, mem);
    fclose(fp);
    fclose(mem);
    return text;
}

int cli_template_load(cli_template_t *t, const char *dir, char *err, size_t err_len)
{
    memset(t, 0, sizeof(*t));
    if (dir == NULL) {
        t->subject = strdup(cli_template_subject);
        t->text = strdup(cli_template_text);
        t->html = strdup(cli_template_html);
        t->subject[strcspn(t->subject, "\r\n")] = '\0';
        return 0;
    }
    if ((t->subject = read_file(dir, "subject.txt", err, err_len)) == NULL ||
        (t->text = read_file(dir, "body.txt", err, err_len)) == NULL ||
        (t->html = read_file(dir, "body.html", err, err_len)) == NULL) {
        cli_template_dispose(t);
        return -1;
    }
    t->subject[strcspn(t->subject, "\r\n")] = '\0';
    return 0;
}

void cli_template_dispose(cli_template_t *t)
{
    free(t->subject);
    free(t->text);
    free(t->html);
    memset(t, 0, sizeof(*t));
}

static void put_escaped(FILE *fp, const char *s, int html)
{
    for (; *s != '\0'; ++s) {
        if (html && *s == '&')
            fputs("&amp;", fp);
        else if (html && *s == '<')
            fputs("&lt;", fp);
        else if (html && *s == '>')
            fputs("&gt;", fp);
        else if (html && *s == '"')
            fputs("&quot;", fp);
        else
            fputc(*s, fp);
    }
}

/* Writes body with its placeholders replaced. */
static void render(FILE *fp, const char *body, const cli_message_vars_t *v, int html)
{
    const struct {
        const char *name;
        const char *value;
    } vars[] = {{"{{code}}", v->code}, {"{{link}}", v->link}, {"{{expires}}", v->expires}, {"{{cohort}}", v->cohort}};

    while (*body != '\0') {
        size_t i;
        for (i = 0; i != sizeof(vars) / sizeof(vars[0]); ++i)
            if (strncmp(body, vars[i].name, strlen(vars[i].name)) == 0)
                break;
        if (i != sizeof(vars) / sizeof(vars[0])) {
            put_escaped(fp, vars[i].value, html);
            body += strlen(vars[i].name);
        } else {
            fputc(*body++, fp);
        }
    }
}

/* An RFC 2047 encoded-word for a header value that is not plain ASCII. */
static void put_header_text(FILE *fp, const char *s)
{
    int ascii = 1;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; ++p)
        ascii &= *p >= 0x20 && *p < 0x7f;
    if (ascii) {
        fputs(s, fp);
        return;
    }
    size_t len = strlen(s);
    char *b64 = malloc(sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL));
    if (b64 == NULL)
        abort();
    sodium_bin2base64(b64, sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL), (const unsigned char *)s, len,
                      sodium_base64_VARIANT_ORIGINAL);
    fprintf(fp, "=?UTF-8?B?%s?=", b64);
    free(b64);
}

int cli_message_write(FILE *fp, const cli_template_t *t, const cli_message_vars_t *v)
{
    unsigned char rnd[12];
    char boundary[64], hex[sizeof(rnd) * 2 + 1], date[64];
    time_t now = time(NULL);
    struct tm tm;
    const char *body_end;

    randombytes_buf(rnd, sizeof(rnd));
    sodium_bin2hex(hex, sizeof(hex), rnd, sizeof(rnd));
    snprintf(boundary, sizeof(boundary), "=_invitegate_%s", hex);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", gmtime_r(&now, &tm));
    fprintf(fp, "From: %s\nTo: %s\nSubject: ", v->from, v->to);
    put_header_text(fp, t->subject);
    fprintf(fp,
            "\nDate: %s\nMessage-ID: <%s>\nMIME-Version: 1.0\nContent-Type: multipart/alternative; boundary=\"%s\"\n\n"
            "This is a multi-part message in MIME format.\n\n--%s\nContent-Type: text/plain; charset=UTF-8\n"
            "Content-Transfer-Encoding: 8bit\n\n",
            date, v->message_id, boundary, boundary);
    render(fp, t->text, v, 0);
    body_end = t->text[0] != '\0' ? t->text + strlen(t->text) - 1 : "\n";
    fprintf(fp, "%s--%s\nContent-Type: text/html; charset=UTF-8\nContent-Transfer-Encoding: 8bit\n\n",
            *body_end == '\n' ? "\n" : "\n\n", boundary);
    render(fp, t->html, v, 1);
    fprintf(fp, "\n--%s--\n", boundary);
    return ferror(fp) ? -1 : 0;
}
