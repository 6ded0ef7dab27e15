/*
 * Driving the dashboard in real headless Chromium through the DevTools protocol, for tests that click (on top of
 * harness.h). The browser runs with --remote-debugging-pipe: commands and answers are NUL-terminated JSON messages
 * on two pipes (fd 3 in, fd 4 out of Chromium), so there is no port, no WebSocket and nothing to install: jansson
 * reads the messages, and the test stays one C program like every other integration test.
 *
 * Pages: one tab (Target.createTarget, attached with a flat session). Clicks are real mouse events at the centre
 * of the element (Input.dispatchMouseEvent, after scrolling it into view), so a hidden or covered button does not
 * count as clicked. Every wait polls a JavaScript condition with a limit; on a timeout the test fails with a
 * screenshot. Uncaught exceptions, console errors and Content-Security-Policy reports are collected
 * (sy_cdp_errors). Chromium is stopped at teardown whatever happened (the harness owns it).
 */
#ifndef SY_IT_HARNESS_CDP_H
#define SY_IT_HARNESS_CDP_H

#include "harness.h"

typedef struct st_sy_cdp_t sy_cdp_t;

/* The Chromium binary ($SY_CHROMIUM, else /usr/bin/chromium), or NULL when there is none to run. */
const char *sy_cdp_chromium(void);
/* Starts Chromium (fresh profile and HOME in the temp dir) with one tab of width x height CSS pixels. Screenshots go
 * to shot_dir (created if missing). */
sy_cdp_t *sy_cdp_start(sy_it_t *h, unsigned width, unsigned height, const char *shot_dir);
/* A command to the tab's session (params taken over, may be NULL): its result (owned by the harness); fails the
 * test on an error answer or no answer within 30 s. */
json_t *sy_cdp_call(sy_cdp_t *c, const char *method, json_t *params);
/* Runtime.evaluate with awaitPromise and returnByValue: the value (owned; JSON null for undefined). Fails the test
 * when the expression throws. */
json_t *sy_cdp_eval(sy_cdp_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Navigates and waits (bounded) for document.readyState "complete". Only http://127.0.0.1 URLs. */
void sy_cdp_navigate(sy_cdp_t *c, const char *url);
/* Polls the JavaScript condition expr every 50 ms until it is truthy; past timeout_s fails the test, naming what,
 * with a screenshot. */
void sy_cdp_wait(sy_cdp_t *c, double timeout_s, const char *what, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* A real mouse click at the centre of the first element matching the CSS selector (fails if none or not visible). */
void sy_cdp_click(sy_cdp_t *c, const char *selector);
/* Sets the value of an input or select (as typing would: input and change events). */
void sy_cdp_fill(sy_cdp_t *c, const char *selector, const char *value);
/* A full-page PNG at shot_dir/name.png; prints and returns its path (owned). */
char *sy_cdp_screenshot(sy_cdp_t *c, const char *name);
/* The errors the page reported so far, one per line ("" when none; owned). */
char *sy_cdp_errors(sy_cdp_t *c);

#endif
