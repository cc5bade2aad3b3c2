/*
 * sk-probe HOST PORT STEP...: one SSH connection, then each step in turn,
 * printing one line per step ("STEP: RESULT ..."); exit 0 unless the
 * connection or a step could not be carried out at all. Steps:
 *
 *   none:USER                  the "none" request; prints the methods
 *   password:USER:PW           the bare password method
 *   kbd:USER:ANSWER            keyboard-interactive; every prompt of every
 *                              round gets ANSWER; prints the prompts seen
 *   keyprobe:USER:PUBFILE      a key offered without signature
 *   key:USER:PRIVFILE          a key with signature
 *   pty:COLS:ROWS              opens the session channel, asks for a pty
 *   resize:COLS:ROWS           a window-change on it
 *   exec:COMMAND               runs COMMAND on the channel, prints output
 *
 * Test tool only: no host key check (loopback gateway under test).
 */
#include <libssh/libssh.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *auth_word(int rc)
{
    switch (rc) {
    case SSH_AUTH_SUCCESS:
        return "success";
    case SSH_AUTH_PARTIAL:
        return "partial";
    case SSH_AUTH_DENIED:
        return "denied";
    case SSH_AUTH_AGAIN:
        return "again";
    default:
        return "error";
    }
}

static void print_methods(ssh_session s)
{
    int m = ssh_userauth_list(s, NULL);

    printf(" methods=%s%s%s",
           (m & SSH_AUTH_METHOD_PUBLICKEY) ? "publickey," : "",
           (m & SSH_AUTH_METHOD_INTERACTIVE) ? "keyboard-interactive," : "",
           (m & SSH_AUTH_METHOD_PASSWORD) ? "password," : "");
}

static int step_kbd(ssh_session s, const char *user, const char *answer)
{
    int rc, rounds = 0;

    printf("kbd:");
    while ((rc = ssh_userauth_kbdint(s, user, NULL)) == SSH_AUTH_INFO &&
           rounds++ < 8) {
        int n = ssh_userauth_kbdint_getnprompts(s);

        for (int i = 0; i < n; i++) {
            char echo = 0;
            const char *p = ssh_userauth_kbdint_getprompt(s, (unsigned)i,
                                                          &echo);

            printf(" prompt=[%s]", p ? p : "");
            if (ssh_userauth_kbdint_setanswer(s, (unsigned)i, answer) < 0) {
                return -1;
            }
        }
        if (n == 0) {
            printf(" prompt=none");
        }
    }
    printf(" %s", auth_word(rc));
    print_methods(s);
    printf("\n");
    return rc == SSH_AUTH_ERROR ? -1 : 0;
}

int main(int argc, char **argv)
{
    ssh_session s = NULL;
    ssh_channel ch = NULL;
    int port, verb = SSH_LOG_NOLOG, rc = 1;

    if (argc < 4) {
        fprintf(stderr, "usage: sk-probe HOST PORT STEP...\n");
        return 2;
    }
    port = atoi(argv[2]);
    if ((s = ssh_new()) == NULL ||
        ssh_options_set(s, SSH_OPTIONS_HOST, argv[1]) != 0 ||
        ssh_options_set(s, SSH_OPTIONS_PORT, &port) != 0 ||
        ssh_options_set(s, SSH_OPTIONS_LOG_VERBOSITY, &verb) != 0 ||
        ssh_options_set(s, SSH_OPTIONS_USER, "probe") != 0 ||
        ssh_connect(s) != SSH_OK) {
        fprintf(stderr, "connect: %s\n", s ? ssh_get_error(s) : "no memory");
        goto out;
    }
    for (int i = 3; i < argc; i++) {
        char *a = strdup(argv[i]), *kind, *x, *y;

        if (a == NULL) {
            goto out;
        }
        kind = strtok(a, ":");
        x = strtok(NULL, ":");
        y = strtok(NULL, "");
        if (kind == NULL) {
            free(a);
            goto out;
        }
        if (strcmp(kind, "none") == 0 && x) {
            int r = ssh_userauth_none(s, x);

            printf("none: %s", auth_word(r));
            print_methods(s);
            printf("\n");
        } else if (strcmp(kind, "password") == 0 && x && y) {
            int r = ssh_userauth_password(s, x, y);

            printf("password: %s", auth_word(r));
            print_methods(s);
            printf("\n");
        } else if (strcmp(kind, "kbd") == 0 && x && y) {
            if (step_kbd(s, x, y) != 0) {
                free(a);
                goto out;
            }
        } else if ((strcmp(kind, "keyprobe") == 0 ||
                    strcmp(kind, "key") == 0) && x && y) {
            ssh_key k = NULL;
            int r;

            if ((kind[3] == 'p'
                     ? ssh_pki_import_pubkey_file(y, &k)
                     : ssh_pki_import_privkey_file(y, NULL, NULL, NULL,
                                                   &k)) != SSH_OK) {
                fprintf(stderr, "cannot read %s\n", y);
                free(a);
                goto out;
            }
            r = kind[3] == 'p' ? ssh_userauth_try_publickey(s, x, k)
                               : ssh_userauth_publickey(s, x, k);
            ssh_key_free(k);
            printf("%s: %s", kind, auth_word(r));
            print_methods(s);
            printf("\n");
        } else if (strcmp(kind, "pty") == 0 && x && y) {
            if (ch == NULL && ((ch = ssh_channel_new(s)) == NULL ||
                               ssh_channel_open_session(ch) != SSH_OK)) {
                fprintf(stderr, "channel: %s\n", ssh_get_error(s));
                free(a);
                goto out;
            }
            printf("pty: %s\n",
                   ssh_channel_request_pty_size(ch, "xterm", atoi(x),
                                                atoi(y)) == SSH_OK
                       ? "ok"
                       : "denied");
        } else if (strcmp(kind, "resize") == 0 && x && y && ch != NULL) {
            printf("resize: %s\n",
                   ssh_channel_change_pty_size(ch, atoi(x), atoi(y)) ==
                           SSH_OK
                       ? "sent"
                       : "failed");
        } else if (strcmp(kind, "exec") == 0 && x) {
            char buf[4096];
            int n;
            char *cmd = x;

            if (y != NULL) {
                x[strlen(x)] = ':'; /* the command may hold ':' itself */
            }
            if (ch == NULL && ((ch = ssh_channel_new(s)) == NULL ||
                               ssh_channel_open_session(ch) != SSH_OK)) {
                fprintf(stderr, "channel: %s\n", ssh_get_error(s));
                free(a);
                goto out;
            }
            if (ssh_channel_request_exec(ch, cmd) != SSH_OK) {
                printf("exec: refused\n");
            } else {
                printf("exec:\n");
                while ((n = ssh_channel_read(ch, buf, sizeof(buf), 0)) > 0) {
                    fwrite(buf, 1, (size_t)n, stdout);
                }
                while ((n = ssh_channel_read(ch, buf, sizeof(buf), 1)) > 0) {
                    fwrite(buf, 1, (size_t)n, stdout);
                }
                printf("exec: status %d\n", ssh_channel_get_exit_status(ch));
            }
        } else {
            fprintf(stderr, "bad step %s\n", argv[i]);
            free(a);
            goto out;
        }
        fflush(stdout);
        free(a);
    }
    rc = 0;
out:
    if (ch != NULL) {
        ssh_channel_close(ch);
        ssh_channel_free(ch);
    }
    if (s != NULL) {
        ssh_disconnect(s);
        ssh_free(s);
    }
    return rc;
}
