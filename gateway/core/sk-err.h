/*
 * Error codes for library-like code (codecs, store, policy, recorder).
 * Such code returns 0 on success or a negative SK_ERR_* value and never
 * logs or exits; process code turns the code into a message with
 * sk_err_str().
 */
#ifndef SK_ERR_H
#define SK_ERR_H

#define SK_ERR_OK 0
#define SK_ERR_INTERNAL -1     /* unexpected internal failure */
#define SK_ERR_ALLOC -2        /* out of memory */
#define SK_ERR_INVALID -3      /* malformed or out-of-range input */
#define SK_ERR_TOO_LONG -4     /* input longer than its limit */
#define SK_ERR_NOT_FOUND -5    /* no such object */
#define SK_ERR_EXISTS -6       /* object already exists */
#define SK_ERR_SYSTEM -7       /* system call failed; errno is kept */
#define SK_ERR_STORE -8        /* the state database failed */
#define SK_ERR_DENIED -9       /* refused by policy */
#define SK_ERR_EOF -10         /* peer closed the connection */
#define SK_ERR_BAD_MESSAGE -11 /* protocol violation by a peer */
#define SK_ERR_CRYPTO -12      /* cryptographic operation failed */
#define SK_ERR_BAD_NAME -13    /* name has characters or length not allowed */
#define SK_ERR_SCHEMA_NEWER -14 /* state written by a newer version */

/* Returns a static string describing code; never NULL. */
const char *sk_err_str(int code);

#endif
