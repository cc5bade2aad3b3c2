/*
 * The recorder process (recorder-proc.c): one per recorded session,
 * forked by the monitor. It alone holds the transcript descriptor and
 * (a copy of) the signing key; the worker writes events to it over a
 * stream socket and the monitor hears from it over a status socket.
 *
 * Worker -> recorder frames: u8 type, u64 t_us (CLOCK_MONOTONIC
 * microseconds since the session's t0), u32 len, len bytes, written into
 * the shared ring (rec-ring.h); the event socket between them carries
 * only wake-up bytes and, when it closes, the end of either side. The
 * worker waits while the ring is full (back-pressure); if the recorder
 * dies, the worker's socket reports it and the session ends.
 *
 * Recorder -> monitor status datagrams (text): "ready", then at the end
 * "sealed HEXCHAIN SIZE", or "error TEXT" at any point before exiting.
 * The recorder never logs itself (no syslog in its sandbox): its log
 * lines become "error" messages, which the monitor logs and audits. It
 * dies with the monitor (PR_SET_PDEATHSIG).
 *
 * This room depends only on the shared core and the transcript format
 * (recorder/): what confines the child (the session's account drop and
 * seccomp lists) comes in through rec_child_confine, so the dependency
 * points gateway -> recorder (tests/layout-check.sh).
 */
#ifndef SK_RECORDER_PROC_H
#define SK_RECORDER_PROC_H

#include "config.h"
#include "key.h"
#include "recorder/transcript.h"

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

struct rec_proc {
    pid_t pid;
    int status_fd;  /* monitor end of the status socket */
    int worker_fd;  /* the worker's end of the event socket (to pass on) */
    char path[PATH_MAX];
    char hash[65];  /* hex chain value of the seal, once sealed */
    uint64_t size;
    uint64_t t0;    /* CLOCK_MONOTONIC µs at the session's start */
    int done;       /* final word received (or the recorder is gone) */
    int sealed;
    char error[256]; /* why it stopped without sealing ("" if unknown) */
};

/* Creates the transcript (transcript_dir/YYYY/MM/DD/<session>.skt,
 * O_EXCL|O_NOFOLLOW, 0600), forks the recorder and waits up to 10 s for
 * it to write and sign the header. On failure nothing is left running,
 * the file is removed and err says why. signer is copied into the child
 * by fork; the caller keeps its own. */
int rec_start(const struct sk_config *cfg, const struct sk_tr_meta *meta,
              const struct sk_key *signer, const uint8_t (*rcpt)[32],
              size_t nrcpt, struct rec_proc *out, char *err, size_t errlen);

/* Called in the recorder child first thing after the fork, if set: the
 * monitor drops there what the recorder must never hold (the host key:
 * hostkey.h). */
extern void (*rec_child_scrub)(void);

/* Required (rec_start fails without it): called in the recorder child
 * once the transcript header is written, to drop to the unprivileged
 * account, die with the monitor and apply the recorder's seccomp list.
 * Returns 0, or -1 (the recorder then reports a sandbox error and ends
 * the session). */
extern int (*rec_child_confine)(const struct sk_config *cfg, pid_t monitor);

/* The ring the worker and every recorder share (rec-ring.h): mapped by
 * the monitor before it forks the worker; rec_start fails without it. */
extern struct rec_ring *rec_shared_ring;

/* Reads one status message if there is one (non-blocking when
 * timeout_ms is 0). Returns 1 when the recorder has given its final word
 * or is gone (p->done set), 0 otherwise. */
int rec_poll(struct rec_proc *p, int timeout_ms);

/* Waits for the final word (up to timeout_ms), then reaps the process
 * and closes the status socket. */
void rec_finish(struct rec_proc *p, int timeout_ms);

#endif
