/*
 * The ring from the worker to the recorder (rec-ring.c): shared memory
 * that carries the event frames of recorder-proc.h, so that handing an
 * event to the recorder costs a copy and, only when the recorder sleeps,
 * one byte on their socket (the "bell") — not a sendmsg per event and a
 * read and a wake-up in the recorder for each.
 *
 * The monitor maps it (MAP_SHARED | MAP_ANONYMOUS) before it forks the
 * worker, so the worker and every recorder it later forks share it at the
 * same address; nothing is passed and the sandboxes need no mmap of a
 * descriptor. Two positions count bytes ever written (head, the worker's)
 * and ever consumed (tail, the recorder's); the bytes between are frames
 * in order. An event is "with the recorder" once head covers it: that is
 * what the worker waits for before it relays the bytes (the rule of
 * relay.c), and those bytes are the recorder's to read whether or not the
 * worker lives on.
 *
 * Trust: the worker is the exposed process. The recorder never trusts the
 * shared memory: it keeps its own tail (the shared one is only published
 * for the worker), checks that head is within one ring of it, copies the
 * bytes out before it looks at them (recorder-proc.c parses the copy),
 * and ends the session on anything impossible. A recorder cannot harm
 * the worker beyond stalling it, which the worker bounds with a timeout.
 *
 * Wake-ups (Dekker-style, sequentially consistent atomics): a recorder
 * about to sleep sets `sleeping` and looks at head once more; a worker
 * that has advanced head takes `sleeping` back and, if it was set, rings.
 * A worker short of room sets `waiting`, looks at tail once more, rings,
 * and waits for the recorder's byte on the same socket; a recorder that
 * advanced tail takes `waiting` back and answers. One side at least sees
 * the other's store, so no wake-up is lost; a spare bell is harmless.
 */
#ifndef SK_REC_RING_H
#define SK_REC_RING_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Data bytes (a power of two). Larger than the largest frame
 * (SK_TR_EV_HDR + SK_TR_EV_DATA_MAX); pages are touched only as the ring
 * goes round, so an idle session costs a few of them. */
#define REC_RING_SIZE (512u * 1024u)

struct rec_ring;

/* Maps a ring (zeroed). Returns NULL with errno set. Unmapped with the
 * process (or rec_ring_unmap). */
struct rec_ring *rec_ring_map(void);
void rec_ring_unmap(struct rec_ring *r);

/* Back to empty, for a new recorder: only while nobody writes or reads
 * it (the monitor, before it forks the recorder and hands the worker
 * its socket). */
void rec_ring_reset(struct rec_ring *r);

/* --- the worker's side --- */

/* Bytes that fit now. */
size_t rec_ring_room(const struct rec_ring *r);

/* Appends a then b (one frame: header and data) and publishes them.
 * The caller checked rec_ring_room() >= alen + blen. Returns 1 if the
 * recorder is asleep and must be rung (the flag is taken back), else 0. */
int rec_ring_put(struct rec_ring *r, const void *a, size_t alen,
                 const void *b, size_t blen);

/* Says the worker waits for room (on = 1) or no longer does (0). After
 * setting it, look at rec_ring_room() again before sleeping. */
void rec_ring_want_room(struct rec_ring *r, int on);

/* --- the recorder's side --- */

struct rec_ring_reader {
    struct rec_ring *ring;
    uint64_t tail; /* private: the shared copy is never read back */
};

void rec_ring_reader_init(struct rec_ring_reader *rd, struct rec_ring *r);

/* Copies up to max waiting bytes to out and publishes the new tail.
 * Returns the count (0: empty), or -1 if head is not within one ring of
 * the tail (a worker writing what no worker writes). *room_wanted is set
 * to 1 if the worker was waiting for room (the flag is taken back: send
 * it its byte). */
ssize_t rec_ring_take(struct rec_ring_reader *rd, void *out, size_t max,
                      int *room_wanted);

/* Before sleeping: sets `sleeping` and returns 1 if the ring is still
 * empty (sleep; the worker will ring), or clears it again and returns 0
 * (more came: read it first). */
int rec_ring_sleep(struct rec_ring_reader *rd);

/* Awake again (after the poll): the worker need not ring. */
void rec_ring_awake(struct rec_ring_reader *rd);

#endif
