/*
 * The monitor's PAM bridge; see monitor-pam.h.
 */
#include "monitor-pam.h"
#include "audit.h"
#include "buf.h"
#include "i18n.h"
#include "ipc.h"
#include "log.h"
#include "methods.h"
#include "monitor.h"
#include "sk-err.h"
#include "util.h"
#include "auth/password.h"

#include <errno.h>
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <security/pam_appl.h>


/* Sends the prompts to the worker and waits for its answers. */
static int bridge_ask(struct pam_bridge *b, int n,
                      const struct pam_message **msg,
                      struct pam_response *resp)
{
    struct sk_buf out, in;
    uint32_t type, cnt;
    int r, i;

    sk_buf_init(&out);
    sk_buf_init(&in);
    r = sk_buf_put_u32(&out, (uint32_t)n);
    for (i = 0; r == 0 && i < n; i++) {
        /* Our module's prompts ("Password: ") are in the catalogue
         * (pam_sekisho.c marks them); other text passes unchanged. Before
         * login this is the gateway's language. */
        const char *t = msg[i]->msg != NULL ? sk_tr(msg[i]->msg) : "";
        char *shown = sk_utf8_repair(t, strlen(t) > 512 ? 512 : strlen(t));

        r = shown == NULL ? SK_ERR_ALLOC : 0;
        if (r == 0 && (r = sk_buf_put_u32(&out, (uint32_t)msg[i]->msg_style)) ==
                          0) {
            r = sk_buf_put_cstring(&out, shown);
        }
        free(shown);
    }
    if (r != 0 || sk_ipc_send(b->ipc, MON_PAM_PROMPTS, &out, NULL, 0) !=
                      0) {
        b->broken = 1;
        sk_buf_free(&out);
        return PAM_CONV_ERR;
    }
    sk_buf_free(&out);
    for (;;) {
        struct pollfd pfd = {b->ipc, POLLIN, 0};
        time_t now = time(NULL);
        int pr;

        if (now >= b->deadline) {
            b->broken = 1; /* grace time: the client never answered */
            return PAM_CONV_ERR;
        }
        pr = poll(&pfd, 1, (int)(b->deadline - now) * 1000);
        if (pr < 0 && errno == EINTR) {
            continue;
        }
        if (pr <= 0) {
            continue; /* the deadline check above ends it */
        }
        break;
    }
    if (sk_ipc_recv(b->ipc, &type, &in, NULL, NULL) != 0 ||
        type != MON_PAM_RESPONSES || sk_buf_get_u32(&in, &cnt) != 0 ||
        cnt != (uint32_t)n) {
        b->broken = 1;
        sk_buf_free(&in);
        return PAM_CONV_ERR;
    }
    for (i = 0; i < n; i++) {
        if (sk_buf_get_cstring(&in, &resp[i].resp, SK_PW_MAX) != 0) {
            b->broken = 1;
            sk_buf_free(&in);
            return PAM_CONV_ERR;
        }
    }
    sk_buf_free(&in);
    return PAM_SUCCESS;
}

static int mon_pam_conv(int n, const struct pam_message **msg,
                        struct pam_response **resp, void *appdata)
{
    struct pam_bridge *b = appdata;
    struct pam_response *r;
    int i, rc = PAM_SUCCESS;

    if (n <= 0 || n > 16) {
        return PAM_CONV_ERR;
    }
    if ((r = calloc((size_t)n, sizeof(*r))) == NULL) {
        return PAM_BUF_ERR;
    }
    if (b->interactive) {
        rc = bridge_ask(b, n, msg, r);
    } else {
        for (i = 0; i < n && rc == PAM_SUCCESS; i++) {
            int style = msg[i]->msg_style;

            if (style == PAM_PROMPT_ECHO_OFF || style == PAM_PROMPT_ECHO_ON) {
                /* First prompt: the password; second: the code (none can
                 * come with this method, so a second factor fails). */
                const char *a = b->answered == 0 ? b->pw
                                : b->answered == 1 ? b->code
                                                   : NULL;

                b->answered++;
                if (a == NULL || (r[i].resp = strdup(a)) == NULL) {
                    rc = PAM_CONV_ERR;
                }
            }
        }
    }
    if (rc != PAM_SUCCESS) {
        for (i = 0; i < n; i++) {
            if (r[i].resp != NULL) {
                sodium_memzero(r[i].resp, strlen(r[i].resp));
                free(r[i].resp);
            }
        }
        free(r);
        return rc;
    }
    *resp = r;
    return PAM_SUCCESS;
}

const char *mon_pam(struct pam_bridge *b, const char *user, char *why,
                    size_t whylen)
{
    struct pam_conv conv = {mon_pam_conv, b};
    pam_handle_t *ph = NULL;
    const char *env;
    int r, tries;

    r = pam_start_confdir(b->cfg->pam_service, user, &conv,
                          b->cfg->pam_dir, &ph);
    if (r != PAM_SUCCESS) {
        error_f("pam_start %s in %s: %s", b->cfg->pam_service,
                b->cfg->pam_dir, pam_strerror(ph, r));
        snprintf(why, whylen, "PAM unavailable");
        return why;
    }
    (void)pam_set_item(ph, PAM_RHOST, b->source);
    (void)pam_set_item(ph, PAM_RUSER, user);
    {
        /* What pam_sekisho is to ask (the method rule's choice); any
         * other stack must ask at least as much (docs/admin.md). */
        char fenv[80], f[64];

        sk_factors_format(b->ask, f, sizeof(f));
        snprintf(fenv, sizeof(fenv), "SEKISHO_FACTORS=%s", f);
        if (pam_putenv(ph, fenv) != PAM_SUCCESS) {
            pam_end(ph, PAM_BUF_ERR);
            snprintf(why, whylen, "PAM unavailable");
            return why;
        }
    }
    r = pam_authenticate(ph, PAM_DISALLOW_NULL_AUTHTOK);
    if (r == PAM_SUCCESS) {
        r = pam_acct_mgmt(ph, PAM_DISALLOW_NULL_AUTHTOK);
        if (r == PAM_NEW_AUTHTOK_REQD) {
            /* R-PW-3: right credentials, but the session starts only
             * after a new password that meets the policy. */
            logit("password of %s has expired: change required", user);
            (void)sk_audit("password_expired", "{s:s, s:s}", "user", user,
                           "source", b->source);
            for (tries = 0; tries < b->cfg->max_auth_tries && !b->broken &&
                            b->interactive;
                 tries++) {
                r = pam_chauthtok(ph, PAM_CHANGE_EXPIRED_AUTHTOK);
                if (r == PAM_SUCCESS) {
                    (void)sk_audit("password_changed", "{s:s, s:s, s:s}",
                                   "user", user, "source", b->source, "why",
                                   "expired");
                    break;
                }
                env = pam_getenv(ph, "SEKISHO_AUTH_REASON");
                (void)sk_audit("password_change_refused", "{s:s, s:s, s:s}",
                               "user", user, "source", b->source, "reason",
                               env != NULL ? env : pam_strerror(ph, r));
            }
            if (r != PAM_SUCCESS) {
                snprintf(why, whylen, "%s",
                         b->interactive ? "password change failed"
                                        : "password expired (this method "
                                          "cannot change it)");
                pam_end(ph, r);
                return why;
            }
        }
    }
    if (r != PAM_SUCCESS) {
        env = pam_getenv(ph, "SEKISHO_AUTH_REASON");
        snprintf(why, whylen, "%s",
                 b->broken          ? "no answer to the prompts"
                 : env != NULL      ? env
                                    : pam_strerror(ph, r));
        pam_end(ph, r);
        return why;
    }
    pam_end(ph, PAM_SUCCESS);
    return NULL;
}

/* The prompts a real round would show, answered into the void (with a
 * dummy hash check for even timing). */
void mon_fake_prompts(struct pam_bridge *b)
{
    struct pam_message p1 = {PAM_PROMPT_ECHO_OFF, N_("Password: ")},
                       p2 = {PAM_PROMPT_ECHO_OFF, N_("Verification code: ")};
    const struct pam_message *msg[2] = {&p1, &p2};
    struct pam_response *resp = NULL;
    int n = (b->ask & SK_F_PASSWORD) && (b->ask & SK_F_TOTP) ? 2 : 1;

    if (b->ask == SK_F_TOTP) {
        msg[0] = &p2;
    }
    if (mon_pam_conv(n, msg, &resp, b) == PAM_SUCCESS) {
        (void)sk_pw_verify(NULL, resp[0].resp ? resp[0].resp : "");
        for (int i = 0; i < n; i++) {
            if (resp[i].resp != NULL) {
                sodium_memzero(resp[i].resp, strlen(resp[i].resp));
                free(resp[i].resp);
            }
        }
        free(resp);
    } else {
        (void)sk_pw_verify(NULL, "");
    }
}
