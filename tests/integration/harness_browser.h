/*
 * Integration-test helpers for the operator dashboard (on top of harness.h): headless Chromium run on a loopback
 * URL with a fresh profile in the harness's temp dir (--dump-dom or --screenshot, bounded by Chromium's virtual
 * time budget plus a wall-clock limit), and a small reader for the serialised DOM it prints: an element by id, its
 * text, its attributes. Same rules as the harness: infrastructure problems (no Chromium, a run that does not
 * finish) fail the running test, and every string handed out is owned by the harness.
 *
 * Chromium: $SY_CHROMIUM if set, else /usr/bin/chromium (Debian's `chromium` package; deploy/install-deps installs
 * it). Only 127.0.0.1 URLs are accepted: the tests never reach the network.
 */
#ifndef SY_IT_HARNESS_BROWSER_H
#define SY_IT_HARNESS_BROWSER_H

#include "harness.h"

/* The Chromium binary; fails the test with how to install it when it is missing. */
const char *sy_itb_chromium(void);

/* `chromium --headless … --virtual-time-budget=budget_ms --dump-dom url`: the DOM after the budget, serialised
 * (owned). Fails the test if Chromium exits non-zero, prints nothing, or runs past a wall-clock limit. */
char *sy_itb_dump_dom(sy_it_t *h, const char *url, unsigned budget_ms);
/* The same with --screenshot=png_path --window-size=width,height (for looking at the page). */
void sy_itb_screenshot(sy_it_t *h, const char *url, unsigned budget_ms, const char *png_path, unsigned width,
                       unsigned height);

/* The lines of the last run's stderr that report a console message or a Content-Security-Policy violation
 * (owned; "" when there were none). */
char *sy_itb_console(sy_it_t *h);

/* http://127.0.0.1:<admin port>/admin/#token=<token>[&q=<query, percent-encoded>] (owned). */
char *sy_itb_admin_url(sy_it_t *h, const char *token, const char *query);

/* ---- reading a serialised DOM (as Chromium writes it: attributes in double quotes, HTML end tags everywhere) ---- */
/* The outer HTML of the element whose id attribute is id (owned), or NULL if there is none. */
char *sy_itb_element(sy_it_t *h, const char *dom, const char *id);
/* Its text content: tags removed, character references decoded, runs of white space made one space, trimmed
 * (owned); NULL if there is no such element. */
char *sy_itb_text(sy_it_t *h, const char *dom, const char *id);
/* An attribute of its start tag, decoded (owned); NULL if there is no such element or attribute ("" for a bare
 * attribute such as `hidden`). */
char *sy_itb_attr(sy_it_t *h, const char *dom, const char *id, const char *attr);
/* Within html (e.g. an element's outer HTML): the outer HTML of the first element whose start tag holds
 * attr="value" (owned), or NULL. */
char *sy_itb_find(sy_it_t *h, const char *html, const char *attr, const char *value);
/* Text content of a fragment of HTML (owned). */
char *sy_itb_strip(sy_it_t *h, const char *html);

/* Asserts that element id exists and its text is exactly want / holds the integer want / contains needle. */
void sy_itb_assert_text(sy_it_t *h, const char *dom, const char *id, const char *want);
void sy_itb_assert_int(sy_it_t *h, const char *dom, const char *id, long long want);
void sy_itb_assert_contains(sy_it_t *h, const char *dom, const char *id, const char *needle);

#endif
