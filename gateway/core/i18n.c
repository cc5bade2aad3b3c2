#include "i18n.h"
#include "sk-err.h"

#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* glibc's counter of catalogue changes: raising it makes gettext drop the
 * translations it remembers, which it must when LANGUAGE changes. */
extern int _nl_msg_cat_cntr;

static char cur_lang[8] = "en";

const char *sk_tr(const char *s)
{
    return s == NULL || s[0] == '\0' ? s : gettext(s);
}

int sk_lang_valid(const char *s)
{
    return s != NULL && (strcmp(s, "en") == 0 || strcmp(s, "ja") == 0);
}

const char *sk_lang_from_env(const char *lang)
{
    if (lang == NULL || lang[0] == '\0') {
        return NULL;
    }
    /* "ja", "ja_JP", "ja_JP.UTF-8", "ja_JP.eucJP@...": the language is
     * what comes before '_', '.' or '@'. */
    if (strncmp(lang, "ja", 2) == 0 &&
        (lang[2] == '\0' || strchr("_.@", lang[2]) != NULL)) {
        return "ja";
    }
    return "en";
}

int sk_i18n_use(const char *lang)
{
    if (!sk_lang_valid(lang)) {
        return SK_ERR_INVALID;
    }
    /* LANGUAGE outranks LC_MESSAGES for gettext (except in the plain C
     * locale, hence C.UTF-8); "en" has no catalogue: the msgids. */
    if (setenv("LANGUAGE", lang, 1) != 0) {
        return SK_ERR_ALLOC;
    }
    ++_nl_msg_cat_cntr;
    snprintf(cur_lang, sizeof(cur_lang), "%s", lang);
    return 0;
}

const char *sk_i18n_lang(void)
{
    return cur_lang;
}

const char *sk_i18n_english(void)
{
    /* a constant, not cur_lang, which the switch overwrites */
    const char *was = strcmp(cur_lang, "ja") == 0 ? "ja" : "en";

    (void)sk_i18n_use("en");
    return was;
}

int sk_i18n_init(const char *dir, const char *lang)
{
    char langs[] = SK_LANGS, *save = NULL, *l;
    int r = 0;

    if (setlocale(LC_MESSAGES, "C.UTF-8") == NULL ||
        setlocale(LC_CTYPE, "C.UTF-8") == NULL) {
        r = SK_ERR_SYSTEM;
    }
    if (bindtextdomain(SK_TEXT_DOMAIN, dir) == NULL ||
        bind_textdomain_codeset(SK_TEXT_DOMAIN, "UTF-8") == NULL ||
        textdomain(SK_TEXT_DOMAIN) == NULL) {
        return SK_ERR_ALLOC;
    }
    /* One lookup per language loads its catalogue (or notes that there is
     * none) now, while files can be opened; the header ("" msgid) is in
     * every catalogue. */
    for (l = strtok_r(langs, " ", &save); l != NULL;
         l = strtok_r(NULL, " ", &save)) {
        const char *h;

        if (sk_i18n_use(l) != 0) {
            return SK_ERR_ALLOC;
        }
        h = gettext("");
        if (r == 0 && strcmp(l, "en") != 0 && (h == NULL || h[0] == '\0')) {
            r = SK_ERR_NOT_FOUND;
        }
    }
    if (sk_i18n_use(sk_lang_valid(lang) ? lang : "en") != 0) {
        return SK_ERR_ALLOC;
    }
    return r;
}

/* Decodes one UTF-8 character at s (n bytes left) into *cp; returns its
 * length, or 0 if it is not well-formed. */
static size_t utf8_one(const unsigned char *s, size_t n, unsigned *cp)
{
    size_t len, i;
    unsigned c;

    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        len = 2;
        c = s[0] & 0x1f;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        len = 3;
        c = s[0] & 0x0f;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        len = 4;
        c = s[0] & 0x07;
    } else {
        return 0;
    }
    if (n < len) {
        return 0;
    }
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
        c = (c << 6) | (s[i] & 0x3f);
    }
    *cp = c;
    return len;
}

/* Unicode's East Asian Width W and F ranges, and the combining marks a
 * terminal draws over the previous character, as wcwidth() sees them in
 * a UTF-8 locale; kept small, without needing one. */
static int cp_width(unsigned c)
{
    static const unsigned wide[][2] = {
        {0x1100, 0x115f}, {0x2e80, 0x303e}, {0x3041, 0x33ff},
        {0x3400, 0x4dbf}, {0x4e00, 0x9fff}, {0xa000, 0xa4cf},
        {0xac00, 0xd7a3}, {0xf900, 0xfaff}, {0xfe30, 0xfe4f},
        {0xff00, 0xff60}, {0xffe0, 0xffe6}, {0x1f300, 0x1f64f},
        {0x1f900, 0x1f9ff}, {0x20000, 0x2fffd}, {0x30000, 0x3fffd},
    };
    static const unsigned zero[][2] = {
        {0x0300, 0x036f}, {0x200b, 0x200f}, {0x20d0, 0x20ff},
        {0x3099, 0x309a}, {0xfe00, 0xfe0f}, {0xfeff, 0xfeff},
    };
    size_t i;

    for (i = 0; i < sizeof(zero) / sizeof(zero[0]); i++) {
        if (c >= zero[i][0] && c <= zero[i][1]) {
            return 0;
        }
    }
    for (i = 0; i < sizeof(wide) / sizeof(wide[0]); i++) {
        if (c >= wide[i][0] && c <= wide[i][1]) {
            return 2;
        }
    }
    return 1;
}

size_t sk_display_width(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s), w = 0;

    while (n > 0) {
        unsigned c = 0;
        size_t l = utf8_one(p, n, &c);

        if (l == 0) {
            l = 1;
            w++;
        } else {
            w += (size_t)cp_width(c);
        }
        p += l;
        n -= l;
    }
    return w;
}

char *sk_pad(char *out, size_t outlen, const char *s, size_t width)
{
    size_t w = sk_display_width(s), len;

    if (outlen == 0) {
        return out;
    }
    snprintf(out, outlen, "%s", s);
    len = strlen(out);
    while (w < width && len + 1 < outlen) {
        out[len++] = ' ';
        w++;
    }
    out[len] = '\0';
    return out;
}

void sk_time_local_fmt(const char *tz, time_t t, char *out, size_t outlen)
{
    struct tm tm;

    setenv("TZ", tz != NULL ? tz : "UTC", 1);
    tzset();
    if (outlen == 0) {
        return;
    }
    if (localtime_r(&t, &tm) == NULL ||
        strftime(out, outlen, "%Y-%m-%d %H:%M %Z", &tm) == 0) {
        out[0] = '\0';
    }
}

int sk_notice_fmt(char *out, size_t outlen, const char *fmt, ...)
{
    va_list ap;
    size_t n;

    if (outlen < 5) {
        if (outlen > 0) {
            out[0] = '\0';
        }
        return 0;
    }
    memcpy(out, "\r\n", 2);
    va_start(ap, fmt);
    (void)vsnprintf(out + 2, outlen - 4, fmt, ap);
    va_end(ap);
    n = strlen(out);
    memcpy(out + n, "\r\n", 3);
    return (int)(n + 2);
}
