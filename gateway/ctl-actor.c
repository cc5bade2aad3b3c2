/*
 * sekishoctl --actor NAME --via ssh: a gateway command run for a person
 * who logged in over SSH (gateway/gwcmd.c starts it from the monitor).
 *
 * The rule that keeps a root shell from masquerading: --actor is
 * accepted only from the monitor itself. The parent process must be the
 * installed sekisho-session (its /proc/PID/exe is the session program
 * this configuration names, or the one beside this sekishoctl), and
 * descriptor 3 must be a Unix socket created by that same process
 * (SO_PEERCRED). A root login typing `sekishoctl --actor alice` has a
 * shell for parent: refused with exit status 1 and audited
 * (actor_refused, with the invoking login), nothing run. (Root can
 * still do anything root can; it cannot do it under alice's name with
 * this program.) Then the person's role as it is now in the store must
 * be the one the command needs (sk_cmd_gw_check), checked here again
 * after the monitor did.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *actor_name; /* set once proven */

const char *ctl_actor(void)
{
    return actor_name;
}

/* Is descriptor 3 the monitor's socket, and our parent the monitor?
 * Returns NULL or why not. */
static const char *actor_unproven(void)
{
    struct ucred cr;
    socklen_t cl = sizeof(cr);
    char exe[PATH_MAX], self[PATH_MAX], want[PATH_MAX], path[64];
    ssize_t n;
    pid_t pp = getppid();

    if (getsockopt(3, SOL_SOCKET, SO_PEERCRED, &cr, &cl) != 0 ||
        cl != sizeof(cr)) {
        return N_("no monitor socket on descriptor 3");
    }
    if (cr.pid != pp || pp <= 1) {
        return N_("descriptor 3 is not the parent's socket");
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
    return NULL;
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
        /* role: from sk_cmd_gw_check, per subcommand (session kill is an
         * admin's, session list an auditor's): finer than the per-word
         * sk_roles_may table */
        sk_user_clear(&u);
        (void)sk_audit("command_refused", "{s:s, s:s, s:s, s:s}", "user",
                       actor, "command", cmd, "via", "ssh", "role_needed",
                       role);
        die("%s needs the %s role", argv[0], role);
    }
    sk_user_clear(&u);
    snprintf(admin, sizeof(admin), "%s", actor);
    actor_name = admin;
    /* A person's own act, not root's: audited under them, no break-glass,
     * and the self-checks (sk_roles_self_check) apply. */
    ctl_person = admin;
    break_glass = 0;
}
