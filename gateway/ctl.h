/* sekishoctl's shared parts: sekishoctl.c (administration) and
 * ctl-audit.c (sessions, transcripts, audit log). */
#ifndef SK_CTL_H
#define SK_CTL_H

#include "config.h"
#include "store.h"

#include <stdint.h>

#define EXIT_REFUSED 1
#define EXIT_USAGE 2

extern struct sk_config *cfg;
extern sk_store *store;
extern char admin[64]; /* who runs this, for audit lines */

void die_usage(const char *fmt, ...) __attribute__((noreturn))
__attribute__((format(printf, 1, 2)));
void die(const char *fmt, ...) __attribute__((noreturn))
__attribute__((format(printf, 1, 2)));
void check_name(const char *what, const char *name);
void fmt_time(int64_t t, char *out, size_t n);

int ctl_session(int argc, char **argv);
int ctl_verify(int argc, char **argv);
int ctl_export(int argc, char **argv);
int ctl_replay(int argc, char **argv);
int ctl_search(int argc, char **argv);
int ctl_purge(int argc, char **argv);
int ctl_audit(int argc, char **argv);
int ctl_request(int argc, char **argv);
int ctl_key(int argc, char **argv);
int ctl_report(int argc, char **argv);
int ctl_user_key(int argc, char **argv);
int ctl_user_methods(int argc, char **argv);

#endif
