/*
 * Messages people read, in their language, through gettext (glibc's
 * libintl, text domain "sekisho", catalogues po/<lang>.po built into
 * <localedir>/<lang>/LC_MESSAGES/sekisho.mo).
 *
 * The worker is sandboxed and chrooted after it starts, so gettext must
 * never open a file once a session runs: sk_i18n_init loads the catalogue
 * of every language the gateway speaks up front (glibc keeps loaded and
 * missing catalogues for good), and sk_i18n_use then only switches which
 * one _() reads (the LANGUAGE variable over the C.UTF-8 locale, which
 * libc always has; no ja_JP locale is needed).
 *
 * Only text for people goes through _(): audit lines, JSON, CSV and other
 * machine-readable output stay as they are.
 */
#ifndef SK_I18N_H
#define SK_I18N_H

#include <libintl.h>
#include <stddef.h>
#include <time.h>

#define SK_TEXT_DOMAIN "sekisho"

#define _(s) gettext(s)
/* Marks a string for the catalogue where it is defined; _() at the place
 * it is shown translates it. */
#define N_(s) (s)

/* _() for a text chosen at run time (a reason marked N_() where it was
 * written, or any other text, which comes back unchanged): "" stays ""
 * (gettext("") would be the catalogue's header). */
const char *sk_tr(const char *s) __attribute__((format_arg(1)));

/* The languages the gateway speaks, the first the source language. */
#define SK_LANGS "en ja"

/* 1 if s names a language the gateway speaks ("en" or "ja"). Pure. */
int sk_lang_valid(const char *s);

/* The gateway language a client's LANG value asks for: "ja" for ja,
 * ja_JP.UTF-8 and the like, "en" for any other value, NULL for an empty
 * or absent one (the client asked for nothing). Pure. */
const char *sk_lang_from_env(const char *lang);

/* Binds the text domain to dir, sets LC_MESSAGES and LC_CTYPE to C.UTF-8
 * and loads every catalogue of SK_LANGS, then speaks lang. Opens files;
 * call before any sandbox. Returns 0, or SK_ERR_SYSTEM if the C.UTF-8
 * locale is missing (then everything stays English), or SK_ERR_NOT_FOUND
 * if a catalogue is missing (its language shows English). Never logs. */
int sk_i18n_init(const char *dir, const char *lang);

/* Speaks lang (sk_lang_valid) from now on: _() reads its catalogue.
 * Opens no file after sk_i18n_init. Returns 0 or SK_ERR_INVALID. */
int sk_i18n_use(const char *lang);

/* The language _() speaks now ("en" before any sk_i18n_use). */
const char *sk_i18n_lang(void);

/* Speaks English from now on, for a text that is recorded (audit lines,
 * logs) where the same call also makes the text a person reads; returns
 * the language spoken before (a static string of SK_LANGS) for
 * sk_i18n_use to go back to. Opens no file. */
const char *sk_i18n_english(void);

/* Columns the UTF-8 text s takes on a terminal: East Asian wide and
 * fullwidth characters take two, combining marks none, the rest one.
 * Invalid bytes count one each. Pure; needs no locale. */
size_t sk_display_width(const char *s);

/* Writes s into out (outlen bytes) followed by spaces up to width
 * columns (sk_display_width); longer text is kept whole. Returns out. */
char *sk_pad(char *out, size_t outlen, const char *s, size_t width);

/* Formats t for a person as local time in zone tz (a zoneinfo name),
 * the zone named: "2026-12-01 09:00 JST". Sets TZ (process-wide). In a
 * sandbox, only for a zone loaded before it (sk_local_time). */
void sk_time_local_fmt(const char *tz, time_t t, char *out, size_t outlen);

/* Formats a notice for a raw terminal: "\r\n", the text, "\r\n" (the
 * catalogue keeps line ends out of its messages). Returns the length
 * written (truncated to outlen - 1). */
int sk_notice_fmt(char *out, size_t outlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
