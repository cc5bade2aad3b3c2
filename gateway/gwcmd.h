/*
 * Gateway commands over SSH, the monitor's side: the person's command
 * runs as the real sekishoctl (one implementation behind both), started
 * by the monitor (root) with execv, no shell, a clean environment, the
 * same configuration and `--actor NAME --via ssh`. Its stdio is a pty
 * (if the client asked for one) or socketpairs, whose other ends the
 * worker relays to the client's channel. Descriptor 3 of the child is a
 * socket the monitor made, over which the monitor answers sekishoctl's
 * nonce: its proof that this monitor started it for this person with
 * these words (gateway/ctl/ctl-actor.c). No recorder runs: these are
 * not target sessions, and nothing they print reaches a transcript.
 */
#ifndef SK_GWCMD_H
#define SK_GWCMD_H

#include "config.h"

#include <sys/types.h>
#include <time.h>

struct gwcmd {
    pid_t pid;  /* the sekishoctl child (its own process group); 0: none */
    int proof;  /* the monitor's end of the child's descriptor 3 */
    int master; /* a copy of the pty master (window changes), or -1 */
    time_t started;
    char line[512]; /* the command, for audit lines */
};

/* Starts sekishoctl (beside this program) for actor with argv (argc
 * words, subcommand first). pty: give it a terminal of term, cols x
 * rows; then fds[0] is the pty master and *nfds 1; else fds[0] its
 * stdin+stdout socket and fds[1] its stderr socket, *nfds 2. The caller
 * passes fds to the worker and closes them. Blocks until the child has
 * asked for, and been given, its --actor proof (util.h sk_actor_proof;
 * it asks first thing), at most 10 s. Returns 0, or -1 with a message
 * for the user in msg. */
int gwcmd_spawn(const struct sk_config *cfg, const char *actor, int argc,
                const char *const *argv, int pty, const char *term,
                int cols, int rows, struct gwcmd *g, int fds[2], int *nfds,
                char *msg, size_t msglen);

/* The client's window changed: the command's pty follows (the kernel
 * sends it SIGWINCH). Returns 0, or -1 without a pty. */
int gwcmd_resize(struct gwcmd *g, int cols, int rows);

/* Ends the command: kill_first, or if it has not exited within
 * timeout_s, its process group gets SIGKILL. Returns the exit status as
 * a shell gives it (128 + signal when killed). Idempotent (-1 when
 * nothing runs). */
int gwcmd_finish(struct gwcmd *g, int kill_first, int timeout_s);

#endif
