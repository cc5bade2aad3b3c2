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
};

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
};

/* Parses len bytes at line (not NUL-terminated). Returns 0 and fills out,
 * or SK_ERR_TOO_LONG / SK_ERR_INVALID / SK_ERR_BAD_NAME with a message for
 * the user in err (which never echoes control characters). */
int sk_cmd_parse(const char *line, size_t len, struct sk_cmd *out, char *err,
                 size_t errlen);

/* 1 if word is reserved for a gateway command (so not a target name). */
int sk_cmd_reserved(const char *word);

#endif
