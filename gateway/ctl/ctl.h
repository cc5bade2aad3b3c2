/* sekishoctl's shared parts: sekishoctl.c (administration) and
 * ctl-audit.c (sessions, transcripts, audit log). */
#ifndef SK_CTL_H
#define SK_CTL_H

#include "config.h"
#include "i18n.h"
#include "sk-err.h"
#include "store.h"

#include <stdint.h>

#define EXIT_REFUSED 1
#define EXIT_USAGE 2

/* sekishoctl tells a person what an error code means in their language
 * (the texts are marked in gateway/core/log.c): in messages only.
 * Machine-readable output (status --json details) calls the English
 * function itself, as (sk_err_str)(r). */
#define sk_err_str(code) sk_tr(sk_err_str(code))

extern struct sk_config *cfg;
extern sk_store *store;
extern char admin[64]; /* who runs this, for audit lines */
/* Set by ctl_actor_init (sekishoctl.c): the person acting, NULL when root
 * runs sekishoctl at the console (then break_glass is 1 and every
 * state-changing or transcript-reading command is audited as
 * "break_glass"). A path that runs a command for a person over SSH sets
 * ctl_person to that person and break_glass to 0. */
extern const char *ctl_person;
extern int break_glass;
extern const char *ctl_cfgpath; /* the configuration file in use */
/* --auditor-passphrase-file before the command: the auditor key's
 * passphrase for export, replay, search and watch when the command names
 * none (scripts, tests); NULL: ask on the terminal. */
extern const char *ctl_auditor_ppfile;

void die_usage(const char *fmt, ...) __attribute__((noreturn))
__attribute__((format(printf, 1, 2)));
void die(const char *fmt, ...) __attribute__((noreturn))
__attribute__((format(printf, 1, 2)));
void check_name(const char *what, const char *name);
void fmt_time(int64_t t, char *out, size_t n);
/* Terminal safety: every stored text that came from a client, a target
 * or a worker is printed for a person through these (sk_term_safe), never
 * raw. term_str returns its one-line rendering ("?" for NULL), valid for
 * 16 more calls, for printf arguments; put_term prints it to stdout.
 * put_json prints JSON text to stdout with DEL and C1 written as \u00XX
 * too: the same JSON value, nothing a terminal obeys. All die on
 * allocation failure (put_json on a NULL json as well). */
const char *term_str(const char *s);
void put_term(const char *s);
void put_json(const char *json);

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
/* ctl-backup.c: backup DIR (after open_state; signer signs the manifest)
 * and restore GENERATION (instead of the config load: cfgpath may exist
 * only inside the generation). */
struct sk_key;
int ctl_backup(int argc, char **argv, const struct sk_key *signer);
int ctl_restore(const char *cfgpath, int argc, char **argv);
/* The audit/transcript signing keys sekishoctl trusts (sk_audit_keyfn). */
int ctl_trusted_key(const char *id, uint8_t pk[32], void *arg);
/* ctl-auditor.c: key seal | key add-auditor (argv from "seal"). */
int ctl_key_auditor(int argc, char **argv);
/* The auditor passphrase from ppfile (at least 12 characters; dies
 * otherwise) or, ppfile NULL, a new strong one (*generated = 1) that the
 * caller shows once with ctl_passphrase_announce. Free with
 * sk_secret_free. */
char *ctl_auditor_passphrase(const char *ppfile, int *generated);
void ctl_passphrase_announce(const char *pass, const char *keypath);
/* `status`: health of the gateway (ctl-status.c); runs without the
 * signing key and writes nothing. */
int ctl_status(int argc, char **argv);
/* ctl-actor.c: --actor NAME --via ssh, after open_state. Proves the
 * caller is the monitor, checks NAME's role for argv (the subcommand
 * and its arguments) and makes NAME the one audit lines name (admin);
 * on any refusal audits it and exits 1. ctl_actor is NAME once proven,
 * else NULL. */
void ctl_actor_begin(const char *actor, int argc, char **argv);
/* First thing once --actor NAME --via ssh is read (before the
 * configuration): asks the parent over descriptor 3 to prove it started
 * this command for NAME with argv (util.h sk_actor_proof); blocks at
 * most 10 s. Never exits: ctl_actor_begin refuses unless it got the
 * answer. */
void ctl_actor_ask(const char *actor, int argc, char **argv);
const char *ctl_actor(void);
/* A check inside a subcommand refused the person's own act on
 * themselves (sk_roles_self_check): audits command_refused under the
 * person with reason (English), as ctl_actor_begin's refusals are. Does
 * nothing for root at the console (no person acting; break-glass says
 * what it did). The caller then dies with the message for the person. */
void ctl_actor_refused(const char *reason);

#endif
