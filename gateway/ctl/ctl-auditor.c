/*
 * sekishoctl key seal | key add-auditor, and the auditor passphrase that
 * init, seal and add-auditor share (R-LOG-5: transcripts readable by
 * auditors only). An auditor secret key on the gateway is always sealed
 * under a passphrase: root alone cannot read a transcript with it.
 */
#include "audit.h"
#include "config.h"
#include "i18n.h"
#include "key.h"
#include "sk-err.h"
#include "util.h"

#include "ctl.h"

#include <errno.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PASS_MIN 12

char *ctl_auditor_passphrase(const char *ppfile, int *generated)
{
    /* no 0/O or 1/l/I: read off paper without doubt */
    static const char alphabet[] = "23456789abcdefghijkmnpqrstuvwxyz";
    char *pass = NULL;
    size_t len = 0;
    int r, i;

    *generated = 0;
    if (ppfile != NULL) {
        if ((r = sk_file_read(ppfile, 1024, &pass, &len)) != 0) {
            die("cannot read %s: %s", ppfile, sk_err_str(r));
        }
        pass[strcspn(pass, "\r\n")] = '\0';
        if (strlen(pass) < PASS_MIN) {
            sk_secret_free(pass);
            die("auditor passphrase: at least %d characters", PASS_MIN);
        }
        return pass;
    }
    /* 6 groups of 5 from 32 symbols: 150 bits */
    if ((pass = malloc(6 * 6)) == NULL) {
        die("out of memory");
    }
    for (i = 0; i < 6 * 6 - 1; i++) {
        pass[i] = i % 6 == 5 ? '-'
                             : alphabet[randombytes_uniform(
                                   (uint32_t)(sizeof(alphabet) - 1))];
    }
    pass[6 * 6 - 1] = '\0';
    *generated = 1;
    return pass;
}

void ctl_passphrase_announce(const char *pass, const char *keypath)
{
    /* stderr: stdout may be a script's (init prints the egress line) */
    fprintf(stderr,
            _("\n"
              "  AUDITOR KEY PASSPHRASE (shown this once, never stored):\n"
              "\n"
              "      %s\n"
              "\n"
              "  %s is sealed under it. Write it down now and keep it\n"
              "  OFFLINE with the auditors (a safe, a password manager that\n"
              "  is not on this host): without it no transcript can be\n"
              "  replayed, exported or searched, and nobody can recover "
              "it.\n"
              "\n"),
            pass, keypath);
}

/* key seal [--passphrase-file F]: an installation made before keys were
 * always sealed (or by init --existing-config) gets its auditor key
 * sealed in place. The new file is written beside the old and renamed
 * over it, so a crash leaves one whole key, never none. */
static int key_seal(int argc, char **argv)
{
    struct sk_boxkey *k = NULL;
    const char *ppfile = NULL;
    char tmp[PATH_MAX + 8], *pass = NULL;
    int r, generated;

    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--passphrase-file") == 0 && i + 1 < argc) {
            ppfile = argv[++i];
        } else {
            die_usage("key seal [--passphrase-file F]");
        }
    }
    r = sk_boxkey_load_secret(cfg->auditor_key, NULL, &k);
    if (r == SK_ERR_DENIED) {
        printf(_("auditor key %s is already sealed\n"), cfg->auditor_key);
        return 0;
    }
    if (r != 0) {
        die("auditor key %s: %s", cfg->auditor_key,
            r == SK_ERR_SYSTEM ? strerror(errno) : sk_err_str(r));
    }
    pass = ctl_auditor_passphrase(ppfile, &generated);
    snprintf(tmp, sizeof(tmp), "%s.new", cfg->auditor_key);
    (void)unlink(tmp); /* a crashed run's; never the key itself */
    if ((r = sk_boxkey_write_secret(tmp, k, pass)) != 0) {
        sk_boxkey_free(k);
        sk_secret_free(pass);
        die("cannot write %s: %s", tmp,
            r == SK_ERR_SYSTEM ? strerror(errno) : sk_err_str(r));
    }
    sk_boxkey_free(k);
    k = NULL;
    /* The sealed file must open with the passphrase before the open one
     * goes: a typo in a file must not lock every transcript away. */
    if ((r = sk_boxkey_load_secret(tmp, pass, &k)) != 0) {
        unlink(tmp);
        sk_secret_free(pass);
        die("sealed key %s does not open: %s; nothing changed", tmp,
            sk_err_str(r));
    }
    sk_boxkey_free(k);
    if (sk_audit("auditor_key_sealed", "{s:s, s:s, s:b}", "admin", admin,
                 "path", cfg->auditor_key, "generated_passphrase",
                 generated) != 0) {
        unlink(tmp);
        sk_secret_free(pass);
        die("audit log unavailable: key not sealed");
    }
    if (rename(tmp, cfg->auditor_key) != 0) {
        unlink(tmp);
        sk_secret_free(pass);
        die("rename %s: %s", tmp, strerror(errno));
    }
    if (generated) {
        ctl_passphrase_announce(pass, cfg->auditor_key);
    }
    sk_secret_free(pass);
    printf(_("auditor key %s sealed (copies made before, in backups or "
             "elsewhere, are still open: destroy them)\n"),
           cfg->auditor_key);
    return 0;
}

/* The configuration text with path added to auditor_pubkeys: appended to
 * a set line, or the commented default (or an empty value) replaced by
 * the effective list plus path. NULL if the file has neither. */
static char *pubkeys_added(const char *text, const char *path)
{
    const char *line, *eol, *hit = NULL;
    char *out = NULL;
    int set = 0;

    for (line = text; *line != '\0'; line = *eol ? eol + 1 : eol) {
        eol = line + strcspn(line, "\n");
        if (strncmp(line, "auditor_pubkeys", 15) == 0 &&
            strchr(" =", line[15]) != NULL) {
            hit = line;
            set = 1;
            break;
        }
        if (hit == NULL && strncmp(line, "#auditor_pubkeys =", 18) == 0) {
            hit = line;
        }
    }
    if (hit == NULL) {
        return NULL;
    }
    eol = hit + strcspn(hit, "\n");
    if (set) {
        /* an empty value means the default: keep it in the list */
        const char *v = strchr(hit, '=');

        v = (v != NULL && v < eol) ? v + 1 : eol;
        v += strspn(v, " \t");
        set = v < eol;
    }
    if (set) {
        /* trailing blanks would leave the new path after them: fine */
        if (asprintf(&out, "%.*s %s%s", (int)(eol - text), text, path,
                     eol) < 0) {
            return NULL;
        }
    } else if (asprintf(&out, "%.*sauditor_pubkeys = %s %s%s",
                        (int)(hit - text), text, cfg->auditor_pubkeys, path,
                        eol) < 0) {
        return NULL;
    }
    return out;
}

/* key add-auditor NAME [--passphrase-file F]: a second (third...) auditor
 * key pair, sealed; its public half joins auditor_pubkeys, so sessions
 * that start from now on are sealed to every auditor key. Transcripts
 * recorded before stay sealed to the keys of their time. */
static int key_add_auditor(int argc, char **argv)
{
    const char *name, *ppfile = NULL;
    char sec[PATH_MAX], pub[PATH_MAX], tmp[PATH_MAX + 8], err[512] = "";
    char *pass = NULL, *text = NULL, *edited = NULL;
    size_t len = 0;
    struct sk_config *nc = NULL;
    struct stat sb;
    int r, generated;

    if (argc < 1) {
        die_usage("key add-auditor NAME [--passphrase-file F]");
    }
    name = argv[0];
    check_name("auditor", name);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--passphrase-file") == 0 && i + 1 < argc) {
            ppfile = argv[++i];
        } else {
            die_usage("key add-auditor NAME [--passphrase-file F]");
        }
    }
    snprintf(sec, sizeof(sec), "%s/auditor-%s.key", cfg->state_dir, name);
    snprintf(pub, sizeof(pub), "%s/auditor-%s.pub", cfg->state_dir, name);
    if (strstr(cfg->auditor_pubkeys, pub) != NULL) {
        die("auditor %s: %s is already in auditor_pubkeys", name, pub);
    }
    /* The configuration first: a file we cannot edit means no keys. */
    if (stat(ctl_cfgpath, &sb) != 0 ||
        (r = sk_file_read(ctl_cfgpath, 1 << 20, &text, &len)) != 0) {
        die("cannot read %s: %s", ctl_cfgpath, strerror(errno));
    }
    if ((edited = pubkeys_added(text, pub)) == NULL) {
        die("%s has no auditor_pubkeys line in [recorder]: add one "
            "(auditor_pubkeys = %s) and run this again",
            ctl_cfgpath, cfg->auditor_pubkeys);
    }
    free(text);
    pass = ctl_auditor_passphrase(ppfile, &generated);
    if ((r = sk_boxkey_generate_files(sec, pub, pass)) != 0) {
        sk_secret_free(pass);
        die("cannot write auditor keys %s: %s", sec,
            r == SK_ERR_EXISTS   ? _("exists")
            : r == SK_ERR_SYSTEM ? strerror(errno)
                                 : sk_err_str(r));
    }
    snprintf(tmp, sizeof(tmp), "%s.new", ctl_cfgpath);
    (void)unlink(tmp);
    if ((r = sk_file_write_new(tmp, edited, strlen(edited),
                               (int)(sb.st_mode & 0777))) != 0 ||
        sk_config_load(tmp, &nc, err, sizeof(err)) != 0 ||
        strstr(nc->auditor_pubkeys, pub) == NULL) {
        unlink(tmp);
        unlink(sec);
        unlink(pub);
        sk_secret_free(pass);
        die("cannot add %s to auditor_pubkeys in %s: %s", pub, ctl_cfgpath,
            r != 0       ? sk_err_str(r)
            : nc == NULL ? err
                         : _("not taken"));
    }
    if (sk_audit("auditor_key_added", "{s:s, s:s, s:s, s:s}", "admin",
                 admin, "auditor", name, "public_key", pub,
                 "auditor_pubkeys", nc->auditor_pubkeys) != 0) {
        unlink(tmp);
        unlink(sec);
        unlink(pub);
        sk_secret_free(pass);
        die("audit log unavailable: no auditor key added");
    }
    sk_config_free(nc);
    if (rename(tmp, ctl_cfgpath) != 0) {
        sk_secret_free(pass);
        die("rename %s: %s", tmp, strerror(errno));
    }
    free(edited);
    if (generated) {
        ctl_passphrase_announce(pass, sec);
    }
    sk_secret_free(pass);
    printf(_("auditor %s added: sessions from now on are sealed to %s "
             "too\n"
             "give %s to the auditor and remove it from this host\n"),
           name, pub, sec);
    return 0;
}

int ctl_key_auditor(int argc, char **argv)
{
    if (argc >= 1 && strcmp(argv[0], "seal") == 0) {
        return key_seal(argc - 1, argv + 1);
    }
    if (argc >= 1 && strcmp(argv[0], "add-auditor") == 0) {
        return key_add_auditor(argc - 1, argv + 1);
    }
    die_usage("key: rotate-signing, seal or add-auditor");
}
