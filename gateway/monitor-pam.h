/*
 * The monitor's PAM bridge (monitor-pam.c): pam_start_confdir (service
 * pam_service in pam_dir), authenticate, account, the change of an
 * expired password, and the conversation function.
 *
 * The conversation is bridged to the worker: interactively (keyboard-
 * interactive: every prompt goes to the client as an INFO_REQUEST and the
 * monitor blocks for the worker's MON_PAM_RESPONSES), or, for the bare
 * "password" method, answered from the password given.
 */
#ifndef SK_MONITOR_PAM_H
#define SK_MONITOR_PAM_H

#include "config.h"

#include <time.h>

/* One authentication round, filled by the caller (zeroed, then ipc, cfg,
 * source, deadline, ask, and pw/code or interactive); the bridge sets
 * answered and broken. Nothing here is owned: every pointer is the
 * caller's and outlives the round. */
struct pam_bridge {
    int ipc;                     /* the worker's socket (interactive) */
    const struct sk_config *cfg; /* pam_service, pam_dir, max_auth_tries */
    const char *source;          /* the client address: PAM_RHOST, audit */
    int interactive;
    const char *pw; /* non-interactive: answers to echo-off prompts */
    const char *code;
    int answered;
    int broken; /* the worker misbehaved or went away */
    time_t deadline;
    unsigned ask; /* the factors (SK_F_PAM bits) this round proves */
    const char *rule_error; /* from mon_rule_for: nobody may pass (the
                             * caller's; the bridge only carries it) */
};

/* Runs the PAM transaction for user. Returns NULL if authenticated (and
 * the account usable, after a password change if one was required), else
 * the reason for the audit log. */
const char *mon_pam(struct pam_bridge *b, const char *user, char *why,
                    size_t whylen);

/* Standard prompts answered by nobody's rules: a refused client sees
 * the same exchange as any other. */
void mon_fake_prompts(struct pam_bridge *b);

#endif
