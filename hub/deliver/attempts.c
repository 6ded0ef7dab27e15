/*
 * The delivery attempt log (see attempts.h): a small document per push, rewritten at each attempt.
 */
#include "attempts.h"

#include <string.h>

#include "codec.h"
#include "records.h"

/* The longest prefix of s[0..len) that is at most cap bytes and does not end inside a UTF-8 sequence. */
static size_t utf8_prefix(const char *s, size_t len, size_t cap)
{
    size_t n = len < cap ? len : cap;
    if (n < len)
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            --n;
    return n;
}

json_t *sy_attempt_doc(int64_t at_ms, const char *method, const char *path, long status, const char *curl_error,
                       int64_t duration_ms, const char *answer, size_t answer_len, size_t request_bytes, size_t batch)
{
    size_t pl = path != NULL ? utf8_prefix(path, strlen(path), SY_ATTEMPTS_PATH) : 0;
    size_t al = answer != NULL ? utf8_prefix(answer, answer_len, SY_ATTEMPTS_ANSWER) : 0;
    json_t *p = json_stringn(path != NULL ? path : "", pl);
    json_t *a = json_stringn(answer != NULL ? answer : "", al);
    json_t *o = json_pack("{s:I, s:s, s:o, s:i, s:I, s:o, s:I, s:I, s:I}", "at_ms", (json_int_t)at_ms, "method",
                          method != NULL ? method : "", "path", p != NULL ? p : json_string("(not UTF-8)"), "status",
                          (int)status, "duration_ms", (json_int_t)duration_ms, "answer",
                          a != NULL ? a : json_string("(not UTF-8)"), "answer_bytes", (json_int_t)answer_len,
                          "request_bytes", (json_int_t)request_bytes, "batch", (json_int_t)batch);
    if (o != NULL && curl_error != NULL)
        json_object_set_new(o, "error", json_string(curl_error));
    return o;
}

static sy_slice_t key_of(unsigned char kb[8], uint64_t push_id)
{
    sy_put_be64(kb, push_id);
    return (sy_slice_t){(const char *)kb, 8};
}

int sy_attempts_add(sy_txn_t *txn, uint64_t push_id, const json_t *attempt)
{
    unsigned char kb[8];
    sy_slice_t key = key_of(kb, push_id), v;
    json_t *doc = NULL, *list;
    int rc = sy_txn_get(txn, SY_DB_ATTEMPTS, key, &v);
    if (rc == 0)
        doc = sy_codec_doc_decode(v.base, v.len); /* unreadable: start afresh rather than fail delivery */
    else if (rc != SY_ENOTFOUND)
        return rc;
    if (doc == NULL || !json_is_array(list = json_object_get(doc, "attempts"))) {
        json_decref(doc);
        doc = json_pack("{s:[]}", "attempts");
        list = json_object_get(doc, "attempts");
    }
    while (json_array_size(list) >= SY_ATTEMPTS_KEEP)
        json_array_remove(list, 0);
    json_array_append(list, (json_t *)attempt);
    rc = sy_doc_put(txn, SY_DB_ATTEMPTS, key, doc);
    json_decref(doc);
    return rc;
}

int sy_attempts_drop(sy_txn_t *txn, uint64_t push_id)
{
    unsigned char kb[8];
    int rc = sy_txn_del(txn, SY_DB_ATTEMPTS, key_of(kb, push_id));
    return rc == SY_ENOTFOUND ? 0 : rc;
}

json_t *sy_attempts_get(sy_txn_t *txn, uint64_t push_id)
{
    unsigned char kb[8];
    sy_slice_t v;
    int rc = sy_txn_get(txn, SY_DB_ATTEMPTS, key_of(kb, push_id), &v);
    if (rc == SY_ENOTFOUND)
        return json_array();
    if (rc != 0)
        return NULL;
    json_t *doc = sy_codec_doc_decode(v.base, v.len);
    json_t *list = json_incref(json_object_get(doc, "attempts"));
    json_decref(doc);
    return json_is_array(list) ? list : (json_decref(list), json_array());
}
