/*
 * The delivery attempt log: per queued push (or dead letter), its last SY_ATTEMPTS_KEEP requests as delivery sent
 * them and what the tool answered, for an admin to read (GET /admin/api/pushes/ID/attempts, the dashboard).
 *
 * Storage: attempts  push id (be64) → {attempts: [{at_ms, method, path, status, error?, duration_ms, answer,
 *          answer_bytes, request_bytes, batch}...]}, oldest first, at most SY_ATTEMPTS_KEEP entries. Written in the
 * same write that settles the attempt's outcome (delivery.c, riding on the log writer's commit), so the log never
 * names an outcome that did not commit. Removed when the push is done, dropped from the queue, or its dead letter is
 * dropped; kept with a dead letter (its history is why it died) and across a dead-letter retry.
 *
 * Never holds a secret: no request header (the Authorization header is never copied) and no request body (the
 * pushed field names and values are in the push itself); `path` is the request path with its query (a lookup by
 * email names the email, which the push carries too); `answer` is the first SY_ATTEMPTS_ANSWER bytes of the tool's
 * answer body (valid UTF-8, cut at a character boundary).
 */
#ifndef SY_ATTEMPTS_H
#define SY_ATTEMPTS_H

#include <jansson.h>
#include <stdint.h>

#include "store.h"

#define SY_ATTEMPTS_KEEP 5
#define SY_ATTEMPTS_ANSWER 512
#define SY_ATTEMPTS_PATH 256

/*
 * One attempt as it is logged (a new object): request line, answer status (0: none, curl_error says why), how long
 * it took, the answer's first bytes (answer_len is the whole body read), how many pushes the request carried.
 */
json_t *sy_attempt_doc(int64_t at_ms, const char *method, const char *path, long status, const char *curl_error,
                       int64_t duration_ms, const char *answer, size_t answer_len, size_t request_bytes, size_t batch);

/* Appends attempt (borrowed) to the log of push push_id inside txn, dropping the oldest beyond SY_ATTEMPTS_KEEP.
 * Returns 0 or a storage error (the caller aborts txn). */
int sy_attempts_add(sy_txn_t *txn, uint64_t push_id, const json_t *attempt);
/* Removes the log of push_id (0 also when it had none). */
int sy_attempts_drop(sy_txn_t *txn, uint64_t push_id);
/* The attempts of push_id, oldest first (a new array, empty when there are none); NULL on a storage error. */
json_t *sy_attempts_get(sy_txn_t *txn, uint64_t push_id);

#endif
