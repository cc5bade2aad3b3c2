/* The worker -> recorder ring; see rec-ring.h. */
#include "rec-ring.h"

#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>

struct rec_ring {
    /* Each written by one side only, on a cache line of its own. */
    _Alignas(64) _Atomic uint64_t head; /* worker: bytes ever written */
    _Alignas(64) _Atomic uint64_t tail; /* recorder: bytes ever consumed */
    _Alignas(64) atomic_int sleeping;   /* recorder waits for a bell */
    _Alignas(64) atomic_int waiting;    /* worker waits for room */
    _Alignas(64) uint8_t data[REC_RING_SIZE];
};

_Static_assert((REC_RING_SIZE & (REC_RING_SIZE - 1)) == 0,
               "the ring's size is a power of two");

struct rec_ring *rec_ring_map(void)
{
    void *p = mmap(NULL, sizeof(struct rec_ring), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);

    return p == MAP_FAILED ? NULL : p; /* anonymous pages are zero */
}

void rec_ring_unmap(struct rec_ring *r)
{
    if (r != NULL) {
        (void)munmap(r, sizeof(*r));
    }
}

void rec_ring_reset(struct rec_ring *r)
{
    atomic_store(&r->head, 0);
    atomic_store(&r->tail, 0);
    atomic_store(&r->sleeping, 0);
    atomic_store(&r->waiting, 0);
}

size_t rec_ring_room(const struct rec_ring *r)
{
    /* head is ours; tail is the recorder's word, bounded here so that a
     * recorder's nonsense cannot make the worker overwrite unread bytes
     * beyond what "no room" already allows. */
    uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    uint64_t tail = atomic_load(&r->tail);
    uint64_t used = head - tail;

    return used > REC_RING_SIZE ? 0 : (size_t)(REC_RING_SIZE - used);
}

static void copy_in(struct rec_ring *r, uint64_t at, const void *src,
                    size_t n)
{
    size_t off = (size_t)(at & (REC_RING_SIZE - 1)), first;

    if (n == 0) {
        return;
    }
    first = REC_RING_SIZE - off < n ? REC_RING_SIZE - off : n;
    memcpy(r->data + off, src, first);
    if (first < n) {
        memcpy(r->data, (const uint8_t *)src + first, n - first);
    }
}

int rec_ring_put(struct rec_ring *r, const void *a, size_t alen,
                 const void *b, size_t blen)
{
    uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);

    copy_in(r, head, a, alen);
    copy_in(r, head + alen, b, blen);
    /* seq_cst: the bytes are visible before head, and head before the
     * look at `sleeping` (rec-ring.h, wake-ups) */
    atomic_store(&r->head, head + alen + blen);
    return atomic_exchange(&r->sleeping, 0) != 0;
}

void rec_ring_want_room(struct rec_ring *r, int on)
{
    atomic_store(&r->waiting, on ? 1 : 0);
}

void rec_ring_reader_init(struct rec_ring_reader *rd, struct rec_ring *r)
{
    rd->ring = r;
    rd->tail = 0;
}

ssize_t rec_ring_take(struct rec_ring_reader *rd, void *out, size_t max,
                      int *room_wanted)
{
    struct rec_ring *r = rd->ring;
    uint64_t head = atomic_load(&r->head), avail = head - rd->tail;
    size_t n, off, first;

    *room_wanted = 0;
    if (avail > REC_RING_SIZE) {
        return -1; /* also a head moved backwards (wraps to huge) */
    }
    n = avail < max ? (size_t)avail : max;
    if (n == 0) {
        return 0;
    }
    off = (size_t)(rd->tail & (REC_RING_SIZE - 1));
    first = REC_RING_SIZE - off < n ? REC_RING_SIZE - off : n;
    memcpy(out, r->data + off, first);
    if (first < n) {
        memcpy((uint8_t *)out + first, r->data, n - first);
    }
    rd->tail += n;
    /* seq_cst: the copy is done before the worker may reuse the space,
     * and tail is published before the look at `waiting` */
    atomic_store(&r->tail, rd->tail);
    *room_wanted = atomic_exchange(&r->waiting, 0) != 0;
    return (ssize_t)n;
}

int rec_ring_sleep(struct rec_ring_reader *rd)
{
    atomic_store(&rd->ring->sleeping, 1);
    if (atomic_load(&rd->ring->head) != rd->tail) {
        atomic_store(&rd->ring->sleeping, 0);
        return 0;
    }
    return 1;
}

void rec_ring_awake(struct rec_ring_reader *rd)
{
    atomic_store(&rd->ring->sleeping, 0);
}
