/*
 * Exit statuses of sekisho-session, its worker and its recorder, read by
 * sekishod (penalties per source, srclimit.h). In the shared core because
 * the recorder process (recorder/proc/) exits with one too.
 */
#ifndef SK_EXITCODES_H
#define SK_EXITCODES_H

/* Worker exit statuses (and so sekisho-session's), read by sekishod. */
enum sk_exit {
    SK_EXIT_OK = 0,
    SK_EXIT_ERROR = 1,
    SK_EXIT_AUTH_FAILED = 10,
    SK_EXIT_GRACE = 11,
    SK_EXIT_SANDBOX = 12,
    SK_EXIT_RECORDING = 13,
    SK_EXIT_PROTOCOL = 14,
    SK_EXIT_STORE = 15,
};

#endif
