/*
 * Parser for the SSH "command" a client sends to the gateway. The gateway
 * never hands this string to a shell: it is parsed here, purely, into one
 * of a few forms:
 *
 *   ""                      menu of allowed targets (needs a pty)
 *   TARGET                  interactive shell on TARGET
 *   TARGET -- CMD...        run CMD on TARGET (only where the grant allows)
 *   targets                 list allowed targets
 *   help                    usage
 *   passwd                  change the gateway password (needs a pty)
 *   request TARGET --reason TEXT [--start TIME] [--for DURATION]
 *           [--ticket ID]       ask for access (TEXT and TIME run to the
 *                               next --option)
 *   requests                list own requests (approvers: also pending)
 *   report ID TEXT          report the work done under request ID
 *   approve ID | deny ID [TEXT] | signoff ID [TEXT]   (approvers)
 *
 * and the gateway commands (SK_CMD_GATEWAY), run as the sekishoctl
 * subcommand of the same name under the person's own name (gateway/
 * gwcmd.c), each for the role the duty table gives it (policy/roles.h
 * sk_duties, read through sk_cmd_gw_check):
 *
 *   auditor  sessions [ARGS] (= session list), session list|show|watch,
 *            watch ID (= session watch ID), verify, replay, search,
 *            export (to stdout only), audit show|verify
 *   admin    user, target, group, grant, session kill,
 *            request list|show|approve|deny|signoff,
 *            report privileges|inspection
 *
 * A gateway command's arguments are split on blanks as a shell would
 * split plain words, with '...' (literal) and "..." (\" and \\ escapes)
 * quoting; nothing else is special (no variables, globs, redirections).
 * `request` followed by list/show/approve/deny/signoff and `report`
 * followed by anything but a request number are the admin forms; so
 * those five words are reserved too.
 *
 * Command words are reserved and can never be target names.
 */
#ifndef SK_POLICY_COMMAND_H
#define SK_POLICY_COMMAND_H

#include <stddef.h>

#define SK_CMD_MAX 4096 /* longest command line accepted */

enum sk_cmd_kind {
    SK_CMD_MENU = 0,
    SK_CMD_SHELL,
    SK_CMD_EXEC,
    SK_CMD_TARGETS,
    SK_CMD_HELP,
    SK_CMD_PASSWD,
    SK_CMD_REQUEST,
    SK_CMD_REQUESTS,
    SK_CMD_REPORT,
    SK_CMD_APPROVE,
    SK_CMD_DENY,
    SK_CMD_SIGNOFF,
    SK_CMD_GATEWAY, /* a sekishoctl subcommand: argc/argbuf, role */
};

#define SK_CMD_ARGS_MAX 48 /* words of a gateway command */

#define SK_CMD_TEXT_MAX 1000

struct sk_cmd {
    enum sk_cmd_kind kind;
    char target[33];   /* SK_CMD_SHELL, SK_CMD_EXEC */
    char remote[SK_CMD_MAX + 1]; /* SK_CMD_EXEC: the command for the target */
    long long id;                 /* request id (report, approve, ...) */
    char text[SK_CMD_TEXT_MAX + 1]; /* reason, report or comment */
    char start[64];               /* request --start, "" if none */
    char dur[32];                 /* request --for, "" if none */
    char ticket[65];              /* request --ticket, "" if none */
    /* SK_CMD_GATEWAY: the sekishoctl argv (subcommand first, mapped:
     * "sessions" becomes "session list"), words NUL-terminated in
     * argbuf at argoff[i]; read them with sk_cmd_arg. */
    int argc;
    unsigned short argoff[SK_CMD_ARGS_MAX];
    char argbuf[SK_CMD_MAX + 32];
    char role[16]; /* the role it needs ("auditor", "admin") */
};

/* Parses len bytes at line (not NUL-terminated). Returns 0 and fills out,
 * or SK_ERR_TOO_LONG / SK_ERR_INVALID / SK_ERR_BAD_NAME with a message for
 * the user in err (which never echoes control characters), in the
 * language _() speaks at the call (gateway/core/i18n.h): a caller that
 * records it calls once under sk_i18n_english() for the English. */
int sk_cmd_parse(const char *line, size_t len, struct sk_cmd *out, char *err,
                 size_t errlen);

/* Word i (0 <= i < c->argc) of a gateway command, or NULL. */
const char *sk_cmd_arg(const struct sk_cmd *c, int i);

/* The rule for a sekishoctl argv run on a person's behalf (over SSH):
 * the subcommands a role may run (the duty table's sekishoctl rows,
 * sk_duty_find) and the options it may not use there
 * (those naming a file on the gateway, -o, --passphrase-file,
 * --host-key-file, `user key add NAME FILE`, and --as, which would act
 * as someone else). Used by the parser and again by sekishoctl for
 * --actor. Returns 0 and sets *role to the role needed (static string),
 * or SK_ERR_INVALID with a message for the user in err (in the language
 * _() speaks, as for sk_cmd_parse). Pure. */
int sk_cmd_gw_check(int argc, const char *const *argv, const char **role,
                    char *err, size_t errlen);

/* 1 if len bytes at s hold a control character other than TAB: C0, DEL
 * or C1 (UTF-8 C2 80-9F). What the parser refuses, and what the monitor
 * checks again in the words a worker sends. */
int sk_cmd_has_controls(const char *s, size_t len);

/* 1 if word is reserved for a gateway command (so not a target name). */
int sk_cmd_reserved(const char *word);

#endif
