/*
 * sekishoctl --actor NAME --via ssh: a gateway command run for a person
 * who logged in over SSH (gateway/gwcmd.c starts it from the monitor).
 *
 * The rule that keeps a root shell from masquerading: --actor is
 * accepted only from the monitor itself. The parent process must be the
 * installed sekisho-session (its /proc/PID/exe is the session program
 * this configuration names, or the one beside this sekishoctl),
 * descriptor 3 must be a Unix socket created by that same process
 * (SO_PEERCRED), and that process must answer, over it, a question this
 * program asks first thing with a nonce drawn after exec (ctl_actor_ask,
 * util.h sk_actor_proof): only a monitor that has just started this
 * command for this person with these words answers it (gwcmd.c). A root
 * login typing `sekishoctl --actor alice` has a shell for parent; one
 * that makes the socket, forks and execs the real sekisho-session in the
 * parent so that it looks like the monitor gets no answer. Both are
 * refused with exit status 1 and audited (actor_refused, with the
 * invoking login), nothing run. (Root can still do anything root can,
 * and a debugger in a running monitor is root's too; it cannot act under
 * alice's name with this program by hand.) Then the person's role as it
 * is now in the store must be the one the command needs
 * (sk_cmd_gw_check), checked here again after the monitor did.
 */
#include "audit.h"
#include "i18n.h"
#include "log.h"
#include "sk-err.h"
#include "util.h"

#include "policy/command.h"
#include "policy/roles.h"

#include "ctl.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "egress.h" /* sk_mono_ms, sk_read_deadline */

static const char *actor_name; /* set once proven */
/* the command line, for refusals audited after ctl_actor_begin */
static char actor_cmd[512];
/* ctl_actor_ask's verdict: NULL once the parent answered (fail closed:
 * not asked is not proven). */
static const char *ask_why = N_("no proof asked");

/* Descriptor 3 a socket our parent made? NULL or why not. */
static const char *peer_is_parent(void)
{
    struct ucred cr;
    socklen_t cl = sizeof(cr);
    pid_t pp = getppid();

    if (getsockopt(3, SOL_SOCKET, SO_PEERCRED, &cr, &cl) != 0 ||
        cl != sizeof(cr)) {
        return N_("no monitor socket on descriptor 3");
    }
    if (cr.pid != pp || pp <= 1) {
        return N_("descriptor 3 is not the parent's socket");
    }
    return NULL;
}

void ctl_actor_ask(const char *actor, int argc, char **argv)
{
    uint8_t ask[SK_ACTOR_ASK_LEN], ans[32], want[32];

    if ((ask_why = peer_is_parent()) != NULL) {
        return; /* no question to a stranger's socket: fails at once */
    }
    ask_why = N_("the parent did not answer the proof (not the monitor "
                 "that started this command)");
    if (sodium_init() < 0) {
        return;
    }
    memcpy(ask, SK_ACTOR_MAGIC, SK_ACTOR_MAGIC_LEN);
    randombytes_buf(ask + SK_ACTOR_MAGIC_LEN, 32);
    /* The monitor waits for this right after the fork; 10 s covers a
     * loaded machine. MSG_NOSIGNAL: a closed peer is a refusal, not a
     * SIGPIPE. */
    if (send(3, ask, sizeof(ask), MSG_NOSIGNAL) != (ssize_t)sizeof(ask) ||
        sk_read_deadline(3, ans, sizeof(ans), sk_mono_ms() + 10000) != 0 ||
        sk_actor_proof(ask + SK_ACTOR_MAGIC_LEN, actor, argc,
                       (const char *const *)argv, want) != 0) {
        return;
    }
    if (sodium_memcmp(ans, want, sizeof(want)) == 0) {
        ask_why = NULL;
    }
}

const char *ctl_actor(void)
{
    return actor_name;
}

void ctl_actor_refused(const char *reason)
{
    if (actor_name == NULL) {
        return;
    }
    (void)sk_audit("command_refused", "{s:s, s:s, s:s, s:s}", "user",
                   actor_name, "command", actor_cmd, "via", "ssh", "reason",
                   reason);
}

/* Is descriptor 3 the monitor's socket, and our parent the monitor?
 * Returns NULL or why not. */
static const char *actor_unproven(void)
{
    char exe[PATH_MAX], self[PATH_MAX], want[PATH_MAX], path[64];
    const char *why;
    ssize_t n;
    pid_t pp = getppid();

    if ((why = peer_is_parent()) != NULL) {
        return why;
    }
    snprintf(path, sizeof(path), "/proc/%ld/exe", (long)pp);
    if ((n = readlink(path, exe, sizeof(exe) - 1)) < 0) {
        return N_("parent program unknown");
    }
    exe[n] = '\0';
    if (cfg->session_program != NULL) {
        snprintf(want, sizeof(want), "%s", cfg->session_program);
    } else {
        if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) < 0) {
            return N_("own program unknown");
        }
        self[n] = '\0';
        snprintf(want, sizeof(want), "%s/sekisho-session", dirname(self));
    }
    if (strcmp(exe, want) != 0) {
        return N_("parent is not sekisho-session");
    }
    return ask_why;
}

/* The invoking login, for the refusal line: loginuid and SUDO_USER. */
static void invoker(char *out, size_t outlen)
{
    FILE *f = fopen("/proc/self/loginuid", "r");
    unsigned long uid = 4294967295UL;

    if (f != NULL) {
        if (fscanf(f, "%lu", &uid) != 1) {
            uid = 4294967295UL;
        }
        fclose(f);
    }
    if (uid == 4294967295UL) {
        snprintf(out, outlen, "%s", admin);
    } else {
        snprintf(out, outlen, "%s loginuid=%lu", admin, uid);
    }
}

static void join_argv(int argc, char **argv, char *out, size_t outlen)
{
    size_t o = 0;

    out[0] = '\0';
    for (int a = 0; a < argc && o + 1 < outlen; a++) {
        int n = snprintf(out + o, outlen - o, "%s%s", a ? " " : "", argv[a]);

        if (n < 0) {
            break;
        }
        o += (size_t)n;
    }
    if (o >= outlen) {
        o = outlen - 1;
    }
    /* the audit line wants UTF-8; a cut may split a character */
    while (o > 0 && !sk_utf8_valid(out, o)) {
        out[--o] = '\0';
    }
}

void ctl_actor_begin(const char *actor, int argc, char **argv)
{
    char who[128], cmd[512], err[256];
    const char *why, *role = NULL;
    struct sk_user u;
    int r;

    join_argv(argc, argv, cmd, sizeof(cmd));
    if ((why = actor_unproven()) != NULL) {
        invoker(who, sizeof(who));
        (void)sk_audit("actor_refused", "{s:s, s:s, s:s, s:s}", "admin", who,
                       "actor", actor, "command", cmd, "reason", why);
        die("--actor is for the gateway's own session process only (%s)",
            sk_tr(why));
    }
    (void)close(3);
    check_name("user", actor);
    {
        /* English for the audit line, the person's language to them */
        const char *lang = sk_i18n_english();

        r = sk_cmd_gw_check(argc, (const char *const *)argv, &role, err,
                            sizeof(err));
        (void)sk_i18n_use(lang);
    }
    if (r != 0) {
        (void)sk_audit("command_refused", "{s:s, s:s, s:s, s:s}", "user",
                       actor, "command", cmd, "via", "ssh", "reason", err);
        (void)sk_cmd_gw_check(argc, (const char *const *)argv, &role, err,
                              sizeof(err));
        die("%s", err);
    }
    /* Nobody grants themselves access or roles (R-AC-3): another admin
     * does, or root's break-glass, audited as such. */
    if (argc >= 3 && strcmp(argv[2], actor) == 0 &&
        ((strcmp(argv[0], "grant") == 0 && strcmp(argv[1], "add") == 0) ||
         (strcmp(argv[0], "user") == 0 && strcmp(argv[1], "role") == 0))) {
        (void)sk_audit("command_refused", "{s:s, s:s, s:s, s:s}", "user",
                       actor, "command", cmd, "via", "ssh", "reason",
                       "own access or roles");
        die("%s %s: not for yourself (ask another admin)", argv[0],
            argv[1]);
    }
    memset(&u, 0, sizeof(u));
    r = sk_store_user_get(store, actor, &u);
    if (r != 0 || u.removed != 0 || u.status != SK_USER_ACTIVE ||
        !sk_roles_has(u.role, role)) {
        /* role: from sk_cmd_gw_check, which reads the one duty table
         * (policy/roles.h) per subcommand: session kill is an admin's,
         * session list an auditor's */
        sk_user_clear(&u);
        (void)sk_audit("command_refused", "{s:s, s:s, s:s, s:s}", "user",
                       actor, "command", cmd, "via", "ssh", "role_needed",
                       role);
        die("%s needs the %s role", argv[0], role);
    }
    sk_user_clear(&u);
    snprintf(actor_cmd, sizeof(actor_cmd), "%s", cmd);
    snprintf(admin, sizeof(admin), "%s", actor);
    actor_name = admin;
    /* A person's own act, not root's: audited under them, no break-glass,
     * and the self-checks (sk_roles_self_check) apply. */
    ctl_person = admin;
    break_glass = 0;
}
