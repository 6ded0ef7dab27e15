/*
 * JSON validation and field access on top of jsmn (the only file that includes jsmn.h).
 *
 * jsmn tokenizes but, even in strict mode, does not check the grammar between tokens ("[1 2]", "[1,]",
 * "{\"a\" 1}" and "{} {}" all tokenize), accepts any primitive starting with t/f/n/-/digit ("tru", "01", "1."),
 * lets control characters into strings and stops at a NUL byte. So after tokenizing, validate() walks the tokens
 * once and checks that the bytes between them are exactly the punctuation JSON requires, that each primitive is a
 * literal or an RFC 8259 number, and the depth cap. The tokens stay as jsmn left them; accessors read them.
 */
#include "json.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define JSMN_STATIC
#define JSMN_STRICT
/* Parent links make closing brackets and commas O(1) instead of a scan back over all tokens. */
#define JSMN_PARENT_LINKS
#include <jsmn.h>

/* validate() recurses once per nesting level: a hard ceiling whatever the configured cap. */
#define DEPTH_HARD_MAX 512

static const char msg_invalid[] = "body is not valid JSON";
static const char msg_utf8[] = "body is not valid UTF-8";
static const char msg_depth[] = "JSON nesting deeper than the limit";
static const char msg_tokens[] = "JSON has more tokens than the limit";
static const char msg_size[] = "body is too large to parse as JSON";
static const char msg_escape[] = "JSON string has an invalid escape";
static const char msg_nul[] = "JSON string contains \\u0000";
static const char msg_surrogate[] = "JSON string contains a lone UTF-16 surrogate";
static const char msg_integer[] = "JSON integer is outside the 64-bit range";
static const char msg_real[] = "JSON number is outside the range of a double";
static const char msg_duplicate[] = "JSON object has a duplicate key";

void sy_json_init(sy_json_t *json, size_t max_tokens, unsigned max_depth)
{
    memset(json, 0, sizeof(*json));
    /* jsmn counts tokens in an unsigned int and offsets in an int. */
    json->max_tokens = max_tokens > INT_MAX ? INT_MAX : max_tokens;
    json->max_depth = max_depth > DEPTH_HARD_MAX ? DEPTH_HARD_MAX : max_depth;
}

void sy_json_dispose(sy_json_t *json)
{
    free(json->tokens);
    memset(json, 0, sizeof(*json));
}

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Checks that text[from, to) is whitespace around exactly one `sep` (or whitespace only when sep is 0). */
static int gap_ok(const char *text, int from, int to, char sep)
{
    if (from > to)
        return 0;
    int seen = sep == 0;
    for (int i = from; i != to; ++i) {
        if (is_ws(text[i]))
            continue;
        if (seen || text[i] != sep)
            return 0;
        seen = 1;
    }
    return seen;
}

/* RFC 8259: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)? */
static int number_ok(const char *s, size_t len)
{
    size_t i = 0;
    if (i < len && s[i] == '-')
        ++i;
    if (i == len)
        return 0;
    if (s[i] == '0') {
        ++i;
    } else if (s[i] >= '1' && s[i] <= '9') {
        while (i < len && s[i] >= '0' && s[i] <= '9')
            ++i;
    } else {
        return 0;
    }
    if (i < len && s[i] == '.') {
        size_t d = ++i;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            ++i;
        if (i == d)
            return 0;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        ++i;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            ++i;
        size_t d = i;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            ++i;
        if (i == d)
            return 0;
    }
    return i == len;
}

/*
 * The applier reads bodies with jansson, which refuses an integer outside long long ("too big integer") and a
 * real that overflows a double ("real number overflow"; underflow to 0 is accepted). Ingress refuses the same, so
 * nothing is acknowledged that the applier cannot read. s is a valid RFC 8259 number.
 */
static const char *number_range_err(const char *s, size_t len)
{
    char stackbuf[64], *buf = stackbuf;
    const char *err = NULL;
    int is_integer = memchr(s, '.', len) == NULL && memchr(s, 'e', len) == NULL && memchr(s, 'E', len) == NULL;
    if (is_integer) {
        /* Up to 18 digits always fit and 20 or more never do (JSON has no leading zeros): only 19 need strtoll. */
        size_t digits = len - (s[0] == '-');
        if (digits < 19)
            return NULL;
        if (digits > 19)
            return msg_integer;
    }
    if (len >= sizeof(stackbuf) && (buf = malloc(len + 1)) == NULL)
        abort();
    memcpy(buf, s, len);
    buf[len] = '\0';
    errno = 0;
    if (is_integer) {
        (void)strtoll(buf, NULL, 10);
        if (errno == ERANGE)
            err = msg_integer;
    } else if (isinf(strtod(buf, NULL))) {
        err = msg_real;
    }
    if (buf != stackbuf)
        free(buf);
    return err;
}

/* NULL if s is a JSON literal or an in-range number, else the reason. */
static const char *primitive_err(const char *s, size_t len)
{
    switch (s[0]) {
    case 't':
        return len == 4 && memcmp(s, "true", 4) == 0 ? NULL : msg_invalid;
    case 'f':
        return len == 5 && memcmp(s, "false", 5) == 0 ? NULL : msg_invalid;
    case 'n':
        return len == 4 && memcmp(s, "null", 4) == 0 ? NULL : msg_invalid;
    default:
        return number_ok(s, len) ? number_range_err(s, len) : msg_invalid;
    }
}

static int hex4(const char *s, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i != 4; ++i) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return 0;
    }
    *out = v;
    return 1;
}

/*
 * Checks the contents of a string token (between the quotes) as jansson decodes them: no raw control characters,
 * only the escapes of RFC 8259, no \u0000 (jansson refuses it without JSON_ALLOW_NUL, and a C string would end
 * there), and \u surrogates only as a high-low pair. Returns NULL or the reason.
 */
static const char *string_err(const char *s, size_t len)
{
    for (size_t i = 0; i < len; ++i) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20)
            return msg_invalid;
        if (c != '\\')
            continue;
        if (++i == len)
            return msg_escape;
        if (strchr("\"\\/bfnrt", s[i]) != NULL && s[i] != '\0')
            continue;
        unsigned u = 0, lo = 0; /* set by hex4 (validated input); initialised for -O2 */
        if (s[i] != 'u' || len - i < 5 || !hex4(s + i + 1, &u))
            return msg_escape;
        i += 4;
        if (u == 0)
            return msg_nul;
        if (u >= 0xdc00 && u <= 0xdfff)
            return msg_surrogate;
        if (u >= 0xd800 && u <= 0xdbff) {
            if (len - i < 7 || s[i + 1] != '\\' || s[i + 2] != 'u' || !hex4(s + i + 3, &lo) || lo < 0xdc00 || lo > 0xdfff)
                return msg_surrogate;
            i += 6;
        }
    }
    return NULL;
}

/* Writes the UTF-8 of a string validated by string_err to out (room for len bytes: decoding never grows it). */
static size_t unescape(const char *s, size_t len, char *out)
{
    size_t n = 0;
    for (size_t i = 0; i < len; ++i) {
        if (s[i] != '\\') {
            out[n++] = s[i];
            continue;
        }
        char c = s[++i];
        switch (c) {
        case 'b': out[n++] = '\b'; continue;
        case 'f': out[n++] = '\f'; continue;
        case 'n': out[n++] = '\n'; continue;
        case 'r': out[n++] = '\r'; continue;
        case 't': out[n++] = '\t'; continue;
        case 'u': break;
        default: out[n++] = c; continue;
        }
        unsigned u = 0, lo = 0; /* set by hex4 (validated input); initialised for -O2 */
        (void)hex4(s + i + 1, &u);
        i += 4;
        if (u >= 0xd800 && u <= 0xdbff) {
            (void)hex4(s + i + 3, &lo);
            i += 6;
            u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
        }
        if (u < 0x80) {
            out[n++] = (char)u;
        } else if (u < 0x800) {
            out[n++] = (char)(0xc0 | (u >> 6));
            out[n++] = (char)(0x80 | (u & 0x3f));
        } else if (u < 0x10000) {
            out[n++] = (char)(0xe0 | (u >> 12));
            out[n++] = (char)(0x80 | ((u >> 6) & 0x3f));
            out[n++] = (char)(0x80 | (u & 0x3f));
        } else {
            out[n++] = (char)(0xf0 | (u >> 18));
            out[n++] = (char)(0x80 | ((u >> 12) & 0x3f));
            out[n++] = (char)(0x80 | ((u >> 6) & 0x3f));
            out[n++] = (char)(0x80 | (u & 0x3f));
        }
    }
    return n;
}

static int span_start(const jsmntok_t *t)
{
    return t->type == JSMN_STRING ? t->start - 1 : t->start;
}

static int span_end(const jsmntok_t *t)
{
    return t->type == JSMN_STRING ? t->end + 1 : t->end;
}

typedef struct st_walk_t {
    const char *text;
    const jsmntok_t *toks;
    int count;
    unsigned max_depth;
    const char *err;
} walk_t;

/* A key as jansson sees it: raw when it has no escape, else decoded into owned. */
typedef struct st_key_t {
    const char *base;
    size_t len;
    char *owned;
} key_t_;

static int key_cmp(const void *a, const void *b)
{
    const key_t_ *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->base, y->base, n);
    return c != 0 ? c : (x->len > y->len) - (x->len < y->len);
}

/*
 * jansson (with JSON_REJECT_DUPLICATES, as the applier decodes) refuses an object with two equal keys after
 * decoding escapes; without that flag it keeps the last, while a first-match lookup here would keep the first.
 * So ingress refuses them too. Keys of objects with many members are sorted to keep this O(n log n).
 */
static int keys_unique(walk_t *w, const int *key_toks, int n)
{
    key_t_ small[16], *keys = small;
    int unique = 1;
    if (n < 2)
        return 1;
    if ((size_t)n > sizeof(small) / sizeof(small[0]) && (keys = calloc((size_t)n, sizeof(*keys))) == NULL)
        abort();
    for (int i = 0; i != n; ++i) {
        const jsmntok_t *k = &w->toks[key_toks[i]];
        keys[i] = (key_t_){w->text + k->start, (size_t)(k->end - k->start), NULL};
        if (memchr(keys[i].base, '\\', keys[i].len) != NULL) {
            if ((keys[i].owned = malloc(keys[i].len)) == NULL)
                abort();
            keys[i].len = unescape(keys[i].base, keys[i].len, keys[i].owned);
            keys[i].base = keys[i].owned;
        }
    }
    if (keys == small) {
        /* Few keys (nearly every object): comparing pairs is cheaper than sorting (the same verdict). */
        for (int i = 0; i != n && unique; ++i)
            for (int j = i + 1; j != n && unique; ++j)
                unique = keys[i].len != keys[j].len || memcmp(keys[i].base, keys[j].base, keys[i].len) != 0;
    } else {
        qsort(keys, (size_t)n, sizeof(*keys), key_cmp);
        for (int i = 1; i != n && unique; ++i)
            unique = key_cmp(&keys[i - 1], &keys[i]) != 0;
    }
    for (int i = 0; i != n; ++i)
        free(keys[i].owned);
    if (keys != small)
        free(keys);
    return unique;
}

/* Validates the subtree at tok; returns the index after it, or -1 with w->err set. */
static int validate(walk_t *w, int tok, unsigned depth)
{
    if (tok >= w->count)
        goto Invalid;
    const jsmntok_t *t = &w->toks[tok];
    if (t->start < 0 || t->end < 0)
        goto Invalid;

    switch (t->type) {
    case JSMN_PRIMITIVE:
        if (t->size != 0)
            goto Invalid;
        if ((w->err = primitive_err(w->text + t->start, (size_t)(t->end - t->start))) != NULL)
            return -1;
        return tok + 1;
    case JSMN_STRING:
        if (t->size != 0)
            goto Invalid;
        if ((w->err = string_err(w->text + t->start, (size_t)(t->end - t->start))) != NULL)
            return -1;
        return tok + 1;
    case JSMN_OBJECT:
    case JSMN_ARRAY: {
        if (depth + 1 > w->max_depth) {
            w->err = msg_depth;
            return -1;
        }
        int is_obj = t->type == JSMN_OBJECT;
        int pos = t->start + 1, next = tok + 1;
        int small[16], *key_toks = small;
        if (is_obj && (size_t)t->size > sizeof(small) / sizeof(small[0]) &&
            (key_toks = malloc((size_t)t->size * sizeof(*key_toks))) == NULL)
            abort();
        for (int i = 0; i != t->size; ++i) {
            if (is_obj) {
                if (next >= w->count)
                    goto InvalidMembers;
                const jsmntok_t *key = &w->toks[next];
                if (key->type != JSMN_STRING || key->size != 1 || !gap_ok(w->text, pos, span_start(key), i == 0 ? 0 : ','))
                    goto InvalidMembers;
                if ((w->err = string_err(w->text + key->start, (size_t)(key->end - key->start))) != NULL)
                    goto InvalidMembers;
                key_toks[i] = next;
                pos = span_end(key);
                ++next;
            }
            if (next >= w->count)
                goto InvalidMembers;
            const jsmntok_t *val = &w->toks[next];
            if (!gap_ok(w->text, pos, span_start(val), is_obj ? ':' : (i == 0 ? 0 : ',')))
                goto InvalidMembers;
            if ((next = validate(w, next, depth + 1)) < 0)
                goto InvalidMembers;
            pos = span_end(val);
        }
        if (!gap_ok(w->text, pos, t->end - 1, 0))
            goto InvalidMembers;
        if (is_obj && !keys_unique(w, key_toks, t->size)) {
            w->err = msg_duplicate;
            goto InvalidMembers;
        }
        if (key_toks != small)
            free(key_toks);
        return next;
    InvalidMembers:
        if (key_toks != small)
            free(key_toks);
        goto Invalid;
    }
    default:
        goto Invalid;
    }

Invalid:
    if (w->err == NULL)
        w->err = msg_invalid;
    return -1;
}

/*
 * jsmn closes a bracket by walking up the parent links from the last token, O(depth) per bracket, so a body of
 * nested brackets costs quadratic time (a 200 KB "[[[...]]]" took seconds) before validate() could count levels.
 * This linear pre-scan enforces the depth cap first. It only has to be right for valid JSON: brackets inside
 * strings do not count; anything it misjudges in invalid input is refused later anyway.
 */
static int depth_ok(const char *text, size_t len, unsigned max_depth)
{
    unsigned depth = 0;
    int in_string = 0;
    for (size_t i = 0; i < len; ++i) {
        char c = text[i];
        if (in_string) {
            if (c == '\\')
                ++i;
            else if (c == '"')
                in_string = 0;
        } else if (c == '"') {
            in_string = 1;
        } else if (c == '{' || c == '[') {
            if (++depth > max_depth)
                return 0;
        } else if ((c == '}' || c == ']') && depth != 0) {
            --depth;
        }
    }
    return 1;
}

/* Grows the token array to hold at least n tokens (n <= max_tokens). Out of memory aborts. */
static void grow(sy_json_t *json, size_t n)
{
    size_t cap = json->capacity * 2;
    if (cap < n)
        cap = n;
    if (cap < 64)
        cap = 64;
    if (cap > json->max_tokens)
        cap = json->max_tokens;
    void *p = realloc(json->tokens, cap * sizeof(jsmntok_t));
    if (p == NULL)
        abort();
    json->tokens = p;
    json->capacity = cap;
}

/* A body whose root is a scalar: jsmn's strict mode refuses a primitive at the very end of the input. */
static int parse_scalar_root(sy_json_t *json, const char *text, int from, int to, const char **errmsg)
{
    if (json->max_tokens < 1) {
        *errmsg = msg_tokens;
        return SY_ETOOBIG;
    }
    if (json->capacity < 1)
        grow(json, 1);
    const char *err = primitive_err(text + from, (size_t)(to - from));
    if (err != NULL) {
        *errmsg = err;
        return SY_EPARSE;
    }
    jsmntok_t *t = json->tokens;
    *t = (jsmntok_t){.type = JSMN_PRIMITIVE, .start = from, .end = to, .size = 0, .parent = -1};
    json->count = 1;
    return 0;
}

int sy_json_parse(sy_json_t *json, const char *text, size_t len, const char **errmsg)
{
    const char *ignored;
    if (errmsg == NULL)
        errmsg = &ignored;
    json->count = 0;
    json->text = text;
    json->len = len;

    if (len > INT_MAX - 1) {
        *errmsg = msg_size;
        return SY_ETOOBIG;
    }
    if (!sy_utf8_valid(text, len)) {
        *errmsg = msg_utf8;
        return SY_EPARSE;
    }
    if (!depth_ok(text, len, json->max_depth)) {
        *errmsg = msg_depth;
        return SY_EPARSE;
    }
    int from = 0, to = (int)len;
    while (from < to && is_ws(text[from]))
        ++from;
    while (to > from && is_ws(text[to - 1]))
        --to;
    if (from == to) {
        *errmsg = msg_invalid;
        return SY_EPARSE;
    }
    if (text[from] != '{' && text[from] != '[' && text[from] != '"')
        return parse_scalar_root(json, text, from, to, errmsg);

    jsmn_parser p;
    int r = JSMN_ERROR_NOMEM;
    if (json->capacity != 0) {
        jsmn_init(&p);
        r = jsmn_parse(&p, text, len, json->tokens, (unsigned)json->capacity);
    }
    if (r == JSMN_ERROR_NOMEM) {
        /* Count first, so that a body over the cap is refused without allocating for it. */
        jsmn_init(&p);
        r = jsmn_parse(&p, text, len, NULL, 0);
        if (r < 0) {
            *errmsg = msg_invalid;
            return SY_EPARSE;
        }
        if ((size_t)r > json->max_tokens) {
            *errmsg = msg_tokens;
            return SY_ETOOBIG;
        }
        if ((size_t)r > json->capacity)
            grow(json, (size_t)r);
        jsmn_init(&p);
        r = jsmn_parse(&p, text, len, json->tokens, (unsigned)json->capacity);
    }
    if (r == JSMN_ERROR_NOMEM) { /* cannot happen: the count above is exact */
        *errmsg = msg_tokens;
        return SY_ETOOBIG;
    }
    if (r <= 0) {
        *errmsg = msg_invalid;
        return SY_EPARSE;
    }

    walk_t w = {.text = text, .toks = json->tokens, .count = r, .max_depth = json->max_depth};
    const jsmntok_t *root = &w.toks[0];
    int next = validate(&w, 0, 0);
    if (next < 0 || next != r || span_start(root) != from || span_end(root) != to) {
        /* Too deep is malformed for our purposes (a 400), not an oversized body. */
        *errmsg = w.err != NULL ? w.err : msg_invalid;
        return SY_EPARSE;
    }
    json->count = r;
    return 0;
}

static const jsmntok_t *tok_at(const sy_json_t *json, int tok)
{
    if (tok < 0 || tok >= json->count)
        return NULL;
    return (const jsmntok_t *)json->tokens + tok;
}

sy_json_type_t sy_json_type(const sy_json_t *json, int tok)
{
    const jsmntok_t *t = tok_at(json, tok);
    if (t == NULL)
        return SY_JSON_UNDEFINED;
    switch (t->type) {
    case JSMN_OBJECT:
        return SY_JSON_OBJECT;
    case JSMN_ARRAY:
        return SY_JSON_ARRAY;
    case JSMN_STRING:
        return SY_JSON_STRING;
    case JSMN_PRIMITIVE:
        return SY_JSON_PRIMITIVE;
    default:
        return SY_JSON_UNDEFINED;
    }
}

sy_slice_t sy_json_text(const sy_json_t *json, int tok)
{
    const jsmntok_t *t = tok_at(json, tok);
    if (t == NULL)
        return (sy_slice_t){NULL, 0};
    return (sy_slice_t){json->text + t->start, (size_t)(t->end - t->start)};
}

sy_slice_t sy_json_span(const sy_json_t *json, int tok)
{
    const jsmntok_t *t = tok_at(json, tok);
    if (t == NULL)
        return (sy_slice_t){NULL, 0};
    return (sy_slice_t){json->text + span_start(t), (size_t)(span_end(t) - span_start(t))};
}

int sy_json_size(const sy_json_t *json, int tok)
{
    const jsmntok_t *t = tok_at(json, tok);
    return t != NULL ? t->size : 0;
}

int sy_json_skip(const sy_json_t *json, int tok)
{
    if (tok_at(json, tok) == NULL)
        return json->count;
    /* Tokens are in document order: each token adds its children to the number still to visit. */
    const jsmntok_t *toks = json->tokens;
    int pending = 1;
    while (pending > 0 && tok < json->count) {
        pending += toks[tok].size - 1;
        ++tok;
    }
    return tok;
}

static int str_eq_n(const sy_json_t *json, int tok, const char *s, size_t n);

int sy_json_get(const sy_json_t *json, int obj, const char *key)
{
    const jsmntok_t *t = tok_at(json, obj);
    if (t == NULL || t->type != JSMN_OBJECT)
        return -1;
    int k = obj + 1;
    size_t n = strlen(key);
    for (int i = 0; i != t->size && k + 1 < json->count; ++i) {
        /* Keys compare decoded, as jansson's do; validate() has refused duplicate keys. */
        if (str_eq_n(json, k, key, n))
            return k + 1;
        k = sy_json_skip(json, k + 1);
    }
    return -1;
}

int sy_json_at(const sy_json_t *json, int arr, int i)
{
    const jsmntok_t *t = tok_at(json, arr);
    if (t == NULL || t->type != JSMN_ARRAY || i < 0 || i >= t->size)
        return -1;
    int e = arr + 1;
    for (int k = 0; k != i; ++k)
        e = sy_json_skip(json, e);
    return e < json->count ? e : -1;
}

int sy_json_int64(const sy_json_t *json, int tok, int64_t *out)
{
    const jsmntok_t *t = tok_at(json, tok);
    if (t == NULL || t->type != JSMN_PRIMITIVE)
        return SY_EPARSE;
    const char *s = json->text + t->start;
    size_t len = (size_t)(t->end - t->start), i = 0;
    int neg = 0;
    if (i < len && s[i] == '-') {
        neg = 1;
        ++i;
    }
    if (i == len)
        return SY_EPARSE;
    /* Accumulate negatively so that INT64_MIN is representable. */
    int64_t v = 0;
    for (; i != len; ++i) {
        if (s[i] < '0' || s[i] > '9')
            return SY_EPARSE;
        int d = s[i] - '0';
        if (v < (INT64_MIN + d) / 10)
            return SY_EPARSE;
        v = v * 10 - d;
    }
    if (!neg) {
        if (v == INT64_MIN)
            return SY_EPARSE;
        v = -v;
    }
    *out = v;
    return 0;
}

static int str_eq_n(const sy_json_t *json, int tok, const char *s, size_t n)
{
    const jsmntok_t *t = tok_at(json, tok);
    if (t == NULL || t->type != JSMN_STRING)
        return 0;
    size_t raw_len = (size_t)(t->end - t->start);
    const char *raw = json->text + t->start;
    /* Decoding never makes a string longer, so one that decodes to s is at least n and at most 6 * n + 6 bytes
     * raw (the first test rejects most keys of an object without looking for escapes). */
    if (raw_len < n || raw_len > 6 * n + 6)
        return 0;
    if (memchr(raw, '\\', raw_len) == NULL)
        return raw_len == n && memcmp(raw, s, n) == 0;
    char stackbuf[256], *buf = raw_len <= sizeof(stackbuf) ? stackbuf : malloc(raw_len);
    if (buf == NULL)
        abort();
    size_t m = unescape(raw, raw_len, buf);
    int eq = m == n && memcmp(buf, s, n) == 0;
    if (buf != stackbuf)
        free(buf);
    return eq;
}

char *sy_json_strdup(const sy_json_t *json, int tok)
{
    const jsmntok_t *t = tok_at(json, tok);
    if (t == NULL || t->type != JSMN_STRING)
        return NULL;
    size_t raw_len = (size_t)(t->end - t->start);
    char *out = malloc(raw_len + 1); /* decoding never makes a string longer */
    if (out == NULL)
        abort();
    out[unescape(json->text + t->start, raw_len, out)] = '\0';
    return out;
}

int sy_json_str_eq(const sy_json_t *json, int tok, const char *s)
{
    return str_eq_n(json, tok, s, strlen(s));
}

int sy_json_has_escape(const sy_json_t *json, int tok)
{
    const jsmntok_t *t = tok_at(json, tok);
    return t != NULL && t->type == JSMN_STRING && memchr(json->text + t->start, '\\', (size_t)(t->end - t->start)) != NULL;
}

int sy_utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        /* Webhook bodies are mostly ASCII: skip 8 bytes at a time while no byte has its high bit set. */
        while (len - i >= 8) {
            uint64_t word;
            memcpy(&word, s + i, 8);
            if ((word & 0x8080808080808080ull) != 0)
                break;
            i += 8;
        }
        if (i >= len)
            break;
        unsigned char c = s[i];
        if (c < 0x80) {
            ++i;
            continue;
        }
        size_t n;
        unsigned char lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
        if (c >= 0xc2 && c <= 0xdf) {
            n = 2;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 3;
            if (c == 0xe0)
                lo = 0xa0; /* overlong */
            else if (c == 0xed)
                hi = 0x9f; /* UTF-16 surrogates */
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 4;
            if (c == 0xf0)
                lo = 0x90; /* overlong */
            else if (c == 0xf4)
                hi = 0x8f; /* above U+10FFFF */
        } else {
            return 0; /* continuation byte, overlong 0xc0/0xc1, or 0xf5.. */
        }
        if (len - i < n || s[i + 1] < lo || s[i + 1] > hi)
            return 0;
        for (size_t k = 2; k < n; ++k) {
            if (s[i + k] < 0x80 || s[i + k] > 0xbf)
                return 0;
        }
        i += n;
    }
    return 1;
}
