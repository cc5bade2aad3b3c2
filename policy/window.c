#include "window.h"
#include "sk-err.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *days[] = {"Sun", "Mon", "Tue", "Wed",
                             "Thu", "Fri", "Sat"};

static int day_index(const char *s, size_t n)
{
    for (int i = 0; i < 7; i++) {
        if (n == 3 && strncasecmp(s, days[i], 3) == 0) {
            return i;
        }
    }
    return -1;
}

static int parse_days(const char *s, size_t n, uint8_t *mask)
{
    size_t i = 0;

    *mask = 0;
    if (n == 5 && strncasecmp(s, "daily", 5) == 0) {
        *mask = 0x7f;
        return 0;
    }
    if (n == 8 && strncasecmp(s, "weekdays", 8) == 0) {
        *mask = 0x3e;
        return 0;
    }
    if (n == 8 && strncasecmp(s, "weekends", 8) == 0) {
        *mask = 0x41;
        return 0;
    }
    while (i < n) {
        int a, b;

        if (n - i < 3 || (a = day_index(s + i, 3)) < 0) {
            return -1;
        }
        i += 3;
        b = a;
        if (i < n && s[i] == '-') {
            if (n - i < 4 || (b = day_index(s + i + 1, 3)) < 0) {
                return -1;
            }
            i += 4;
        }
        /* Mon-Fri, and wrapping ranges like Fri-Mon */
        for (int d = a;; d = (d + 1) % 7) {
            *mask |= (uint8_t)(1u << d);
            if (d == b) {
                break;
            }
        }
        if (i < n) {
            if (s[i] != ',') {
                return -1;
            }
            i++;
            if (i == n) {
                return -1;
            }
        }
    }
    return *mask ? 0 : -1;
}

static int parse_hm(const char *s, int *out)
{
    int h, m;

    if (strlen(s) != 5 || s[2] != ':' || s[0] < '0' || s[0] > '9' ||
        s[1] < '0' || s[1] > '9' || s[3] < '0' || s[3] > '5' || s[4] < '0' ||
        s[4] > '9') {
        return -1;
    }
    h = (s[0] - '0') * 10 + (s[1] - '0');
    m = (s[3] - '0') * 10 + (s[4] - '0');
    if (h > 24 || (h == 24 && m != 0)) {
        return -1;
    }
    *out = h * 60 + m;
    return 0;
}

int sk_window_parse(const char *spec, struct sk_window *out, char *why,
                    size_t whylen)
{
    char buf[256], *save = NULL, *clause;

    memset(out, 0, sizeof(*out));
    if (strlen(spec) >= sizeof(buf)) {
        snprintf(why, whylen, "window longer than %zu characters",
                 sizeof(buf) - 1);
        return SK_ERR_INVALID;
    }
    snprintf(buf, sizeof(buf), "%s", spec);
    for (clause = strtok_r(buf, ";", &save); clause != NULL;
         clause = strtok_r(NULL, ";", &save)) {
        char d[64], t1[8], t2[8], extra;
        int start, end;

        while (*clause == ' ') {
            clause++;
        }
        if (out->n == SK_WINDOW_MAX_CLAUSES) {
            snprintf(why, whylen, "more than %d clauses",
                     SK_WINDOW_MAX_CLAUSES);
            return SK_ERR_INVALID;
        }
        if (sscanf(clause, "%63s %5[0-9:]-%5[0-9:] %c", d, t1, t2, &extra) !=
                3 ||
            parse_days(d, strlen(d), &out->c[out->n].days) != 0) {
            snprintf(why, whylen,
                     "'%.40s': expected DAYS HH:MM-HH:MM (DAYS: daily, "
                     "weekdays, weekends, Mon-Fri, Sat,Sun, ...)",
                     clause);
            return SK_ERR_INVALID;
        }
        if (parse_hm(t1, &start) != 0 || parse_hm(t2, &end) != 0 ||
            start == 1440 || start == end) {
            snprintf(why, whylen, "'%.40s': bad or empty time range",
                     clause);
            return SK_ERR_INVALID;
        }
        out->c[out->n].start = start;
        out->c[out->n].end = end;
        out->n++;
    }
    if (out->n == 0) {
        snprintf(why, whylen, "empty window");
        return SK_ERR_INVALID;
    }
    return 0;
}

int sk_window_contains(const struct sk_window *w, int wday, int minute)
{
    for (int i = 0; i < w->n; i++) {
        int s = w->c[i].start, e = w->c[i].end;
        uint8_t today = (uint8_t)(1u << wday),
                yesterday = (uint8_t)(1u << ((wday + 6) % 7));

        if (s < e) {
            if ((w->c[i].days & today) && minute >= s && minute < e) {
                return 1;
            }
        } else {
            /* over midnight: the evening today, or the morning after a
             * listed day */
            if (((w->c[i].days & today) && minute >= s) ||
                ((w->c[i].days & yesterday) && minute < e)) {
                return 1;
            }
        }
    }
    return 0;
}
