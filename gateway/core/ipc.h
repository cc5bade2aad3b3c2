/*
 * Framed messages between the monitor and its worker over an AF_UNIX
 * SOCK_SEQPACKET socketpair: one datagram is one message, so framing comes
 * from the kernel and a message can never be read half-way. A message is a
 * uint32 type followed by the payload; up to SK_IPC_MAX_FDS descriptors
 * travel with it as SCM_RIGHTS.
 *
 * Both calls block. A truncated datagram or control message is a protocol
 * violation (SK_ERR_BAD_MESSAGE); a closed peer is SK_ERR_EOF.
 */
#ifndef SK_IPC_H
#define SK_IPC_H

#include "buf.h"

#include <stdint.h>

#define SK_IPC_MAX (256 * 1024)
#define SK_IPC_MAX_FDS 3

/* Sends type + payload (b may be NULL for an empty payload) and nfds
 * descriptors from fds (the caller keeps ownership of them). */
int sk_ipc_send(int sock, uint32_t type, const struct sk_buf *b,
                const int *fds, int nfds);

/* Receives one message: *type, payload into b (reset first), and received
 * descriptors into fds[] (up to SK_IPC_MAX_FDS, -1 where absent; the caller
 * owns and must close them). *nfds may be NULL if none are expected: any
 * received descriptor is then closed and the message refused. */
int sk_ipc_recv(int sock, uint32_t *type, struct sk_buf *b, int *fds,
                int *nfds);

#endif
