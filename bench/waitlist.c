/* The waitlist's people and the seeded list (waitlist.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "waitlist.h"

#define WAITLIST_FILE "waitlist.txt"
#define JOIN_CURSOR_FILE "join_cursor"

static const char *const firsts[] = {
    "maria", "james", "sofia",  "liam",  "emma", "noah", "olivia", "lucas", "mia",    "ethan", "ava",  "mateo", "chloe",
    "aarav", "yuki",  "fatima", "kwame", "ines", "omar", "leah",   "ravi",  "hannah", "diego", "sara", "jonas", "amelie",
};
static const char *const lasts[] = {
    "garcia", "smith", "muller", "rossi",  "nguyen",    "kowalski", "tanaka", "okafor",  "silva",     "johansson",
    "dubois", "patel", "kim",    "haddad", "fernandez", "novak",    "lopez",  "schmidt", "andersson", "obrien",
};

/* Domains with their weights (percent): free mail first, then companies. */
static const struct {
    const char *domain;
    unsigned weight;
} domains[] = {
    {"gmail.com", 40},        {"outlook.com", 10},       {"yahoo.com", 8},           {"hotmail.com", 5},
    {"icloud.com", 5},        {"proton.me", 4},          {"acme-labs.io", 5},        {"northwind.co", 5},
    {"brightlane.agency", 6}, {"studio-kite.design", 4}, {"fjord-analytics.com", 4}, {"tinyteam.dev", 4},
};

/* Personas with their weights (percent); the gateway maps unknown ones to "other". */
static const struct {
    const char *persona;
    unsigned weight;
} personas[] = {
    {"solo_founder", 30}, {"small_team", 25}, {"agency", 15}, {"content_creator", 15}, {"other", 15},
};

/*
 * Use cases as people write them: short and long (more than 20 words adds
 * 10 to the priority), with and without the keywords that add 5.
 */
static const char *const use_cases[] = {
    "Scheduling posts for my clients",
    "Automating our weekly newsletter and the content calendar",
    "Testing it for a side project",
    "Marketing campaigns",
    "I run a two person studio and we spend far too long copying briefs between tools, so I want one place where "
    "requests, drafts and approvals live together without the usual back and forth",
    "Replacing three spreadsheets",
    "We are a small team of five building a scheduling product for clinics and we would like to see whether your "
    "workflows can take over the reminders and the follow ups we still send by hand",
    "content repurposing for podcasts",
    "Curious",
    "Our agency manages social accounts for about forty local businesses and we need approvals, reporting and a "
    "shared calendar that clients can look at without asking us for screenshots every week",
    "Save time on reporting",
    "Internal tooling for ops",
    "I make video essays and want to turn each one into clips, threads and a blog post without losing a whole day to "
    "editing and formatting every single time I publish",
    "Lead generation",
    "Evaluating for a client",
    "Workflow automation for a five person marketing team",
};

static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

int bench_person(bench_person_t *p, uint64_t n)
{
    bench_rng_t rng;
    char local[64];
    unsigned r, acc = 0;
    size_t d = 0;

    bench_rng_seed(&rng, mix64(n));
    const char *first = firsts[bench_rng_below(&rng, sizeof(firsts) / sizeof(firsts[0]))];
    const char *last = lasts[bench_rng_below(&rng, sizeof(lasts) / sizeof(lasts[0]))];
    static const char *const seps[] = {".", "", "_", "."};
    const char *sep = seps[bench_rng_below(&rng, 4)];
    for (r = (unsigned)bench_rng_below(&rng, 100); d + 1 < sizeof(domains) / sizeof(domains[0]); ++d)
        if (r < (acc += domains[d].weight))
            break;
    snprintf(local, sizeof(local), "%s%s%s%" PRIu64, first, sep, last, n);
    /* Some type their name capitalised; some gmail users add a tag. Both normalise away. */
    if (bench_rng_below(&rng, 10) == 0)
        local[0] = (char)(local[0] - 'a' + 'A');
    int tagged = strcmp(domains[d].domain, "gmail.com") == 0 && bench_rng_below(&rng, 20) == 0;
    p->raw_len = (size_t)snprintf(p->raw, sizeof(p->raw), "%s%s@%s", local, tagged ? "+waitlist" : "", domains[d].domain);

    acc = 0;
    r = (unsigned)bench_rng_below(&rng, 100);
    p->persona = personas[sizeof(personas) / sizeof(personas[0]) - 1].persona;
    for (size_t i = 0; i != sizeof(personas) / sizeof(personas[0]); ++i)
        if (r < (acc += personas[i].weight)) {
            p->persona = personas[i].persona;
            break;
        }
    p->use_case = use_cases[bench_rng_below(&rng, sizeof(use_cases) / sizeof(use_cases[0]))];

    int len = ig_email_normalise(p->email, p->raw, p->raw_len);
    if (len < 0)
        return -1;
    p->email_len = (size_t)len;
    return 0;
}

int bench_waitlist_generate(bench_waitlist_t *wl, size_t num)
{
    bench_person_t p;
    size_t used = 0, cap = num * 32 + 64;

    memset(wl, 0, sizeof(*wl));
    wl->text = malloc(cap);
    wl->offsets = malloc((num + 1) * sizeof(*wl->offsets));
    if (wl->text == NULL || wl->offsets == NULL)
        goto NoMemory;
    for (size_t i = 0; i != num; ++i) {
        if (bench_person(&p, i) != 0) {
            bench_error("waitlist: person %zu has an address the gateway would refuse", i);
            bench_waitlist_dispose(wl);
            return -1;
        }
        if (used + p.email_len + 1 > cap) {
            char *grown = realloc(wl->text, cap *= 2);
            if (grown == NULL)
                goto NoMemory;
            wl->text = grown;
        }
        wl->offsets[i] = used;
        memcpy(wl->text + used, p.email, p.email_len + 1);
        used += p.email_len + 1;
    }
    wl->num = num;
    return 0;
NoMemory:
    bench_error("out of memory for a waitlist of %zu", num);
    bench_waitlist_dispose(wl);
    return -1;
}

static void state_path(char *out, size_t cap, const char *dir, const char *name)
{
    snprintf(out, cap, "%s/%s", dir, name);
}

int bench_waitlist_save_cursor(const bench_waitlist_t *wl)
{
    return wl->dir[0] == '\0' ? 0 : bench_write_counter(wl->dir, JOIN_CURSOR_FILE, wl->join_cursor);
}

int bench_waitlist_save(bench_waitlist_t *wl, const char *dir)
{
    char path[BENCH_POOL_PATH_BYTES + 16];
    FILE *f;

    if (strlen(dir) >= sizeof(wl->dir)) {
        bench_error("state directory path too long: %s", dir);
        return -1;
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        bench_error("cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    strcpy(wl->dir, dir);
    state_path(path, sizeof(path), dir, WAITLIST_FILE);
    if ((f = fopen(path, "w")) == NULL) {
        bench_error("cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    fprintf(f, "# invitegate-bench waitlist entries=%zu\n", wl->num);
    for (size_t i = 0; i != wl->num; ++i)
        fprintf(f, "%s\n", bench_waitlist_email(wl, i));
    if (fclose(f) != 0) {
        bench_error("cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    return bench_waitlist_save_cursor(wl);
}

int bench_waitlist_load(bench_waitlist_t *wl, const char *dir)
{
    char path[BENCH_POOL_PATH_BYTES + 16], line[IG_EMAIL_MAX_BYTES + 8];
    size_t header = 0, used = 0, cap;
    FILE *f;

    memset(wl, 0, sizeof(*wl));
    if (strlen(dir) >= sizeof(wl->dir)) {
        bench_error("state directory path too long: %s", dir);
        return -1;
    }
    strcpy(wl->dir, dir);
    /* The join cursor: absent until the first join (or seeding). */
    state_path(path, sizeof(path), dir, JOIN_CURSOR_FILE);
    if ((f = fopen(path, "r")) != NULL) {
        int read = fscanf(f, "%" SCNu64, &wl->join_cursor);
        fclose(f);
        if (read != 1) {
            bench_error("%s: not a cursor", path);
            return -1;
        }
    }
    state_path(path, sizeof(path), dir, WAITLIST_FILE);
    if ((f = fopen(path, "r")) == NULL) {
        if (errno == ENOENT)
            return 0;
        bench_error("cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    if (fgets(line, sizeof(line), f) == NULL || sscanf(line, "# invitegate-bench waitlist entries=%zu", &header) != 1) {
        bench_error("%s: not a waitlist file (bad header)", path);
        goto Fail;
    }
    cap = header * 32 + 64;
    wl->text = malloc(cap);
    wl->offsets = malloc((header + 1) * sizeof(*wl->offsets));
    if (wl->text == NULL || wl->offsets == NULL) {
        bench_error("out of memory for a waitlist of %zu", header);
        goto Fail;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        size_t len = strcspn(line, "\n");
        if (wl->num == header || len == 0) {
            bench_error("%s: bad line %zu", path, wl->num + 2);
            goto Fail;
        }
        line[len] = '\0';
        if (used + len + 1 > cap) {
            char *grown = realloc(wl->text, cap *= 2);
            if (grown == NULL) {
                bench_error("out of memory for a waitlist of %zu", header);
                goto Fail;
            }
            wl->text = grown;
        }
        wl->offsets[wl->num++] = used;
        memcpy(wl->text + used, line, len + 1);
        used += len + 1;
    }
    if (wl->num != header) {
        bench_error("%s: %zu entries, header says %zu", path, wl->num, header);
        goto Fail;
    }
    fclose(f);
    return 0;
Fail:
    if (f != NULL)
        fclose(f);
    bench_waitlist_dispose(wl);
    return -1;
}

void bench_waitlist_dispose(bench_waitlist_t *wl)
{
    free(wl->text);
    free(wl->offsets);
    wl->text = NULL;
    wl->offsets = NULL;
    wl->num = 0;
}

int bench_percent_encode(char *out, size_t cap, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;

    if (cap == 0)
        return -1;
    for (size_t i = 0; i != len; ++i) {
        unsigned char c = (unsigned char)s[i];
        int plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
                    c == '_' || c == '~';
        if (n + (plain ? 1 : 3) >= cap) {
            out[n] = '\0';
            return -1;
        }
        if (plain) {
            out[n++] = (char)c;
        } else {
            out[n++] = '%';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 15];
        }
    }
    out[n] = '\0';
    return (int)n;
}
