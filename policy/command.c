#include "command.h"
#include "sk-err.h"
#include "i18n.h" /* N_: English here, shown translated */
#include "util.h"

#include <stdio.h>
#include <string.h>

static const char *reserved[] = {
    "targets", "help",    "request", "requests", "report", "passwd",
    "approve", "deny",    "signoff", "menu",     "exit",   "quit",
    "sessions", "whoami", "version",
};

int sk_cmd_reserved(const char *word)
{
    size_t i;

    for (i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
        if (strcmp(word, reserved[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* Copies the words from *i up to the next " --" option (or the end) into
 * out, trimmed. Returns 0, or -1 if empty or longer than outlen - 1. */
static int take_text(const char *line, size_t len, size_t *i, char *out,
                     size_t outlen)
{
    size_t s = *i, e = *i;

    while (e < len && !(e > s && is_space(line[e - 1]) && line[e] == '-' &&
                        e + 1 < len && line[e + 1] == '-')) {
        e++;
    }
    *i = e;
    while (e > s && is_space(line[e - 1])) {
        e--;
    }
    if (e == s || e - s >= outlen) {
        return -1;
    }
    memcpy(out, line + s, e - s);
    out[e - s] = '\0';
    return 0;
}

/* Next word at *i into out. Returns its length, 0 at the end, -1 if
 * longer than outlen - 1. */
static int take_word(const char *line, size_t len, size_t *i, char *out,
                     size_t outlen)
{
    size_t s, n;

    while (*i < len && is_space(line[*i])) {
        (*i)++;
    }
    s = *i;
    while (*i < len && !is_space(line[*i])) {
        (*i)++;
    }
    n = *i - s;
    while (*i < len && is_space(line[*i])) {
        (*i)++;
    }
    if (n >= outlen) {
        return -1;
    }
    memcpy(out, line + s, n);
    out[n] = '\0';
    return (int)n;
}

static int parse_id(const char *w, long long *id)
{
    long long v = 0;

    if (w[0] == '\0' || strlen(w) > 12) {
        return -1;
    }
    for (const char *p = w; *p; p++) {
        if (*p < '0' || *p > '9') {
            return -1;
        }
        v = v * 10 + (*p - '0');
    }
    *id = v;
    return v > 0 ? 0 : -1;
}

static int parse_request(const char *line, size_t len, size_t i,
                         struct sk_cmd *out, char *err, size_t errlen)
{
    char opt[16];
    int n;

    static const char *usage = N_("usage: request TARGET --reason TEXT "
                                  "[--start TIME] [--for DURATION] "
                                  "[--ticket ID]");

    if ((n = take_word(line, len, &i, out->target, sizeof(out->target))) <=
            0 ||
        !sk_name_valid(out->target) || sk_cmd_reserved(out->target)) {
        snprintf(err, errlen, "%s", usage);
        return SK_ERR_INVALID;
    }
    while (i < len) {
        char *dst;
        size_t dl;

        if (take_word(line, len, &i, opt, sizeof(opt)) <= 0) {
            snprintf(err, errlen, "%s", usage);
            return SK_ERR_INVALID;
        }
        if (strcmp(opt, "--reason") == 0) {
            dst = out->text;
            dl = sizeof(out->text);
        } else if (strcmp(opt, "--start") == 0) {
            dst = out->start;
            dl = sizeof(out->start);
        } else if (strcmp(opt, "--for") == 0) {
            dst = out->dur;
            dl = sizeof(out->dur);
        } else if (strcmp(opt, "--ticket") == 0) {
            dst = out->ticket;
            dl = sizeof(out->ticket);
        } else {
            snprintf(err, errlen, "request: unknown option (%s)", usage);
            return SK_ERR_INVALID;
        }
        if (dst[0] != '\0') {
            snprintf(err, errlen, "request: %s given twice", opt);
            return SK_ERR_INVALID;
        }
        if (take_text(line, len, &i, dst, dl) != 0) {
            snprintf(err, errlen, "request: %s needs a value (at most %zu "
                                  "bytes)",
                     opt, dl - 1);
            return SK_ERR_INVALID;
        }
    }
    if (out->text[0] == '\0') {
        snprintf(err, errlen, "request: --reason is required (%s)", usage);
        return SK_ERR_INVALID;
    }
    out->kind = SK_CMD_REQUEST;
    return 0;
}

/* report ID TEXT, approve ID, deny ID [TEXT], signoff ID [TEXT] */
static int parse_id_cmd(const char *word, const char *line, size_t len,
                        size_t i, struct sk_cmd *out, char *err,
                        size_t errlen)
{
    char w[16];
    int report = strcmp(word, "report") == 0;

    if (take_word(line, len, &i, w, sizeof(w)) <= 0 ||
        parse_id(w, &out->id) != 0) {
        snprintf(err, errlen, "usage: %s ID%s", word,
                 report ? " TEXT" : " [TEXT]");
        return SK_ERR_INVALID;
    }
    if (i < len) {
        size_t n = len - i;

        if (n > SK_CMD_TEXT_MAX) {
            snprintf(err, errlen, "%s: text longer than %d bytes", word,
                     SK_CMD_TEXT_MAX);
            return SK_ERR_TOO_LONG;
        }
        memcpy(out->text, line + i, n);
        out->text[n] = '\0';
    } else if (report) {
        snprintf(err, errlen, "%s",
                 N_("usage: report ID TEXT (what was done)"));
        return SK_ERR_INVALID;
    }
    if (strcmp(word, "approve") == 0 && out->text[0] != '\0') {
        snprintf(err, errlen, "%s", N_("usage: approve ID"));
        return SK_ERR_INVALID;
    }
    out->kind = report                         ? SK_CMD_REPORT
                : strcmp(word, "approve") == 0 ? SK_CMD_APPROVE
                : strcmp(word, "deny") == 0    ? SK_CMD_DENY
                                               : SK_CMD_SIGNOFF;
    return 0;
}

int sk_cmd_parse(const char *line, size_t len, struct sk_cmd *out, char *err,
                 size_t errlen)
{
    size_t i = 0, wl, j;
    char word[SK_NAME_MAX + 1];

    memset(out, 0, sizeof(*out));
    if (len > SK_CMD_MAX) {
        snprintf(err, errlen, "command longer than %d bytes", SK_CMD_MAX);
        return SK_ERR_TOO_LONG;
    }
    if (!sk_utf8_valid(line, len)) {
        snprintf(err, errlen, "%s", N_("command is not valid UTF-8"));
        return SK_ERR_INVALID;
    }
    for (j = 0; j < len; j++) {
        unsigned char c = (unsigned char)line[j];

        /* C0, DEL and the C1 controls (U+0080-U+009F, UTF-8 C2 80-9F):
         * a terminal acts on all of them, none belongs in a command, and
         * the command is shown to auditors (session show). */
        if ((c < 0x20 && c != '\t') || c == 0x7f ||
            (c == 0xc2 && j + 1 < len &&
             (unsigned char)line[j + 1] >= 0x80 &&
             (unsigned char)line[j + 1] <= 0x9f)) {
            snprintf(err, errlen, "%s",
                     N_("command contains control characters"));
            return SK_ERR_INVALID;
        }
    }
    while (i < len && is_space(line[i])) {
        i++;
    }
    while (len > i && is_space(line[len - 1])) {
        len--;
    }
    if (i == len) {
        out->kind = SK_CMD_MENU;
        return 0;
    }
    for (wl = 0; i + wl < len && !is_space(line[i + wl]); wl++) {
    }
    if (wl > SK_NAME_MAX) {
        snprintf(err, errlen, "%s", N_("unknown command or target"));
        return SK_ERR_BAD_NAME;
    }
    memcpy(word, line + i, wl);
    word[wl] = '\0';
    i += wl;
    while (i < len && is_space(line[i])) {
        i++;
    }
    if (strcmp(word, "request") == 0) {
        return parse_request(line, len, i, out, err, errlen);
    }
    if (strcmp(word, "report") == 0 || strcmp(word, "approve") == 0 ||
        strcmp(word, "deny") == 0 || strcmp(word, "signoff") == 0) {
        return parse_id_cmd(word, line, len, i, out, err, errlen);
    }
    if (strcmp(word, "requests") == 0) {
        if (i != len) {
            snprintf(err, errlen, "%s", N_("'requests' takes no arguments"));
            return SK_ERR_INVALID;
        }
        out->kind = SK_CMD_REQUESTS;
        return 0;
    }
    if (strcmp(word, "targets") == 0 || strcmp(word, "help") == 0 ||
        strcmp(word, "passwd") == 0) {
        if (i != len) {
            snprintf(err, errlen, "'%s' takes no arguments", word);
            return SK_ERR_INVALID;
        }
        out->kind = word[0] == 't'   ? SK_CMD_TARGETS
                    : word[0] == 'h' ? SK_CMD_HELP
                                     : SK_CMD_PASSWD;
        return 0;
    }
    if (sk_cmd_reserved(word)) {
        snprintf(err, errlen, "'%s' is not available on this gateway", word);
        return SK_ERR_INVALID;
    }
    if (!sk_name_valid(word)) {
        snprintf(err, errlen, "%s", N_("unknown command or target"));
        return SK_ERR_BAD_NAME;
    }
    memcpy(out->target, word, wl + 1);
    if (i == len) {
        out->kind = SK_CMD_SHELL;
        return 0;
    }
    if (len - i < 2 || line[i] != '-' || line[i + 1] != '-' ||
        (len - i > 2 && !is_space(line[i + 2]))) {
        snprintf(err, errlen, "%s", N_("usage: TARGET [-- COMMAND]"));
        return SK_ERR_INVALID;
    }
    i += 2;
    while (i < len && is_space(line[i])) {
        i++;
    }
    if (i == len) {
        snprintf(err, errlen, "%s",
                 N_("usage: TARGET -- COMMAND (command missing)"));
        return SK_ERR_INVALID;
    }
    memcpy(out->remote, line + i, len - i);
    out->remote[len - i] = '\0';
    out->kind = SK_CMD_EXEC;
    return 0;
}
