#include "command.h"
#include "roles.h"
#include "sk-err.h"
#include "i18n.h" /* N_: English here, shown translated */
#include "util.h"

#include <stdio.h>
#include <string.h>

static const char *reserved[] = {
    "targets", "help",    "request", "requests", "report", "passwd",
    "approve", "deny",    "signoff", "menu",     "exit",   "quit",
    "sessions", "whoami", "version",
    /* gateway commands (sekishoctl subcommands), and the sub-words that
     * make `request` an admin command */
    "session", "verify", "replay", "watch", "search", "audit", "export",
    "user", "target", "group", "grant", "list", "show",
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
        snprintf(err, errlen, "%s", _(usage));
        return SK_ERR_INVALID;
    }
    while (i < len) {
        char *dst;
        size_t dl;

        if (take_word(line, len, &i, opt, sizeof(opt)) <= 0) {
            snprintf(err, errlen, "%s", _(usage));
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
            snprintf(err, errlen, _("request: unknown option (%s)"), _(usage));
            return SK_ERR_INVALID;
        }
        if (dst[0] != '\0') {
            snprintf(err, errlen, _("request: %s given twice"), opt);
            return SK_ERR_INVALID;
        }
        if (take_text(line, len, &i, dst, dl) != 0) {
            snprintf(err, errlen,
                     _("request: %s needs a value (at most %zu "
                       "bytes)"),
                     opt, dl - 1);
            return SK_ERR_INVALID;
        }
    }
    if (out->text[0] == '\0') {
        snprintf(err, errlen, _("request: --reason is required (%s)"),
                 _(usage));
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
        snprintf(err, errlen, _("usage: %s ID%s"), word,
                 report ? " TEXT" : " [TEXT]");
        return SK_ERR_INVALID;
    }
    if (i < len) {
        size_t n = len - i;

        if (n > SK_CMD_TEXT_MAX) {
            snprintf(err, errlen, _("%s: text longer than %d bytes"), word,
                     SK_CMD_TEXT_MAX);
            return SK_ERR_TOO_LONG;
        }
        memcpy(out->text, line + i, n);
        out->text[n] = '\0';
    } else if (report) {
        snprintf(err, errlen, "%s", _("usage: report ID TEXT (what was done)"));
        return SK_ERR_INVALID;
    }
    if (strcmp(word, "approve") == 0 && out->text[0] != '\0') {
        snprintf(err, errlen, "%s", _("usage: approve ID"));
        return SK_ERR_INVALID;
    }
    out->kind = report                         ? SK_CMD_REPORT
                : strcmp(word, "approve") == 0 ? SK_CMD_APPROVE
                : strcmp(word, "deny") == 0    ? SK_CMD_DENY
                                               : SK_CMD_SIGNOFF;
    return 0;
}

const char *sk_cmd_arg(const struct sk_cmd *c, int i)
{
    if (c == NULL || i < 0 || i >= c->argc || i >= SK_CMD_ARGS_MAX) {
        return NULL;
    }
    return c->argbuf + c->argoff[i];
}

/* Appends one word to the gateway argv. Returns 0 or -1 (full). */
static int gw_push(struct sk_cmd *out, size_t *used, const char *w, size_t n)
{
    if (out->argc >= SK_CMD_ARGS_MAX || *used + n + 1 > sizeof(out->argbuf)) {
        return -1;
    }
    memcpy(out->argbuf + *used, w, n);
    out->argbuf[*used + n] = '\0';
    out->argoff[out->argc++] = (unsigned short)*used;
    *used += n + 1;
    return 0;
}

/*
 * Splits line[i..len) into words like a shell splits plain words: blanks
 * separate, '...' is literal, "..." keeps blanks and takes \" and \\ as
 * escapes; adjacent pieces join ("a"'b'c is one word). Nothing else is
 * special: the words go to execv, never to a shell.
 */
static int gw_split(const char *line, size_t len, size_t i,
                    struct sk_cmd *out, size_t *used, char *err,
                    size_t errlen)
{
    char word[SK_CMD_MAX + 1];

    while (i < len) {
        size_t n = 0;
        int have = 0;

        while (i < len && is_space(line[i])) {
            i++;
        }
        if (i == len) {
            break;
        }
        while (i < len && !is_space(line[i])) {
            char q = line[i];

            have = 1;
            if (q == '\'' || q == '"') {
                i++;
                while (i < len && line[i] != q) {
                    if (q == '"' && line[i] == '\\' && i + 1 < len &&
                        (line[i + 1] == '"' || line[i + 1] == '\\')) {
                        i++;
                    }
                    word[n++] = line[i++];
                }
                if (i == len) {
                    snprintf(err, errlen, _("unterminated %c quote"), q);
                    return SK_ERR_INVALID;
                }
                i++; /* the closing quote */
            } else {
                word[n++] = line[i++];
            }
        }
        if (have && gw_push(out, used, word, n) != 0) {
            snprintf(err, errlen, _("too many words (at most %d)"),
                     SK_CMD_ARGS_MAX);
            return SK_ERR_TOO_LONG;
        }
    }
    return 0;
}

/* Options that name a file on the gateway (read or written as root) or
 * another person: never on someone's behalf. */
static const char *gw_banned[] = {
    "-o", "--output", "--passphrase-file", "--host-key-file", "--as",
};

int sk_cmd_gw_check(int argc, const char *const *argv, const char **role,
                    char *err, size_t errlen)
{
    const struct sk_duty *d;
    size_t k;

    *role = NULL;
    if (argc < 1 || argv[0] == NULL) {
        snprintf(err, errlen, _("no command"));
        return SK_ERR_INVALID;
    }
    for (int a = 1; a < argc; a++) {
        for (k = 0; k < sizeof(gw_banned) / sizeof(gw_banned[0]); k++) {
            if (strcmp(argv[a], gw_banned[k]) == 0) {
                snprintf(err, errlen,
                         _("%s: %s is not available over SSH "
                           "(it names a file on the gateway or "
                           "another person)"),
                         argv[0], gw_banned[k]);
                return SK_ERR_INVALID;
            }
        }
    }
    /* user key add NAME FILE|-: only "-" (the key on stdin). */
    if (argc >= 5 && strcmp(argv[0], "user") == 0 &&
        strcmp(argv[1], "key") == 0 && strcmp(argv[2], "add") == 0 &&
        strcmp(argv[4], "-") != 0) {
        snprintf(err, errlen,
                 _("user key add: over SSH the key comes on "
                   "standard input: user key add NAME -"));
        return SK_ERR_INVALID;
    }
    /* Which role runs what: the one duty table (policy/roles.h). Rows of
     * the parser's own commands (approve, ...) are no sekishoctl argv. */
    if ((d = sk_duty_find(argc, argv)) != NULL && d->sekishoctl) {
        *role = d->role;
        return 0;
    }
    snprintf(err, errlen, _("'%s%s%s' is not a gateway command"), argv[0],
             argc >= 2 ? " " : "", argc >= 2 ? argv[1] : "");
    return SK_ERR_INVALID;
}

/* A gateway command: word (already read) and the rest at line[i..len). */
static int parse_gateway(const char *word, const char *line, size_t len,
                         size_t i, struct sk_cmd *out, char *err,
                         size_t errlen)
{
    const char *argv[SK_CMD_ARGS_MAX];
    const char *role = NULL;
    size_t used = 0;
    int r;

    out->argc = 0;
    if (strcmp(word, "sessions") == 0) {
        r = gw_push(out, &used, "session", 7) | gw_push(out, &used, "list", 4);
    } else if (strcmp(word, "watch") == 0) {
        r = gw_push(out, &used, "session", 7) |
            gw_push(out, &used, "watch", 5);
    } else {
        r = gw_push(out, &used, word, strlen(word));
    }
    if (r != 0) {
        snprintf(err, errlen, _("command too long"));
        return SK_ERR_TOO_LONG;
    }
    if ((r = gw_split(line, len, i, out, &used, err, errlen)) != 0) {
        return r;
    }
    for (int a = 0; a < out->argc; a++) {
        argv[a] = sk_cmd_arg(out, a);
    }
    if ((r = sk_cmd_gw_check(out->argc, argv, &role, err, errlen)) != 0) {
        return r;
    }
    snprintf(out->role, sizeof(out->role), "%s", role);
    out->kind = SK_CMD_GATEWAY;
    return 0;
}

/* A first word that starts a gateway command: the aliases, and every
 * sekishoctl command of the duty table except request and report, whose
 * admin forms the next word decides (admin_form). */
static int is_gateway_word(const char *word)
{
    const struct sk_duty *d;
    size_t n, k;

    if (strcmp(word, "sessions") == 0 || strcmp(word, "watch") == 0) {
        return 1;
    }
    if (strcmp(word, "request") == 0 || strcmp(word, "report") == 0) {
        return 0;
    }
    d = sk_duties(&n);
    for (k = 0; k < n; k++) {
        if (d[k].sekishoctl && strcmp(word, d[k].command) == 0) {
            return 1;
        }
    }
    return 0;
}

/* `request list|show|...` and `report privileges|...`: the word after
 * the command decides (a target name cannot be one of those words; a
 * request number is all digits). */
static int admin_form(const char *word, const char *line, size_t len,
                      size_t i)
{
    char next[16];
    size_t n = 0;

    while (i + n < len && !is_space(line[i + n]) && n < sizeof(next) - 1) {
        next[n] = line[i + n];
        n++;
    }
    next[n] = '\0';
    if (strcmp(word, "request") == 0) {
        return strcmp(next, "list") == 0 || strcmp(next, "show") == 0 ||
               strcmp(next, "approve") == 0 || strcmp(next, "deny") == 0 ||
               strcmp(next, "signoff") == 0;
    }
    return n > 0 && (next[0] < '0' || next[0] > '9');
}

int sk_cmd_has_controls(const char *s, size_t len)
{
    size_t j;

    for (j = 0; j < len; j++) {
        unsigned char c = (unsigned char)s[j];

        /* C0, DEL and the C1 controls (U+0080-U+009F, UTF-8 C2 80-9F):
         * a terminal acts on all of them, none belongs in a command, and
         * the command is shown to auditors (session show). */
        if ((c < 0x20 && c != '\t') || c == 0x7f ||
            (c == 0xc2 && j + 1 < len && (unsigned char)s[j + 1] >= 0x80 &&
             (unsigned char)s[j + 1] <= 0x9f)) {
            return 1;
        }
    }
    return 0;
}

int sk_cmd_parse(const char *line, size_t len, struct sk_cmd *out, char *err,
                 size_t errlen)
{
    size_t i = 0, wl;
    char word[SK_NAME_MAX + 1];

    memset(out, 0, sizeof(*out));
    if (len > SK_CMD_MAX) {
        snprintf(err, errlen, _("command longer than %d bytes"), SK_CMD_MAX);
        return SK_ERR_TOO_LONG;
    }
    if (!sk_utf8_valid(line, len)) {
        snprintf(err, errlen, "%s", _("command is not valid UTF-8"));
        return SK_ERR_INVALID;
    }
    if (sk_cmd_has_controls(line, len)) {
        snprintf(err, errlen, "%s", _("command contains control characters"));
        return SK_ERR_INVALID;
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
        snprintf(err, errlen, "%s", _("unknown command or target"));
        return SK_ERR_BAD_NAME;
    }
    memcpy(word, line + i, wl);
    word[wl] = '\0';
    i += wl;
    while (i < len && is_space(line[i])) {
        i++;
    }
    if (is_gateway_word(word) ||
        ((strcmp(word, "request") == 0 || strcmp(word, "report") == 0) &&
         admin_form(word, line, len, i))) {
        return parse_gateway(word, line, len, i, out, err, errlen);
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
            snprintf(err, errlen, "%s", _("'requests' takes no arguments"));
            return SK_ERR_INVALID;
        }
        out->kind = SK_CMD_REQUESTS;
        return 0;
    }
    if (strcmp(word, "targets") == 0 || strcmp(word, "help") == 0 ||
        strcmp(word, "passwd") == 0) {
        if (i != len) {
            snprintf(err, errlen, _("'%s' takes no arguments"), word);
            return SK_ERR_INVALID;
        }
        out->kind = word[0] == 't'   ? SK_CMD_TARGETS
                    : word[0] == 'h' ? SK_CMD_HELP
                                     : SK_CMD_PASSWD;
        return 0;
    }
    if (sk_cmd_reserved(word)) {
        snprintf(err, errlen, _("'%s' is not available on this gateway"), word);
        return SK_ERR_INVALID;
    }
    if (!sk_name_valid(word)) {
        snprintf(err, errlen, "%s", _("unknown command or target"));
        return SK_ERR_BAD_NAME;
    }
    memcpy(out->target, word, wl + 1);
    if (i == len) {
        out->kind = SK_CMD_SHELL;
        return 0;
    }
    if (len - i < 2 || line[i] != '-' || line[i + 1] != '-' ||
        (len - i > 2 && !is_space(line[i + 2]))) {
        snprintf(err, errlen, "%s", _("usage: TARGET [-- COMMAND]"));
        return SK_ERR_INVALID;
    }
    i += 2;
    while (i < len && is_space(line[i])) {
        i++;
    }
    if (i == len) {
        snprintf(err, errlen, "%s",
                 _("usage: TARGET -- COMMAND (command missing)"));
        return SK_ERR_INVALID;
    }
    memcpy(out->remote, line + i, len - i);
    out->remote[len - i] = '\0';
    out->kind = SK_CMD_EXEC;
    return 0;
}
