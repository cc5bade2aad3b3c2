/*
 * Time-of-day rules for grants ("weekdays 09:00-18:00"), pure: the caller
 * turns the current time into a weekday and minute in the gateway's time
 * zone (sk_local_when in util.h) and asks here.
 *
 * Grammar: CLAUSE [; CLAUSE]...   CLAUSE = DAYS HH:MM-HH:MM
 *   DAYS = daily | weekdays | weekends | DAY[-DAY][,DAY[-DAY]]...
 *   DAY  = Mon Tue Wed Thu Fri Sat Sun
 * The end may be 24:00. An end before the start runs over midnight: the
 * hours after midnight belong to the day the clause started.
 */
#ifndef SK_POLICY_WINDOW_H
#define SK_POLICY_WINDOW_H

#include <stddef.h>
#include <stdint.h>

#define SK_WINDOW_MAX_CLAUSES 8

struct sk_window {
    int n;
    struct {
        uint8_t days; /* bit 0 = Sunday ... bit 6 = Saturday (tm_wday) */
        int start, end; /* minutes since midnight, end may be 1440 */
    } c[SK_WINDOW_MAX_CLAUSES];
};

/* Parses spec; on error returns SK_ERR_INVALID with the reason in why. */
int sk_window_parse(const char *spec, struct sk_window *out, char *why,
                    size_t whylen);
/* 1 if (wday 0=Sunday, minute 0..1439) lies in the window. */
int sk_window_contains(const struct sk_window *w, int wday, int minute);

#endif
