/*
 * memscan PID HEX: counts the places where the bytes HEX occur in the
 * memory of process PID (root), reading only pages that are present
 * (/proc/PID/pagemap), so that a sanitizer's terabytes of reserved shadow
 * cost nothing. Prints the count; exit 0, or 2 on error. Test helper for
 * "the host key is not in the worker" (never installed).
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#define PG 4096
#define CHUNK 65536 /* pagemap entries per read: 256 MiB */

static uint64_t ents[CHUNK];

int main(int argc, char **argv)
{
    char path[64], line[512], perms[8];
    unsigned char pat[256], page[2 * PG];
    size_t plen, i, hits = 0;
    uint64_t start, end, a;
    ssize_t n;
    FILE *maps;
    int mem, pm;

    if (argc != 3 || strlen(argv[2]) % 2 != 0 ||
        (plen = strlen(argv[2]) / 2) == 0 || plen > sizeof(pat) ||
        plen > PG) {
        fprintf(stderr, "usage: memscan PID HEX\n");
        return 2;
    }
    for (i = 0; i < plen; i++) {
        unsigned v;

        if (sscanf(argv[2] + 2 * i, "%2x", &v) != 1) {
            return 2;
        }
        pat[i] = (unsigned char)v;
    }
    snprintf(path, sizeof(path), "/proc/%s/maps", argv[1]);
    if ((maps = fopen(path, "r")) == NULL) {
        perror(path);
        return 2;
    }
    snprintf(path, sizeof(path), "/proc/%s/mem", argv[1]);
    mem = open(path, O_RDONLY);
    snprintf(path, sizeof(path), "/proc/%s/pagemap", argv[1]);
    pm = open(path, O_RDONLY);
    if (mem < 0 || pm < 0) {
        perror(path);
        return 2;
    }
    while (fgets(line, sizeof(line), maps) != NULL) {
        if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %7s", &start, &end,
                   perms) != 3 ||
            perms[0] != 'r' || strstr(line, "[vvar]") != NULL) {
            continue;
        }
        /* pagemap in chunks: a sanitizer reserves terabytes, nearly all
         * absent, and one read per page would take hours */
        for (a = start; a < end; a += (uint64_t)PG * CHUNK) {
            size_t k, m = (size_t)((end - a) / PG);

            m = m < CHUNK ? m : CHUNK;
            if (pread(pm, ents, m * 8, (off_t)(a / PG * 8)) != (ssize_t)(m * 8)) {
                continue;
            }
            for (k = 0; k < m; k++) {
                /* present (bit 63) or swapped (bit 62) */
                if ((ents[k] & (3ULL << 62)) == 0) {
                    continue;
                }
                /* this page and the start of the next: a match across
                 * the boundary counts once, on this page */
                n = pread(mem, page, PG + plen - 1, (off_t)(a + k * PG));
                for (i = 0;
                     n >= (ssize_t)plen && i + plen <= (size_t)n && i < PG;
                     i++) {
                    if (page[i] == pat[0] &&
                        memcmp(page + i, pat, plen) == 0) {
                        hits++;
                    }
                }
            }
        }
    }
    printf("%zu\n", hits);
    return 0;
}
