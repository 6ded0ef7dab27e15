/*
 * The fake Google Sheets API (v4), the part the google_sheets connector uses:
 *   POST /v4/spreadsheets/{id}/values:batchUpdate   writes ranges; atomic (one bad range writes nothing)
 *   GET  /v4/spreadsheets/{id}[?fields=spreadsheetId] the spreadsheet's id (and its tabs unless fields says)
 *   GET  /v4/spreadsheets/{id}/values/{A1 cell}     one cell, for tests
 * State: objects = {spreadsheet id: {tab: {"D7": "value", ...}}}, made by POST /_fake/seed. An unknown spreadsheet
 * is 404 NOT_FOUND, an unknown tab or an unparsable range 400 INVALID_ARGUMENT "Unable to parse range: …", as
 * Google answers. Errors are Google's {"error":{"code","message","status"}}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake.h"

#define CELL_MAX 50000
#define ROW_MAX 10000000
#define COL_MAX 18278

void fake_sheets_error(fake_reply_t *out, int status, const char *code, const char *message)
{
    fake_reply_json(out, status, json_pack("{s:{s:i, s:s, s:s}}", "error", "code", status, "message", message, "status", code));
}

/* Parses "'Ana''s'!D7", "Sheet1!D7" or "Sheet1!D7:E9" (the start cell is used) into tab (malloc'd), col, row. */
static int parse_range(const char *range, char **tab, int *col, int *row)
{
    const char *p = range;
    size_t cap = strlen(range) + 1, n = 0;
    char *t = malloc(cap);
    if (t == NULL)
        abort();
    if (*p == '\'') {
        for (++p;; ++p) {
            if (*p == '\0')
                goto Bad;
            if (*p == '\'') {
                if (p[1] != '\'')
                    break;
                ++p;
            }
            t[n++] = *p;
        }
        ++p;
    } else {
        while (*p != '\0' && *p != '!')
            t[n++] = *p++;
    }
    t[n] = '\0';
    if (n == 0 || *p++ != '!')
        goto Bad;
    *col = 0;
    for (; *p >= 'A' && *p <= 'Z'; ++p)
        *col = *col * 26 + (*p - 'A' + 1);
    *row = 0;
    for (; *p >= '0' && *p <= '9' && *row <= ROW_MAX; ++p)
        *row = *row * 10 + (*p - '0');
    if (*col == 0 || *col > COL_MAX || *row == 0 || *row > ROW_MAX || (*p != '\0' && *p != ':'))
        goto Bad;
    *tab = t;
    return 0;
Bad:
    free(t);
    return -1;
}

static void cell_name(int col, int row, char out[24])
{
    char letters[4], tmp[4];
    int n = 0;
    for (int c = col; c > 0; c = (c - 1) / 26)
        tmp[n++] = (char)('A' + (c - 1) % 26);
    for (int i = 0; i != n; ++i)
        letters[i] = tmp[n - 1 - i];
    letters[n] = '\0';
    snprintf(out, 24, "%s%d", letters, row);
}

/* A RAW cell value as text; NULL for a value that is not a string, number or bool (null: skipped by the caller). */
static json_t *cell_text(json_t *v)
{
    char num[64];
    if (json_is_string(v))
        return json_incref(v);
    if (json_is_integer(v)) {
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return json_string(num);
    }
    if (json_is_real(v)) {
        snprintf(num, sizeof(num), "%.17g", json_real_value(v));
        return json_string(num);
    }
    if (json_is_boolean(v))
        return json_string(json_is_true(v) ? "TRUE" : "FALSE");
    return NULL;
}

static void batch_update(fake_state_t *st, const char *id, json_t *sheet, const fake_http_t *req, fake_reply_t *out)
{
    json_error_t jerr;
    json_t *body = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr), *data, *item, *writes = NULL;
    const char *opt = json_string_value(json_object_get(body, "valueInputOption"));
    char msg[600];
    size_t i;
    if (!json_is_object(body)) {
        fake_sheets_error(out, 400, "INVALID_ARGUMENT", "Invalid JSON payload received.");
        goto Exit;
    }
    if (opt == NULL || (strcmp(opt, "RAW") != 0 && strcmp(opt, "USER_ENTERED") != 0)) {
        fake_sheets_error(out, 400, "INVALID_ARGUMENT", "Invalid valueInputOption: must be RAW or USER_ENTERED");
        goto Exit;
    }
    if (!json_is_array(data = json_object_get(body, "data")) || json_array_size(data) == 0) {
        fake_sheets_error(out, 400, "INVALID_ARGUMENT", "Invalid data: at least one ValueRange is required");
        goto Exit;
    }
    /* Validate everything first: a batchUpdate is atomic. writes = [[tab, cell, text], ...] */
    writes = json_array();
    json_t *responses = json_array();
    json_t *rows_seen = json_object(), *cols_seen = json_object(), *tabs_seen = json_object();
    json_int_t cells = 0;
    int bad = 0;
    json_array_foreach(data, i, item)
    {
        const char *range = json_string_value(json_object_get(item, "range"));
        json_t *values = json_object_get(item, "values"), *line, *v;
        char *tab = NULL;
        int col, row;
        size_t r, c;
        if (range == NULL || parse_range(range, &tab, &col, &row) != 0 || json_object_get(sheet, tab) == NULL) {
            snprintf(msg, sizeof(msg), "Unable to parse range: %.500s", range != NULL ? range : "");
            fake_sheets_error(out, 400, "INVALID_ARGUMENT", msg);
            free(tab);
            bad = 1;
            break;
        }
        json_int_t here = 0;
        json_array_foreach(values, r, line)
        {
            json_array_foreach(line, c, v)
            {
                if (json_is_null(v))
                    continue; /* null leaves the cell as it is */
                json_t *text = cell_text(v);
                if (text == NULL || json_string_length(text) > CELL_MAX) {
                    json_decref(text);
                    fake_sheets_error(out, 400, "INVALID_ARGUMENT",
                                      "Your input contains more than the maximum of 50000 characters in a single cell.");
                    bad = 1;
                    break;
                }
                char name[24], key[48];
                cell_name(col + (int)c, row + (int)r, name);
                json_array_append_new(writes, json_pack("[s, s, o]", tab, name, text));
                snprintf(key, sizeof(key), "%s/%d", tab, row + (int)r);
                json_object_set_new(rows_seen, key, json_true());
                snprintf(key, sizeof(key), "%s/%d", tab, col + (int)c);
                json_object_set_new(cols_seen, key, json_true());
                json_object_set_new(tabs_seen, tab, json_true());
                ++here;
            }
            if (bad)
                break;
        }
        if (!bad && !json_is_array(values)) {
            fake_sheets_error(out, 400, "INVALID_ARGUMENT", "Invalid values: expected an array of rows");
            bad = 1;
        }
        if (!bad)
            json_array_append_new(responses, json_pack("{s:s, s:s, s:I}", "spreadsheetId", id, "updatedRange", range,
                                                       "updatedCells", here));
        cells += here;
        free(tab);
        if (bad)
            break;
    }
    if (!bad) {
        json_t *w;
        json_array_foreach(writes, i, w)
        {
            json_t *cellmap = json_object_get(sheet, json_string_value(json_array_get(w, 0)));
            json_object_set(cellmap, json_string_value(json_array_get(w, 1)), json_array_get(w, 2));
        }
        fake_reply_json(out, 200,
                        json_pack("{s:s, s:I, s:I, s:I, s:I, s:o}", "spreadsheetId", id, "totalUpdatedRows",
                                  (json_int_t)json_object_size(rows_seen), "totalUpdatedColumns",
                                  (json_int_t)json_object_size(cols_seen), "totalUpdatedCells", cells,
                                  "totalUpdatedSheets", (json_int_t)json_object_size(tabs_seen), "responses", responses));
        responses = NULL;
    }
    json_decref(responses);
    json_decref(rows_seen);
    json_decref(cols_seen);
    json_decref(tabs_seen);
    (void)st;
Exit:
    json_decref(writes);
    json_decref(body);
}

void fake_sheets_handle(fake_state_t *st, const fake_http_t *req, fake_reply_t *out)
{
    static const char prefix[] = "/v4/spreadsheets/";
    if (strncmp(req->path, prefix, sizeof(prefix) - 1) != 0) {
        fake_sheets_error(out, 404, "NOT_FOUND", "Requested entity was not found.");
        return;
    }
    const char *id_start = req->path + sizeof(prefix) - 1, *slash = strchr(id_start, '/');
    size_t idlen = slash != NULL ? (size_t)(slash - id_start) : strlen(id_start);
    char id[256];
    if (idlen == 0 || idlen >= sizeof(id)) {
        fake_sheets_error(out, 404, "NOT_FOUND", "Requested entity was not found.");
        return;
    }
    memcpy(id, id_start, idlen);
    id[idlen] = '\0';
    json_t *sheet = json_object_get(st->objects, id);
    if (sheet == NULL) {
        fake_sheets_error(out, 404, "NOT_FOUND", "Requested entity was not found.");
        return;
    }
    const char *rest = slash != NULL ? slash : "";
    if (strcmp(req->method, "POST") == 0 && strcmp(rest, "/values:batchUpdate") == 0) {
        batch_update(st, id, sheet, req, out);
    } else if (strcmp(req->method, "GET") == 0 && rest[0] == '\0') {
        json_t *j = json_pack("{s:s}", "spreadsheetId", id);
        if (strstr(req->query, "fields=spreadsheetId") == NULL) {
            json_t *tabs = json_array(), *cells;
            const char *tab;
            json_object_foreach(sheet, tab, cells)
            {
                json_array_append_new(tabs, json_pack("{s:{s:s}}", "properties", "title", tab));
            }
            json_object_set_new(j, "sheets", tabs);
        }
        fake_reply_json(out, 200, j);
    } else if (strcmp(req->method, "GET") == 0 && strncmp(rest, "/values/", 8) == 0) {
        char *tab = NULL, name[24], msg[600];
        int col, row;
        if (parse_range(rest + 8, &tab, &col, &row) != 0 || json_object_get(sheet, tab) == NULL) {
            snprintf(msg, sizeof(msg), "Unable to parse range: %.500s", rest + 8);
            fake_sheets_error(out, 400, "INVALID_ARGUMENT", msg);
            free(tab);
            return;
        }
        cell_name(col, row, name);
        json_t *v = json_object_get(json_object_get(sheet, tab), name);
        json_t *j = json_pack("{s:s, s:s}", "range", rest + 8, "majorDimension", "ROWS");
        if (v != NULL && json_string_length(v) != 0)
            json_object_set_new(j, "values", json_pack("[[O]]", v));
        fake_reply_json(out, 200, j);
        free(tab);
    } else {
        fake_sheets_error(out, 404, "NOT_FOUND", "Requested entity was not found.");
    }
}

int fake_sheets_seed(fake_state_t *st, const char *id, json_t *tabs, fake_reply_t *err)
{
    json_t *copy = json_object(), *cells, *v;
    const char *tab, *cell;
    json_object_foreach(tabs, tab, cells)
    {
        if (!json_is_object(cells)) {
            json_decref(copy);
            fake_reply_json(err, 400, json_pack("{s:s, s:s}", "error", "bad_request", "message",
                                                "a spreadsheet is {tab: {\"A1\": \"value\", ...}}"));
            return -1;
        }
        json_t *map = json_object();
        json_object_foreach(cells, cell, v)
        {
            json_t *text = cell_text(v);
            if (text != NULL)
                json_object_set_new(map, cell, text);
        }
        json_object_set_new(copy, tab, map);
    }
    json_object_set_new(st->objects, id, copy);
    return 0;
}
