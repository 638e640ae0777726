/*
 * Invitation messages: one RFC 5322 message per recipient, MIME
 * multipart/alternative with a text and an HTML part, from a template
 * directory holding subject.txt, body.txt and body.html (UTF-8). Placeholders:
 * {{code}}, {{link}}, {{expires}}, {{cohort}}; in body.html their values are
 * HTML-escaped. Without a directory, the built-in template (the French copy
 * of templates/invite/) is used.
 */
#ifndef CLI_MESSAGE_H
#define CLI_MESSAGE_H

#include <stdio.h>

typedef struct cli_template_t {
    char *subject; /**< one line */
    char *text;
    char *html;
} cli_template_t;

typedef struct cli_message_vars_t {
    const char *from;
    const char *to;
    const char *code;
    const char *link;
    const char *expires;
    const char *cohort;
    const char *message_id; /**< without the angle brackets */
} cli_message_vars_t;

/** Loads the template of dir (NULL: the built-in one). Returns 0, or -1 with the reason in err. */
int cli_template_load(cli_template_t *t, const char *dir, char *err, size_t err_len);

void cli_template_dispose(cli_template_t *t);

/** Writes the message to fp. Returns 0, or -1 on a write error. */
int cli_message_write(FILE *fp, const cli_template_t *t, const cli_message_vars_t *v);

#endif
