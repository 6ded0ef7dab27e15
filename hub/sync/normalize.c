/*
 * Normalisers: the canonical form of a field value, used for identity keys, echo detection ("is this the value we
 * pushed?") and exclusion rules. They work on bytes and only ever change ASCII bytes (plus the two multi-byte
 * characters named below), so a UTF-8 sequence is never split or altered: "Zoë GmbH" keeps its "ë".
 */
#include <stdlib.h>
#include <string.h>

#include "policy.h"

static const struct {
    const char *name;
    sy_normalizer_t kind;
} normalizers[] = {
    {"trim", SY_NORM_TRIM},
    {"lower", SY_NORM_LOWER},
    {"email", SY_NORM_EMAIL},
    {"phone_e164", SY_NORM_PHONE_E164},
    {"company_name", SY_NORM_COMPANY_NAME},
};

/* Legal-form words dropped from the end of a company name (after punctuation became spaces). */
static const char *const company_suffixes[] = {"inc", "corp", "corporation", "llc", "ltd",     "limited", "gmbh",
                                               "sa",  "sas",  "bv",          "co",  "company", "plc"};

int sy_normalizer_parse(const char *name, sy_normalizer_t *out)
{
    for (size_t i = 0; name != NULL && i != SY_ARRAY_SIZE(normalizers); ++i) {
        if (strcmp(normalizers[i].name, name) == 0) {
            *out = normalizers[i].kind;
            return 0;
        }
    }
    return SY_EINVAL;
}

const char *sy_normalizer_name(sy_normalizer_t n)
{
    for (size_t i = 0; i != SY_ARRAY_SIZE(normalizers); ++i)
        if (normalizers[i].kind == n)
            return normalizers[i].name;
    return "?";
}

static char *xmalloc(size_t n)
{
    char *p = malloc(n);
    if (p == NULL)
        abort(); /* values are bounded by the event size cap: running out here is not recoverable */
    return p;
}

static int is_ascii_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/*
 * Width of the white space at s: 1 for ASCII white space, 2 for U+00A0 (no-break space, which copy-pasted names
 * from web forms and spreadsheets often carry), 0 otherwise.
 */
static size_t space_width(const unsigned char *s)
{
    if (is_ascii_space(*s))
        return 1;
    if (s[0] == 0xc2 && s[1] == 0xa0)
        return 2;
    return 0;
}

/* Width of an apostrophe at s (ASCII ' or U+2019), 0 otherwise. */
static size_t apostrophe_width(const unsigned char *s)
{
    if (*s == '\'')
        return 1;
    if (s[0] == 0xe2 && s[1] == 0x80 && s[2] == 0x99)
        return 3;
    return 0;
}

static int is_ascii_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static unsigned char ascii_lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

/* Trim and fold inner runs of white space to one ' ' (out has room for strlen(in) + 1). */
static void trim_into(const char *in, char *out)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t o = 0;
    int pending_space = 0;
    while (*s != '\0') {
        size_t w = space_width(s);
        if (w != 0) {
            pending_space = o != 0;
            s += w;
            continue;
        }
        if (pending_space) {
            out[o++] = ' ';
            pending_space = 0;
        }
        out[o++] = (char)*s++;
    }
    out[o] = '\0';
}

static void lower_in_place(char *s)
{
    for (; *s != '\0'; ++s)
        *s = (char)ascii_lower((unsigned char)*s);
}

static void email_in_place(char *s)
{
    char *tmp = xmalloc(strlen(s) + 1);
    trim_into(s, tmp);
    lower_in_place(tmp);
    const char *at = strchr(tmp, '@');
    /* Not an address: one '@' with text on both sides, and no white space left after trimming. */
    if (at == NULL || at == tmp || at[1] == '\0' || strchr(at + 1, '@') != NULL || strchr(tmp, ' ') != NULL)
        tmp[0] = '\0';
    memcpy(s, tmp, strlen(tmp) + 1);
    free(tmp);
}

static int is_phone_separator(char c)
{
    return is_ascii_space((unsigned char)c) || c == '.' || c == '-' || c == '(' || c == ')' || c == '/';
}

/*
 * "+49 (30) 123-456" -> "+4930123456", "0049 30 123456" -> "+4930123456", "030 123456" -> "030123456".
 * After an international prefix, "(0)" is the trunk-prefix convention ("+44 (0)20 ...": dial the 0 only
 * nationally) and is dropped. Anything else (letters, a '+' inside, no digit at all) is not a phone number: "".
 */
static void phone_in_place(char *s)
{
    char *out = s; /* the output never grows past the input, so it is written over it */
    const char *p = s;
    size_t o = 0, digits = 0;
    int international = 0;
    while (is_phone_separator(*p))
        ++p;
    if (*p == '+') {
        international = 1;
        out[o++] = '+';
        ++p;
    } else if (p[0] == '0' && p[1] == '0') {
        international = 1;
        out[o++] = '+';
        p += 2;
    }
    for (; *p != '\0'; ++p) {
        if (international && strncmp(p, "(0)", 3) == 0) {
            p += 2;
        } else if (*p >= '0' && *p <= '9') {
            out[o++] = *p;
            ++digits;
        } else if (!is_phone_separator(*p)) {
            o = digits = 0;
            break;
        }
    }
    out[digits != 0 ? o : 0] = '\0';
}

static int is_company_suffix(const char *word, size_t len)
{
    for (size_t i = 0; i != SY_ARRAY_SIZE(company_suffixes); ++i)
        if (strlen(company_suffixes[i]) == len && memcmp(company_suffixes[i], word, len) == 0)
            return 1;
    return 0;
}

/* "b.v." or "s.a.s": single letters joined by dots, an abbreviation to be written as one word. */
static int is_dotted_abbreviation(const char *w, size_t len)
{
    size_t i = 0;
    if (memchr(w, '.', len) == NULL)
        return 0;
    while (i < len) {
        if (!(w[i] >= 'a' && w[i] <= 'z'))
            return 0;
        if (i + 1 == len)
            return 1;
        if (w[i + 1] != '.')
            return 0;
        i += 2;
    }
    return 1;
}

typedef struct st_word_t {
    const char *base;
    size_t len;
} word_t;

/*
 * Lower case; apostrophes dropped ("McDonald's" -> "mcdonalds"); other ASCII punctuation becomes a space except
 * dots of abbreviations ("B.V." -> "bv"); then trailing legal suffixes are dropped while more than one word
 * is left ("Acme Corporation Ltd" -> "acme", but "Inc" stays "inc").
 */
static void company_in_place(char *s)
{
    size_t n = strlen(s), o = 0, num_words = 0;
    char *buf = xmalloc(n + 1);
    word_t *words = (word_t *)(void *)xmalloc(sizeof(word_t) * (n / 2 + 2));
    const unsigned char *p = (const unsigned char *)s;

    /* Pass 1: words separated by single spaces, '.' kept for now. */
    while (*p != '\0') {
        size_t w;
        if ((w = apostrophe_width(p)) != 0) {
            p += w;
        } else if ((w = space_width(p)) != 0 || (*p < 0x80 && *p != '.' && !is_ascii_alnum(*p))) {
            if (o != 0 && buf[o - 1] != ' ')
                buf[o++] = ' ';
            p += w != 0 ? w : 1;
        } else {
            buf[o++] = (char)ascii_lower(*p++);
        }
    }
    buf[o] = '\0';

    /* Pass 2: split words on their dots unless they are abbreviations, which lose the dots in place. */
    for (char *w = buf; *w != '\0';) {
        size_t len = strcspn(w, " ");
        char *next = w[len] == ' ' ? w + len + 1 : w + len;
        if (is_dotted_abbreviation(w, len)) {
            size_t k = 0;
            for (size_t i = 0; i != len; ++i)
                if (w[i] != '.')
                    w[k++] = w[i];
            words[num_words++] = (word_t){w, k};
        } else {
            for (size_t i = 0; i < len;) {
                size_t part = strcspn(w + i, ". ");
                if (part > len - i)
                    part = len - i;
                if (part != 0)
                    words[num_words++] = (word_t){w + i, part};
                i += part + 1;
            }
        }
        w = next;
    }

    while (num_words > 1 && is_company_suffix(words[num_words - 1].base, words[num_words - 1].len))
        --num_words;

    /* The result is never longer than the input, so it is written over s. */
    o = 0;
    for (size_t i = 0; i != num_words; ++i) {
        if (i != 0)
            s[o++] = ' ';
        memcpy(s + o, words[i].base, words[i].len);
        o += words[i].len;
    }
    s[o] = '\0';
    free(words);
    free(buf);
}

char *sy_normalize(const sy_normalizer_t *list, size_t n, const char *value)
{
    if (value == NULL)
        value = "";
    size_t len = strlen(value);
    char *s = xmalloc(len + 1), *tmp;
    memcpy(s, value, len + 1);
    for (size_t i = 0; i != n; ++i) {
        switch (list[i]) {
        case SY_NORM_TRIM:
            tmp = xmalloc(strlen(s) + 1);
            trim_into(s, tmp);
            free(s);
            s = tmp;
            break;
        case SY_NORM_LOWER:
            lower_in_place(s);
            break;
        case SY_NORM_EMAIL:
            email_in_place(s);
            break;
        case SY_NORM_PHONE_E164:
            phone_in_place(s);
            break;
        case SY_NORM_COMPANY_NAME:
            company_in_place(s);
            break;
        }
    }
    return s;
}
