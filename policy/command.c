#include "command.h"
#include "sk-err.h"
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
        snprintf(err, errlen, "command is not valid UTF-8");
        return SK_ERR_INVALID;
    }
    for (j = 0; j < len; j++) {
        unsigned char c = (unsigned char)line[j];

        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            snprintf(err, errlen, "command contains control characters");
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
        snprintf(err, errlen, "unknown command or target");
        return SK_ERR_BAD_NAME;
    }
    memcpy(word, line + i, wl);
    word[wl] = '\0';
    i += wl;
    while (i < len && is_space(line[i])) {
        i++;
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
        snprintf(err, errlen, "unknown command or target");
        return SK_ERR_BAD_NAME;
    }
    memcpy(out->target, word, wl + 1);
    if (i == len) {
        out->kind = SK_CMD_SHELL;
        return 0;
    }
    if (len - i < 2 || line[i] != '-' || line[i + 1] != '-' ||
        (len - i > 2 && !is_space(line[i + 2]))) {
        snprintf(err, errlen, "usage: TARGET [-- COMMAND]");
        return SK_ERR_INVALID;
    }
    i += 2;
    while (i < len && is_space(line[i])) {
        i++;
    }
    if (i == len) {
        snprintf(err, errlen, "usage: TARGET -- COMMAND (command missing)");
        return SK_ERR_INVALID;
    }
    memcpy(out->remote, line + i, len - i);
    out->remote[len - i] = '\0';
    out->kind = SK_CMD_EXEC;
    return 0;
}
