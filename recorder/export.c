/* Exports of decrypted transcripts: asciicast v2 (for asciinema) and a
 * readable typescript. JSON is written with jansson; bytes are repaired
 * to UTF-8 per stream, carrying sequences split across events. */
#include "transcript.h"
#include "sk-err.h"
#include "util.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

struct carry {
    uint8_t b[4];
    size_t n;
};

struct xp {
    FILE *out;
    double cap;      /* idle cap in seconds, 0: none */
    double shift;    /* time removed by the cap so far */
    uint64_t last_t; /* raw time of the previous event */
    struct carry in, outc;
    int text;
    int io_error;
};

/* Joins the carry and data, keeps an incomplete tail for next time and
 * returns the rest as valid UTF-8 (NULL on allocation failure). With
 * flush, nothing is carried. */
static char *utf8_join(struct carry *c, const uint8_t *data, size_t len,
                       int flush)
{
    uint8_t *tmp = malloc(c->n + len + 1);
    size_t total, keep;
    char *s;

    if (tmp == NULL) {
        return NULL;
    }
    memcpy(tmp, c->b, c->n);
    if (len > 0) {
        memcpy(tmp + c->n, data, len);
    }
    total = c->n + len;
    keep = flush ? total : sk_utf8_complete_prefix(tmp, total);
    c->n = total - keep;
    memcpy(c->b, tmp + keep, c->n);
    s = sk_utf8_repair(tmp, keep);
    free(tmp);
    return s;
}

static double ev_time(struct xp *x, uint64_t t_us)
{
    double gap = (double)(t_us - x->last_t) / 1e6;

    if (x->cap > 0 && gap > x->cap) {
        x->shift += gap - x->cap;
    }
    x->last_t = t_us;
    return (double)t_us / 1e6 - x->shift;
}

static int cast_line(struct xp *x, double t, const char *code,
                     const char *text)
{
    json_t *a = json_pack("[f, s, s]", t, code, text);
    int r = 0;

    if (a == NULL) {
        return SK_ERR_ALLOC;
    }
    if (json_dumpf(a, x->out, JSON_COMPACT | JSON_REAL_PRECISION(15)) != 0 || fputc('\n', x->out) ==
                                                         EOF) {
        r = SK_ERR_SYSTEM;
    }
    json_decref(a);
    return r;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

static int on_cast(const struct sk_tr_event *ev, void *arg)
{
    struct xp *x = arg;
    double t = ev_time(x, ev->t_us);
    char *s, rs[32];
    int r = 0;

    switch (ev->type) {
    case SK_TR_EV_OUTPUT:
    case SK_TR_EV_STDERR:
    case SK_TR_EV_INPUT: {
        int in = ev->type == SK_TR_EV_INPUT;

        s = utf8_join(in ? &x->in : &x->outc, ev->data, ev->len, 0);
        if (s == NULL) {
            return SK_ERR_ALLOC;
        }
        if (s[0] != '\0') {
            r = cast_line(x, t, in ? "i" : "o", s);
        }
        free(s);
        return r;
    }
    case SK_TR_EV_RESIZE:
        if (ev->len != 8) {
            return SK_ERR_INVALID;
        }
        snprintf(rs, sizeof(rs), "%ux%u", be32(ev->data),
                 be32(ev->data + 4));
        return cast_line(x, t, "r", rs);
    case SK_TR_EV_MARKER:
    case SK_TR_EV_END:
        /* asciicast v2 has "m" markers; players that do not know them
         * skip them. */
        s = sk_utf8_repair(ev->data, ev->len);
        if (s == NULL) {
            return SK_ERR_ALLOC;
        }
        r = cast_line(x, t, "m", s);
        free(s);
        return r;
    default:
        return 0;
    }
}

static json_t *cast_header(const char *hdr)
{
    json_error_t e;
    json_t *h = json_loads(hdr, 0, &e), *o;
    json_int_t cols = 80, rows = 24, start = 0;
    const char *term = NULL, *sess = "?", *user = "?", *target = "?";

    if (h == NULL) {
        return NULL;
    }
    (void)json_unpack(h, "{s?I, s?I, s?I, s?s, s?s, s?s, s?s}", "cols", &cols,
                      "rows", &rows, "start_us", &start, "term", &term,
                      "session", &sess, "user", &user, "target", &target);
    if (cols <= 0 || rows <= 0) {
        cols = 80; /* exec sessions have no terminal */
        rows = 24;
    }
    o = json_pack("{s:i, s:I, s:I, s:I, s:{s:s}, s:o}", "version", 2,
                  "width", cols, "height", rows, "timestamp",
                  start / 1000000, "env", "TERM", term ? term : "xterm",
                  "title",
                  json_sprintf("sekisho session %s: %s on %s", sess, user,
                               target));
    json_decref(h);
    return o;
}

/* Decrypts into a temporary stream first so the header (which needs the
 * decrypted header JSON) can precede the events without a second pass. */
int sk_tr_export_asciicast(int fd, const struct sk_boxkey *k, FILE *out,
                           double idle_cap_s, char *err, size_t errlen)
{
    struct xp x;
    FILE *tmp = tmpfile();
    char *hdr = NULL, *tail, buf[65536];
    json_t *h;
    size_t n;
    int r;

    if (tmp == NULL) {
        snprintf(err, errlen, "temporary file: %m");
        return SK_ERR_SYSTEM;
    }
    memset(&x, 0, sizeof(x));
    x.out = tmp;
    x.cap = idle_cap_s;
    r = sk_tr_decrypt(fd, k, on_cast, &x, &hdr, err, errlen);
    if (r < 0) {
        goto out;
    }
    /* What is still carried is an incomplete sequence at the very end. */
    if ((tail = utf8_join(&x.outc, NULL, 0, 1)) != NULL && tail[0]) {
        (void)cast_line(&x, (double)x.last_t / 1e6 - x.shift, "o", tail);
    }
    free(tail);
    if ((h = cast_header(hdr)) == NULL) {
        snprintf(err, errlen, "malformed header");
        r = SK_ERR_INVALID;
        goto out;
    }
    if (json_dumpf(h, out, JSON_COMPACT | JSON_PRESERVE_ORDER) != 0 ||
        fputc('\n', out) == EOF) {
        json_decref(h);
        r = SK_ERR_SYSTEM;
        goto out;
    }
    json_decref(h);
    rewind(tmp);
    while ((n = fread(buf, 1, sizeof(buf), tmp)) > 0) {
        if (fwrite(buf, 1, n, out) != n) {
            r = SK_ERR_SYSTEM;
            break;
        }
    }
    if (ferror(tmp) || fflush(out) != 0) {
        r = SK_ERR_SYSTEM;
    }
    if (r == SK_ERR_SYSTEM) {
        snprintf(err, errlen, "write: %m");
    }
out:
    free(hdr);
    fclose(tmp);
    return r;
}

static int on_text(const struct sk_tr_event *ev, void *arg)
{
    struct xp *x = arg;
    char *s;
    unsigned long ms = (unsigned long)(ev->t_us / 1000);

    switch (ev->type) {
    case SK_TR_EV_OUTPUT:
    case SK_TR_EV_STDERR:
        s = utf8_join(&x->outc, ev->data, ev->len, 0);
        if (s == NULL) {
            return SK_ERR_ALLOC;
        }
        fputs(s, x->out);
        free(s);
        break;
    case SK_TR_EV_RESIZE:
        if (ev->len == 8) {
            fprintf(x->out, "\n[sekisho %lu.%03lu resize %ux%u]\n",
                    ms / 1000, ms % 1000, be32(ev->data),
                    be32(ev->data + 4));
        }
        break;
    case SK_TR_EV_EXEC:
    case SK_TR_EV_MARKER:
    case SK_TR_EV_END:
    case SK_TR_EV_SIGNAL:
        s = sk_utf8_repair(ev->data, ev->len);
        if (s == NULL) {
            return SK_ERR_ALLOC;
        }
        fprintf(x->out, "\n[sekisho %lu.%03lu %s: %s]\n", ms / 1000,
                ms % 1000,
                ev->type == SK_TR_EV_EXEC     ? "command"
                : ev->type == SK_TR_EV_MARKER ? "event"
                : ev->type == SK_TR_EV_SIGNAL ? "signal"
                                              : "end",
                s);
        free(s);
        break;
    case SK_TR_EV_EXIT:
        if (ev->len == 4) {
            fprintf(x->out, "\n[sekisho %lu.%03lu exit status %u]\n",
                    ms / 1000, ms % 1000, be32(ev->data));
        }
        break;
    default:
        break;
    }
    return ferror(x->out) ? SK_ERR_SYSTEM : 0;
}

int sk_tr_export_text(int fd, const struct sk_boxkey *k, FILE *out,
                      char *err, size_t errlen)
{
    struct xp x;
    char *tail;
    int r;

    memset(&x, 0, sizeof(x));
    x.out = out;
    x.text = 1;
    r = sk_tr_decrypt(fd, k, on_text, &x, NULL, err, errlen);
    if ((tail = utf8_join(&x.outc, NULL, 0, 1)) != NULL) {
        fputs(tail, out);
    }
    free(tail);
    if (fflush(out) != 0 && r >= 0) {
        snprintf(err, errlen, "write: %m");
        r = SK_ERR_SYSTEM;
    }
    return r;
}
