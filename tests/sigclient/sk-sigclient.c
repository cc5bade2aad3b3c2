/*
 * sk-sigclient HOST PORT USER COMMAND SIGNAL DELAY_MS: a test client that
 * logs in with the password in $SKPW (password or keyboard-interactive),
 * runs COMMAND, sends the "signal" request SIGNAL after DELAY_MS, copies
 * the command's output to stdout until the channel closes, and exits with
 * the command's exit status (255 on any failure). Host keys are not
 * checked: loopback tests only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libssh/libssh.h>

static int login(ssh_session s, const char *pw)
{
    int rc = ssh_userauth_password(s, NULL, pw);

    if (rc == SSH_AUTH_SUCCESS) {
        return 0;
    }
    for (int round = 0; round < 5; round++) {
        rc = ssh_userauth_kbdint(s, NULL, NULL);
        if (rc == SSH_AUTH_SUCCESS) {
            return 0;
        }
        if (rc != SSH_AUTH_INFO) {
            return -1;
        }
        for (int k = 0; k < ssh_userauth_kbdint_getnprompts(s); k++) {
            if (ssh_userauth_kbdint_setanswer(s, (unsigned)k, pw) < 0) {
                return -1;
            }
        }
    }
    return -1;
}

static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
    ssh_session s = NULL;
    ssh_channel ch = NULL;
    const char *pw = getenv("SKPW");
    unsigned int port;
    long t0, delay;
    int sent = 0, status = 255, verbosity = SSH_LOG_NOLOG;
    char buf[4096];

    if (argc != 7 || pw == NULL) {
        fprintf(stderr, "usage: SKPW=... %s HOST PORT USER COMMAND SIGNAL "
                        "DELAY_MS\n", argv[0]);
        return 255;
    }
    port = (unsigned int)atoi(argv[2]);
    delay = atol(argv[6]);
    if ((s = ssh_new()) == NULL ||
        ssh_options_set(s, SSH_OPTIONS_HOST, argv[1]) != 0 ||
        ssh_options_set(s, SSH_OPTIONS_PORT, &port) != 0 ||
        ssh_options_set(s, SSH_OPTIONS_USER, argv[3]) != 0 ||
        ssh_options_set(s, SSH_OPTIONS_LOG_VERBOSITY, &verbosity) != 0 ||
        ssh_connect(s) != SSH_OK || login(s, pw) != 0 ||
        (ch = ssh_channel_new(s)) == NULL ||
        ssh_channel_open_session(ch) != SSH_OK ||
        ssh_channel_request_exec(ch, argv[4]) != SSH_OK) {
        fprintf(stderr, "sk-sigclient: %s\n",
                s != NULL ? ssh_get_error(s) : "no memory");
        goto out;
    }
    t0 = now_ms();
    while (!ssh_channel_is_closed(ch) && !ssh_channel_is_eof(ch)) {
        int n = ssh_channel_read_timeout(ch, buf, sizeof(buf), 0, 100);

        if (n == SSH_ERROR) {
            goto out;
        }
        if (n > 0 && fwrite(buf, 1, (size_t)n, stdout) != (size_t)n) {
            goto out;
        }
        if (!sent && now_ms() - t0 >= delay) {
            if (ssh_channel_request_send_signal(ch, argv[5]) != SSH_OK) {
                goto out;
            }
            sent = 1;
        }
    }
    fflush(stdout);
    status = ssh_channel_get_exit_status(ch);
    if (status < 0) {
        status = 255;
    }
out:
    if (ch != NULL) {
        ssh_channel_free(ch);
    }
    if (s != NULL) {
        ssh_disconnect(s);
        ssh_free(s);
    }
    return status;
}
