/*
 * Google Sheets. Sheets has no webhooks: the Apps Script we ship (deploy/google-sheets/switchyard.gs, an
 * installable onEdit trigger) posts each edited row, signed with the Standard Webhooks scheme (webhook-id,
 * webhook-timestamp, webhook-signature v1; secret whsec_<base64>), as
 *   {"type":"row.updated","timestamp":"<RFC 3339>","data":{"spreadsheet_id":"…","sheet":"Customers","row":7,
 *    "values":{"<header>":"<cell>",…}}}
 * values holds the whole row keyed by the header row (row 1), so every event is the row's full state.
 *
 * Outbound: POST /v4/spreadsheets/{spreadsheet_id}/values:batchUpdate writes the pushed fields into their cells,
 * valueInputOption RAW (a value from another tool that starts with "=" stays text, never becomes a formula).
 *
 * The push's object_id is the row number (the policy reads it from data.row). values:batchUpdate addresses cells
 * by A1 range, a connector does no I/O and classify does not see the request, so a row found by searching a
 * record-id column cannot be expressed; the row number can. Trade-off: sorting the sheet or inserting rows above
 * moves records to other numbers; the next edit of a moved row reports its new number, but a push sent between
 * the move and that edit lands in whatever row now has the old number. Teams that sort should append rows and
 * filter views instead. (The robust form, developer metadata on each row and batchUpdateByDataFilter, is the next
 * step.) The id column (option id_column) is never written: a push cannot change the key a row is known by.
 *
 * A push without a row: the values API cannot search a column by email, so the "lookup" is a metadata read
 * (GET /v4/spreadsheets/{id}?fields=spreadsheetId, read quota) that classify answers NOT_FOUND; the policy's
 * create then decides, and rows are not created by the hub (create: never drops the push; a create is SY_EINVAL).
 *
 * Fields: a push_as name is a header listed in option columns (the header row, comma-separated, column A first)
 * or a column letter (A..ZZZ). Limits: 50,000 characters per cell, valid UTF-8, at most 100 rows per request (one
 * batchUpdate is atomic), 60 writes per minute per user (Google's per-user quota; 300/min per project).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors_builtin.h"
#include "header_event.h"
#include "signature_schemes.h"

#define SHEETS_BASE_URL "https://sheets.googleapis.com"
#define SHEETS_RATE_COUNT 60
#define SHEETS_RATE_WINDOW_MS (60 * 1000)
#define SHEETS_MAX_BATCH 100
#define SHEETS_MAX_ROW 10000000 /* a spreadsheet holds at most 10 million cells */
#define SHEETS_MAX_COLUMN 18278 /* ZZZ */
#define SHEETS_CELL_MAX 50000   /* characters in one cell */
#define SHEETS_BODY_MAX (2 * 1024 * 1024) /* Google's recommended payload cap */
#define SHEETS_MAX_FIELDS 256
#define SHEETS_NAME_MAX 255

enum { OPT_SPREADSHEET_ID, OPT_SHEET, OPT_ID_COLUMN, OPT_COLUMNS, NUM_OPTIONS };

static const sy_connector_option_t sheets_options[NUM_OPTIONS] = {
    [OPT_SPREADSHEET_ID] = {"spreadsheet_id", "the spreadsheet's id (from its URL: /spreadsheets/d/<id>/edit)"},
    [OPT_SHEET] = {"sheet", "the tab holding the records, its header in row 1 (default Sheet1)"},
    [OPT_ID_COLUMN] = {"id_column", "the header (or column letter) of the record-id column, never written"},
    [OPT_COLUMNS] = {"columns", "the header row, comma-separated from column A, to push by header name"},
};

static const char *option(const sy_source_verify_t *conf, int i, const char *dflt)
{
    return conf != NULL && conf->options[i] != NULL && conf->options[i][0] != '\0' ? conf->options[i] : dflt;
}

static int id_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* 1-based column of letters "A".."ZZZ" (upper case only), or 0. */
static int column_of_letters(const char *s, size_t n)
{
    int col = 0;
    if (n == 0 || n > 3)
        return 0;
    for (size_t i = 0; i != n; ++i) {
        if (s[i] < 'A' || s[i] > 'Z')
            return 0;
        col = col * 26 + (s[i] - 'A' + 1);
    }
    return col;
}

/* 1-based column of name: its place in columns (exact match of a comma-separated item), else letters; 0 if none. */
static int column_of(const char *columns, const char *name)
{
    size_t n = strlen(name);
    if (columns != NULL) {
        int col = 1;
        for (const char *p = columns;; ++col) {
            const char *comma = strchr(p, ',');
            sy_slice_t item = sy_connector_trim((sy_slice_t){p, comma != NULL ? (size_t)(comma - p) : strlen(p)});
            if (item.len == n && memcmp(item.base, name, n) == 0)
                return col;
            if (comma == NULL)
                break;
            p = comma + 1;
        }
    }
    return column_of_letters(name, n);
}

static void letters_of(int col, char out[4])
{
    char tmp[4];
    int n = 0;
    for (; col > 0; col = (col - 1) / 26)
        tmp[n++] = (char)('A' + (col - 1) % 26);
    for (int i = 0; i != n; ++i)
        out[i] = tmp[n - 1 - i];
    out[n] = '\0';
}

static int sheets_configure(sy_source_verify_t *conf, size_t *bad_option, char *msg, size_t msgsize)
{
    const char *id = conf->options[OPT_SPREADSHEET_ID];
    if (id == NULL || id[0] == '\0' || strlen(id) > 128) {
        *bad_option = OPT_SPREADSHEET_ID;
        snprintf(msg, msgsize, "spreadsheet_id is required: the id in the spreadsheet's URL");
        return SY_EINVAL;
    }
    for (const char *p = id; *p != '\0'; ++p) {
        if (!id_char(*p)) {
            *bad_option = OPT_SPREADSHEET_ID;
            snprintf(msg, msgsize, "spreadsheet_id holds only letters, digits, - and _ (the id in the URL)");
            return SY_EINVAL;
        }
    }
    const char *sheet = conf->options[OPT_SHEET];
    if (sheet != NULL && (sheet[0] == '\0' || strlen(sheet) > 100 || strpbrk(sheet, "\r\n") != NULL)) {
        *bad_option = OPT_SHEET;
        snprintf(msg, msgsize, "sheet must be a tab name of 1 to 100 characters");
        return SY_EINVAL;
    }
    const char *idcol = conf->options[OPT_ID_COLUMN];
    if (idcol != NULL && column_of(conf->options[OPT_COLUMNS], idcol) == 0) {
        *bad_option = OPT_ID_COLUMN;
        snprintf(msg, msgsize, "id_column must be a column letter (A..ZZZ) or a header listed in columns");
        return SY_EINVAL;
    }
    return 0;
}

/* --- inbound ---------------------------------------------------------------------------------------------------- */

static int sheets_parse(sy_json_t *json, const sy_request_view_t *req, sy_event_ref_t *events, size_t max_events,
                        size_t *num_events, const char **errmsg)
{
    sy_event_ref_t ev;
    *num_events = 0;
    int rc = sy_standard_webhooks_event(json, req, &ev, errmsg);
    if (rc != 0)
        return rc;
    int data = sy_json_get(json, 0, "data"), tok;
    int64_t row;
    if (sy_json_type(json, data) != SY_JSON_OBJECT) {
        *errmsg = "event has no data object (the Apps Script sends data.spreadsheet_id, sheet, row and values)";
        return SY_EPARSE;
    }
    if (sy_json_type(json, sy_json_get(json, data, "spreadsheet_id")) != SY_JSON_STRING ||
        sy_json_type(json, sy_json_get(json, data, "sheet")) != SY_JSON_STRING) {
        *errmsg = "data.spreadsheet_id and data.sheet must be strings";
        return SY_EPARSE;
    }
    if ((tok = sy_json_get(json, data, "row")) < 0 || sy_json_int64(json, tok, &row) != 0 || row < 2 ||
        row > SHEETS_MAX_ROW) {
        *errmsg = "data.row must be a row number from 2 to 10000000 (row 1 holds the headers)";
        return SY_EPARSE;
    }
    if (sy_json_type(json, sy_json_get(json, data, "values")) != SY_JSON_OBJECT) {
        *errmsg = "data.values must be an object of header: cell";
        return SY_EPARSE;
    }
    /* parse does not see the source's options, so rows of another spreadsheet are kept apart by the secret: give
     * each spreadsheet (its script) a source and a secret of its own. */
    if (max_events < 1) {
        *errmsg = "more events in the body than the limit";
        return SY_ETOOBIG;
    }
    events[0] = ev;
    *num_events = 1;
    return 0;
}

static const char *sheets_scheme(const sy_source_verify_t *conf)
{
    (void)conf;
    return "standard-webhooks-v1";
}

static const char *const sheets_sample_types[] = {"row.updated", NULL};

static char *sheets_sample(const char *type, int64_t now_ms)
{
    if (!sy_connector_sample_known(sheets_sample_types, type))
        return NULL;
    char when[25];
    sy_rfc3339_format(now_ms, when);
    json_t *ev = json_pack("{s:s, s:s, s:{s:s, s:s, s:i, s:{s:s, s:s, s:s, s:s, s:s}, s:s}}", "type", type,
                           "timestamp", when, "data", "spreadsheet_id", "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms",
                           "sheet", "Customers", "row", 2, "values", "record_id", "cus_SyDemoAcme01", "email",
                           "billing@acme.example", "name", "Acme Corp", "owner", "Ana", "stage", "customer", "edited_by",
                           "ana@acme.example");
    char *out = ev != NULL ? json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(ev);
    return out;
}

/* --- outbound --------------------------------------------------------------------------------------------------- */

/* The row number of an object id: decimal 2..10,000,000 (row 1 holds the headers and is never written). */
static int row_of(const char *id)
{
    int64_t row;
    if (id == NULL || sy_connector_parse_uint(sy_slice_cstr(id), 8, &row) != 0 || row < 2 || row > SHEETS_MAX_ROW)
        return 0;
    return (int)row;
}

/* "'<sheet with ' doubled>'!<col><row>" */
static json_t *a1_range(const char *sheet, int col, int row)
{
    char letters[4], tail[32];
    sy_connector_buf_t b = {.max = 512};
    letters_of(col, letters);
    snprintf(tail, sizeof(tail), "'!%s%d", letters, row);
    json_t *out = NULL;
    if (sy_connector_buf_append(&b, "'", 1) != 0)
        goto Exit;
    for (const char *p = sheet; *p != '\0'; ++p) {
        if (sy_connector_buf_append(&b, p, 1) != 0 || (*p == '\'' && sy_connector_buf_append(&b, "'", 1) != 0))
            goto Exit;
    }
    if (sy_connector_buf_append(&b, tail, strlen(tail)) != 0)
        goto Exit;
    out = json_stringn(b.base, b.len);
Exit:
    sy_connector_buf_dispose(&b);
    return out;
}

/* Appends one {"range","values":[[v]]} per field of p (row) to data. */
static int encode_row(const sy_source_verify_t *conf, const sy_push_t *p, int row, json_t *data)
{
    const char *sheet = option(conf, OPT_SHEET, "Sheet1"), *columns = option(conf, OPT_COLUMNS, NULL);
    const char *idcol = option(conf, OPT_ID_COLUMN, NULL);
    int id_col = idcol != NULL ? column_of(columns, idcol) : 0;
    int cols[SHEETS_MAX_FIELDS];
    if (p->num_fields == 0 || p->num_fields > SHEETS_MAX_FIELDS || p->names == NULL || p->values == NULL)
        return SY_EINVAL;
    for (size_t i = 0; i != p->num_fields; ++i) {
        if (p->names[i] == NULL || p->values[i] == NULL || strlen(p->names[i]) > SHEETS_NAME_MAX)
            return SY_EINVAL;
        if ((cols[i] = column_of(columns, p->names[i])) == 0 || cols[i] > SHEETS_MAX_COLUMN || cols[i] == id_col)
            return SY_EINVAL; /* no such column, or the row's key */
        for (size_t k = 0; k != i; ++k) {
            if (cols[k] == cols[i])
                return SY_EINVAL; /* one cell twice: which value wins would be Google's guess */
        }
        int64_t chars = sy_connector_utf8_chars(p->values[i]);
        if (chars < 0 || chars > SHEETS_CELL_MAX)
            return SY_EINVAL;
        json_t *range = a1_range(sheet, cols[i], row);
        if (range == NULL)
            return SY_EINVAL;
        json_array_append_new(data, json_pack("{s:o, s:[[s]]}", "range", range, "values", p->values[i]));
    }
    return 0;
}

static int sheets_encode_push(const sy_source_verify_t *conf, const sy_push_t *pushes, size_t n, sy_http_request_t *out)
{
    json_t *root = NULL;
    int rc = SY_EINVAL;
    memset(out, 0, sizeof(*out));
    const char *id = option(conf, OPT_SPREADSHEET_ID, NULL);
    if (pushes == NULL || n == 0 || n > SHEETS_MAX_BATCH || id == NULL)
        goto Exit;
    out->num_pushes = n;
    if (n == 1 && pushes[0].object_id == NULL) {
        if (pushes[0].create || pushes[0].email == NULL)
            goto Exit; /* rows are added by people in the sheet, not by the hub */
        /* No row is known and the values API cannot search: a metadata read that classify answers NOT_FOUND. */
        memcpy(out->method, "GET", 4);
        out->lookup = 1;
        rc = sy_connector_set_path(out, "/v4/spreadsheets/", id, "?fields=spreadsheetId");
        goto Exit;
    }
    root = json_object();
    json_t *data = json_array();
    json_object_set_new(root, "valueInputOption", json_string("RAW"));
    json_object_set_new(root, "data", data);
    int rows[SHEETS_MAX_BATCH];
    for (size_t i = 0; i != n; ++i) {
        rc = SY_EINVAL;
        if ((rows[i] = row_of(pushes[i].object_id)) == 0)
            goto Exit;
        for (size_t k = 0; k != i; ++k) {
            if (rows[k] == rows[i])
                goto Exit; /* one row twice in a batch */
        }
        if ((rc = encode_row(conf, &pushes[i], rows[i], data)) != 0)
            goto Exit;
    }
    memcpy(out->method, "POST", 5);
    memcpy(out->content_type, "application/json", sizeof("application/json"));
    if ((rc = sy_connector_set_path(out, "/v4/spreadsheets/", id, "/values:batchUpdate")) != 0 ||
        (rc = sy_connector_set_json_body(out, root, SHEETS_BODY_MAX)) != 0)
        goto Exit;
    rc = 0;
Exit:
    json_decref(root);
    if (rc != 0) {
        sy_http_request_dispose(out);
        memset(out, 0, sizeof(*out));
    }
    return rc;
}

static void sheets_classify(long status, const sy_header_t *headers, size_t num_headers, sy_slice_t body, size_t n,
                            sy_push_result_t *result)
{
    (void)n;
    sy_connector_result_init(result, SY_PUSH_PERMANENT);
    if (status >= 200 && status <= 299) {
        json_t *root = json_loadb(body.base, body.len, 0, NULL);
        if (json_object_get(root, "totalUpdatedCells") != NULL || json_object_get(root, "responses") != NULL)
            result->outcome = SY_PUSH_DONE;
        else if (json_is_string(json_object_get(root, "spreadsheetId")))
            result->outcome = SY_PUSH_NOT_FOUND; /* the metadata read of a push without a row */
        else
            result->outcome = SY_PUSH_RETRY; /* a 2xx that confirms nothing; writing the same cells again is safe */
        json_decref(root);
        return;
    }
    /* Google's quota errors: 429 RESOURCE_EXHAUSTED, and 403 rateLimitExceeded from older quota paths. */
    int quota = status == 429 || (status == 403 && body.len != 0 &&
                                  (memmem(body.base, body.len, "RATE_LIMIT_EXCEEDED", 19) != NULL ||
                                   memmem(body.base, body.len, "rateLimitExceeded", 17) != NULL));
    if (quota) {
        result->outcome = SY_PUSH_RETRY;
        result->rate_limited = 1;
    } else if (status >= 500 || status == 408 || status < 200) {
        result->outcome = SY_PUSH_RETRY;
    }
    /* other 4xx (a bad range, a tab that does not exist, no access) and 3xx stay PERMANENT */
    const sy_header_t *h;
    if (result->outcome == SY_PUSH_RETRY && (h = sy_connector_header(headers, num_headers, "Retry-After")) != NULL)
        result->retry_after_ms = sy_connector_retry_after_ms(h->value, sy_now_ms());
}

static sy_verify_result_t sheets_verify(const sy_source_verify_t *conf, const sy_request_view_t *req)
{
    return sy_verify_standard_webhooks(conf, req);
}

const sy_connector_t sy_connector_google_sheets = {
    .name = "google_sheets",
    .role = SY_ROLE_TRACKER,
    .verify = sheets_verify,
    .parse = sheets_parse,
    .scheme = sheets_scheme,
    .sign = sy_standard_webhooks_sign,
    .default_tolerance_ms = SY_STANDARD_WEBHOOKS_TOLERANCE_MS,
    .options = sheets_options,
    .num_options = NUM_OPTIONS,
    .configure = sheets_configure,
    .sample_types = sheets_sample_types,
    .sample = sheets_sample,
    .encode_push = sheets_encode_push,
    .classify = sheets_classify,
    .max_batch = SHEETS_MAX_BATCH,
    .default_rate_count = SHEETS_RATE_COUNT,
    .default_rate_window_ms = SHEETS_RATE_WINDOW_MS,
    .default_base_url = SHEETS_BASE_URL,
};
