/* The worker -> recorder ring (recorder/proc/rec-ring.c): frames come out
 * in order across the wrap, room is what is free, a head the recorder did
 * not see coming (a hostile worker) is refused, and the wake-up flags are
 * taken back by the side that acts on them. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "recorder/proc/rec-ring.h"

/* The layout's first word is head (rec-ring.c): a worker can write it. */
static void poke_head(struct rec_ring *r, uint64_t v)
{
    memcpy((void *)r, &v, sizeof(v));
}

static void test_order_across_wrap(void **state)
{
    struct rec_ring *r = rec_ring_map();
    struct rec_ring_reader rd;
    static uint8_t src[300000], out[sizeof(src)];
    size_t put = 0, got = 0;
    unsigned seed = 1;

    (void)state;
    assert_non_null(r);
    rec_ring_reader_init(&rd, r);
    for (size_t i = 0; i < sizeof(src); i++) {
        src[i] = (uint8_t)(i * 7 + (i >> 11));
    }
    assert_int_equal(rec_ring_room(r), REC_RING_SIZE);
    /* twenty-odd times round the ring in odd pieces, header and data */
    for (int round = 0; round < 40; round++) {
        put = got = 0;
        while (got < sizeof(src)) {
            size_t n = (size_t)(rand_r(&seed) % 70000) + 1, a;
            int want;
            ssize_t k;

            if (n > sizeof(src) - put) {
                n = sizeof(src) - put;
            }
            a = n > 13 ? 13 : n;
            if (n > 0 && rec_ring_room(r) >= n) {
                (void)rec_ring_put(r, src + put, a, src + put + a, n - a);
                put += n;
            }
            k = rec_ring_take(&rd, out + got, (size_t)(rand_r(&seed) % 90000) + 1,
                              &want);
            assert_true(k >= 0);
            got += (size_t)k;
        }
        assert_memory_equal(src, out, sizeof(src));
    }
    assert_int_equal(rec_ring_room(r), REC_RING_SIZE);
    rec_ring_unmap(r);
}

/* Shared across fork, as between worker and recorder. */
static void test_shared_across_fork(void **state)
{
    struct rec_ring *r = rec_ring_map();
    struct rec_ring_reader rd;
    uint8_t out[64];
    int st = 0, want;
    pid_t pid;

    (void)state;
    assert_non_null(r);
    rec_ring_reader_init(&rd, r);
    if ((pid = fork()) == 0) {
        (void)rec_ring_put(r, "hdr:", 4, "from the child", 14);
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_int_equal(rec_ring_take(&rd, out, sizeof(out), &want), 18);
    assert_memory_equal(out, "hdr:from the child", 18);
    rec_ring_unmap(r);
}

static void test_hostile_head_refused(void **state)
{
    struct rec_ring *r = rec_ring_map();
    struct rec_ring_reader rd;
    uint8_t out[16];
    int want;

    (void)state;
    assert_non_null(r);
    rec_ring_reader_init(&rd, r);
    poke_head(r, REC_RING_SIZE + 1); /* more than the ring holds */
    assert_int_equal(rec_ring_take(&rd, out, sizeof(out), &want), -1);
    rec_ring_reset(r);
    (void)rec_ring_put(r, "abcd", 4, NULL, 0);
    assert_int_equal(rec_ring_take(&rd, out, sizeof(out), &want), 4);
    poke_head(r, 2); /* backwards */
    assert_int_equal(rec_ring_take(&rd, out, sizeof(out), &want), -1);
    /* exactly full is fine */
    rec_ring_reset(r);
    rec_ring_reader_init(&rd, r);
    poke_head(r, REC_RING_SIZE);
    assert_int_equal(rec_ring_room(r), 0);
    assert_int_equal(rec_ring_take(&rd, out, sizeof(out), &want), 16);
    rec_ring_unmap(r);
}

static void test_wake_flags(void **state)
{
    struct rec_ring *r = rec_ring_map();
    struct rec_ring_reader rd;
    uint8_t out[16];
    int want;

    (void)state;
    assert_non_null(r);
    rec_ring_reader_init(&rd, r);
    /* an awake recorder is not rung */
    assert_int_equal(rec_ring_put(r, "a", 1, NULL, 0), 0);
    /* not empty: it may not sleep */
    assert_int_equal(rec_ring_sleep(&rd), 0);
    assert_int_equal(rec_ring_take(&rd, out, sizeof(out), &want), 1);
    assert_int_equal(want, 0);
    /* empty: it sleeps, and the next put rings it, once */
    assert_int_equal(rec_ring_sleep(&rd), 1);
    assert_int_equal(rec_ring_put(r, "b", 1, NULL, 0), 1);
    assert_int_equal(rec_ring_put(r, "c", 1, NULL, 0), 0);
    /* a waiting worker is answered, once */
    rec_ring_want_room(r, 1);
    assert_int_equal(rec_ring_take(&rd, out, sizeof(out), &want), 2);
    assert_int_equal(want, 1);
    assert_int_equal(rec_ring_put(r, "d", 1, NULL, 0), 0);
    assert_int_equal(rec_ring_take(&rd, out, sizeof(out), &want), 1);
    assert_int_equal(want, 0);
    rec_ring_unmap(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_across_wrap),
        cmocka_unit_test(test_shared_across_fork),
        cmocka_unit_test(test_hostile_head_refused),
        cmocka_unit_test(test_wake_flags),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
