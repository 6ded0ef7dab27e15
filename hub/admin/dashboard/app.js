/*
 * Switchyard operator dashboard: plain JS, no framework, no build step, nothing loaded from elsewhere. Served by
 * the hub's admin listener at /admin/ together with style.css; works under `Content-Security-Policy: default-src
 * 'self'` (no inline scripts, styles or event-handler attributes; every value from the hub is put in the page as
 * text, never as markup).
 *
 * Token: from the URL fragment `#token=…` (then removed from the address bar), else localStorage
 * ("switchyard.admin_token"), else the sign-in form. Every API call sends `Authorization: Bearer <token>`; a 401
 * shows the form again with a message. `#q=…` (alone or as `#token=…&q=…`) fills in and runs a customer search.
 * Polls /admin/api/status, /admin/api/health and /admin/api/events/rate every 2 s; the map when the policy changes.
 *
 * Stable element ids (the integration test tests/integration/test_dashboard.c reads them). Figures carry their
 * text and, where they are numbers, the raw value in data-value. <s> is a source / spoke name and <f> a field
 * name, with any character outside [A-Za-z0-9_-] replaced by "_".
 *
 *   #token-section, #token-form, #token-input, #token-message   sign-in (hidden while signed in)
 *   #main                                                       the dashboard (hidden while signed out)
 *   #last-updated (data-ms), #error-banner, #sign-out
 *   #overview (hidden while signed out): #version, #uptime, #log-events, #applier-lag, #policy-hash
 *   Data health:  #score ("87.5 %", data-value = the API's score), #score-text ("87.5 % complete and connected —
 *                 target 95 %"), #score-bar, #records-count, #complete-count, #connected-count, #duplicates-count,
 *                 #double-billing-count, #merge-suggestions-count, #unmatched-billing, #missing-fields
 *                 (#missing-<f>), #duplicates-list, #double-billing-list, #merge-suggestions-list
 *   Events:       #events-total (all sources, last 60 min), #events-total-<s>, #events-last-<s> (newest minute),
 *                 #events-chart-<s> (SVG)
 *   Delivery:     #queue-depth-total, #dead-total, #queue-depth-<s>, #oldest-age-<s> (data-value in s), #dead-<s>,
 *                 #breaker-<s> ("closed" | "open" | "half-open"), #done-<s>, #retry-<s>, #rate-limited-<s>,
 *                 #delivery-error-rate-<s> (data-value = the rate, 0..1), #delivery-off (shown when delivery is null)
 *   Ingress:      #signature-failures-total, #accepted-<s>, #ingress-duplicates-<s>, #signature-failures-<s>
 *   Conflicts:    #conflicts-total, #reverts-total, #alerts-total, #conflicts-<f>, #reverts-<f>, #counter-<name>
 *   Search:       #search-form, #search-input, #search-status, #search-result (one article.record per result, with
 *                 data-record = id; one tr[data-field=<f>] per field, cells .value, .source, .version, .seq, .policy)
 *   Map:          #map (SVG), #map-list (one li per flow: "from → to: f1, f2"), #map-mermaid
 *   Section errors: #health-error, #events-error, #delivery-error, #map-error
 */
(function () {
    'use strict';

    var POLL_MS = 2000;
    var FETCH_TIMEOUT_MS = 10000;
    var TOKEN_KEY = 'switchyard.admin_token';
    var SVG_NS = 'http://www.w3.org/2000/svg';
    var PALETTE = ['#2563eb', '#d97706', '#059669', '#db2777', '#7c3aed', '#0891b2', '#65a30d', '#dc2626'];

    var token = null;          /* in memory even when localStorage is unavailable */
    var pollTimer = null;
    var generation = 0;        /* bumped at every sign-in / sign-out: answers of older polls are dropped */
    var mapPolicy = undefined; /* policy hash the map was drawn for */
    var colors = {};
    var errorRates = {};       /* health.delivery_error_rate, shown in the delivery table */
    var hooks = [];            /* actions.js: called with (status, health) at every poll */

    function AuthError(message) {
        this.name = 'AuthError';
        this.message = message;
    }
    AuthError.prototype = Object.create(Error.prototype);

    /* ---- small DOM helpers (text only: nothing from the hub is parsed as HTML) ---- */

    function $(id) {
        return document.getElementById(id);
    }

    function el(tag, attrs) {
        var node = document.createElement(tag);
        setAttrs(node, attrs);
        for (var i = 2; i < arguments.length; ++i)
            append(node, arguments[i]);
        return node;
    }

    function svg(tag, attrs) {
        var node = document.createElementNS(SVG_NS, tag);
        setAttrs(node, attrs);
        for (var i = 2; i < arguments.length; ++i)
            append(node, arguments[i]);
        return node;
    }

    function setAttrs(node, attrs) {
        if (!attrs)
            return;
        Object.keys(attrs).forEach(function (k) {
            var v = attrs[k];
            if (v === null || v === undefined || v === false)
                return;
            if (k === 'text')
                node.textContent = String(v);
            else
                node.setAttribute(k, v === true ? '' : String(v));
        });
    }

    function append(node, child) {
        if (child === null || child === undefined || child === false)
            return;
        if (Array.isArray(child))
            child.forEach(function (c) { append(node, c); });
        else
            node.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
    }

    function clear(node) {
        while (node.firstChild)
            node.removeChild(node.firstChild);
    }

    /* A piece of an element id from a source, spoke, field or counter name. */
    function idPart(name) {
        return String(name).replace(/[^A-Za-z0-9_-]/g, '_');
    }

    function num(v) {
        return typeof v === 'number' && isFinite(v) ? v : 0;
    }

    function fmtInt(v) {
        if (typeof v !== 'number' || !isFinite(v))
            return '—';
        var s = String(Math.round(Math.abs(v)));
        var out = '';
        while (s.length > 3) {
            out = ',' + s.slice(-3) + out;
            s = s.slice(0, -3);
        }
        return (v < 0 ? '-' : '') + s + out;
    }

    function fmtPct(fraction) {
        return (fraction * 100).toFixed(1) + ' %';
    }

    function fmtAge(seconds) {
        if (typeof seconds !== 'number' || !isFinite(seconds))
            return '—';
        if (seconds < 1)
            return seconds <= 0 ? '0 s' : '< 1 s';
        if (seconds < 90)
            return Math.round(seconds) + ' s';
        if (seconds < 90 * 60)
            return Math.round(seconds / 60) + ' min';
        if (seconds < 48 * 3600) {
            var h = Math.floor(seconds / 3600);
            return h + ' h ' + Math.round((seconds - h * 3600) / 60) + ' min';
        }
        return (seconds / 86400).toFixed(1) + ' d';
    }

    function fmtTime(ms) {
        if (typeof ms !== 'number' || !isFinite(ms) || ms <= 0)
            return '—';
        return new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
    }

    function colorOf(name) {
        if (!(name in colors))
            colors[name] = PALETTE[Object.keys(colors).length % PALETTE.length];
        return colors[name];
    }

    /* Sets a figure: its text and, for numbers, data-value. */
    function setFig(id, value, text) {
        var node = $(id);
        if (!node)
            return null;
        node.textContent = text !== undefined ? text : fmtInt(value);
        if (value === null || value === undefined)
            node.removeAttribute('data-value');
        else
            node.setAttribute('data-value', String(value));
        return node;
    }

    /* A <td> (or <span>) carrying a figure with a stable id. */
    function figCell(tag, id, value, text, cls) {
        var attrs = {id: id, class: cls || 'num', text: text !== undefined ? text : fmtInt(value)};
        if (value !== null && value !== undefined)
            attrs['data-value'] = String(value);
        return el(tag, attrs);
    }

    function showSectionError(id, err) {
        var node = $(id);
        if (!node)
            return;
        if (err) {
            node.textContent = err.message || String(err);
            node.hidden = false;
        } else {
            node.textContent = '';
            node.hidden = true;
        }
    }

    function sortedKeys(obj) {
        return obj && typeof obj === 'object' ? Object.keys(obj).sort() : [];
    }

    /* ---- token ---- */

    function loadToken() {
        try {
            return window.localStorage.getItem(TOKEN_KEY);
        } catch (e) {
            return null;
        }
    }

    function saveToken(t) {
        token = t;
        try {
            if (t)
                window.localStorage.setItem(TOKEN_KEY, t);
            else
                window.localStorage.removeItem(TOKEN_KEY);
        } catch (e) {
            /* private mode or storage disabled: keep it for this page only */
        }
    }

    /* Reads #token=…&q=… and removes the token from the address bar (the query stays, for bookmarks). */
    function readFragment() {
        var hash = window.location.hash.replace(/^#/, '');
        var out = {token: null, q: null};
        if (!hash)
            return out;
        var params = new URLSearchParams(hash);
        out.token = params.get('token');
        out.q = params.get('q');
        if (out.token !== null) {
            var rest = out.q !== null ? '#q=' + encodeURIComponent(out.q) : '';
            try {
                window.history.replaceState(null, '', window.location.pathname + window.location.search + rest);
            } catch (e) {
                window.location.hash = rest;
            }
        }
        return out;
    }

    function showTokenForm(message, isError) {
        ++generation;
        stopPolling();
        $('main').hidden = true;
        $('sign-out').hidden = true;
        $('overview').hidden = true;
        $('token-section').hidden = false;
        var msg = $('token-message');
        msg.textContent = message;
        msg.className = 'token-message' + (isError ? ' error' : '');
        setPollState('off', 'Signed out');
        var input = $('token-input');
        input.value = '';
        input.focus();
    }

    function signIn(t) {
        saveToken(t);
        ++generation;
        $('token-section').hidden = true;
        $('main').hidden = false;
        $('sign-out').hidden = false;
        $('overview').hidden = false;
        mapPolicy = undefined;
        refresh();
    }

    /* ---- API ---- */

    /* GET path (or POST body, a JSON value, when given): the JSON answer (text with asText). */
    function api(path, asText, postBody) {
        var ctrl = typeof AbortController === 'function' ? new AbortController() : null;
        var timer = ctrl ? setTimeout(function () { ctrl.abort(); }, FETCH_TIMEOUT_MS) : null;
        var headers = {'Authorization': 'Bearer ' + token, 'Accept': asText ? 'text/plain' : 'application/json'};
        if (postBody !== undefined)
            headers['Content-Type'] = 'application/json';
        return fetch(path, {
            method: postBody !== undefined ? 'POST' : 'GET',
            body: postBody !== undefined ? JSON.stringify(postBody) : undefined,
            headers: headers,
            cache: 'no-store',
            credentials: 'omit',
            signal: ctrl ? ctrl.signal : undefined
        }).then(function (res) {
            if (timer)
                clearTimeout(timer);
            if (res.status === 401)
                throw new AuthError('The hub refused the token (401 Unauthorized). Enter the admin token again.');
            if (!res.ok) {
                return res.text().then(function (body) {
                    var detail = '';
                    try {
                        var j = JSON.parse(body);
                        detail = j.message || j.error || '';
                    } catch (e) {
                        detail = '';
                    }
                    throw new Error(path.split('?')[0] + ': HTTP ' + res.status + (detail ? ' — ' + detail : ''));
                });
            }
            return asText ? res.text() : res.json();
        }, function (err) {
            if (timer)
                clearTimeout(timer);
            throw new Error(path.split('?')[0] + ': ' + (err && err.name === 'AbortError' ? 'timed out'
                                                                                          : 'hub unreachable'));
        });
    }

    function settle(promise) {
        return promise.then(function (v) { return {ok: true, value: v}; },
                            function (e) { return {ok: false, error: e}; });
    }

    /* ---- polling ---- */

    function stopPolling() {
        if (pollTimer !== null) {
            clearTimeout(pollTimer);
            pollTimer = null;
        }
    }

    function setPollState(state, text) {
        $('poll-state').className = 'dot ' + state;
        if (text !== undefined)
            $('last-updated').textContent = text;
    }

    function refresh() {
        var gen = generation;
        stopPolling();
        Promise.all([settle(api('/admin/api/status')), settle(api('/admin/api/health')),
                     settle(api('/admin/api/events/rate'))]).then(function (r) {
            if (gen !== generation)
                return;
            var auth = r.filter(function (x) { return !x.ok && x.error instanceof AuthError; })[0];
            if (auth) {
                saveToken(null); /* a refused token is forgotten: a reload asks again */
                showTokenForm(auth.error.message, true);
                return;
            }
            var status = r[0], health = r[1], rate = r[2];
            hooks.forEach(function (fn) { safe(function () { fn(status, health); }); });
            safe(function () { renderStatus(status); });
            safe(function () { renderHealth(health, status); });
            safe(function () { renderEvents(rate); });
            var failed = r.filter(function (x) { return !x.ok; });
            var banner = $('error-banner');
            if (failed.length === r.length) {
                banner.textContent = 'Cannot reach the hub: ' + failed[0].error.message + '. Retrying every 2 s.';
                banner.hidden = false;
                setPollState('bad');
            } else {
                banner.hidden = true;
                var now = new Date();
                $('last-updated').textContent = 'Last updated ' + now.toLocaleTimeString([], {hour12: false});
                $('last-updated').setAttribute('data-ms', String(now.getTime()));
                setPollState(failed.length ? 'warn' : 'ok');
            }
            if (status.ok) {
                var hash = status.value.policy ? status.value.policy.hash || null : null;
                if (hash !== mapPolicy)
                    loadMap(hash, gen);
            }
            pollTimer = setTimeout(refresh, POLL_MS);
        });
    }

    function safe(fn) {
        try {
            fn();
        } catch (e) {
            /* one malformed section must not stop the others; say so where it is visible */
            var banner = $('error-banner');
            banner.textContent = 'Could not show part of the data: ' + e.message;
            banner.hidden = false;
        }
    }

    /* ---- status: header, delivery, ingress, applier counters ---- */

    function renderStatus(r) {
        if (!r.ok) {
            showSectionError('delivery-error', r.error);
            return;
        }
        showSectionError('delivery-error', null);
        var s = r.value || {};
        setFig('version', null, s.version || '—');
        setFig('uptime', num(s.uptime_s), fmtAge(num(s.uptime_s)));
        var log = s.log || {};
        setFig('log-events', log.events !== undefined ? num(log.events) : num(log.last_seq));
        var applier = s.applier || {};
        if (applier.enabled === false)
            setFig('applier-lag', null, 'off');
        else
            setFig('applier-lag', num(applier.lag), fmtInt(num(applier.lag)) + ' events');
        var hash = s.policy && s.policy.hash ? String(s.policy.hash) : null;
        var ph = setFig('policy-hash', hash, hash ? hash.slice(0, 12) : 'none');
        if (ph)
            ph.title = hash || 'no policy: the hub only logs events';
        renderDelivery(s.delivery);
        renderIngress(s.ingress);
    }

    function renderDelivery(delivery) {
        var rows = $('delivery-rows');
        clear(rows);
        var spokes = delivery && delivery.spokes ? delivery.spokes : null;
        $('delivery-off').hidden = !!spokes;
        $('delivery-table').hidden = !spokes;
        var names = sortedKeys(spokes);
        var totalQ = 0, totalDead = 0, maxQ = 1;
        names.forEach(function (n) {
            maxQ = Math.max(maxQ, num(spokes[n].queued));
        });
        names.forEach(function (n) {
            var sp = spokes[n] || {}, p = idPart(n);
            var queued = num(sp.queued), dead = num(sp.dead);
            totalQ += queued;
            totalDead += dead;
            var breaker = String(sp.breaker || 'closed');
            var rate = typeof errorRates[n] === 'number' ? errorRates[n] : null;
            rows.appendChild(el('tr', {'data-spoke': n},
                el('th', {scope: 'row'}, swatch(n), n),
                figCell('td', 'queue-depth-' + p, queued),
                figCell('td', 'oldest-age-' + p, num(sp.oldest_age_s), queued ? fmtAge(num(sp.oldest_age_s)) : '—'),
                figCell('td', 'dead-' + p, dead, undefined, dead ? 'num warn-text' : 'num'),
                el('td', null, el('span', {id: 'breaker-' + p, class: 'badge breaker-' + idPart(breaker),
                                           'data-value': breaker, text: breaker})),
                figCell('td', 'done-' + p, num(sp.done)),
                figCell('td', 'retry-' + p, num(sp.retry)),
                figCell('td', 'rate-limited-' + p, num(sp.rate_limited)),
                figCell('td', 'delivery-error-rate-' + p, rate, rate === null ? '—' : fmtPct(rate)),
                el('td', {class: 'barcell'}, hbar(queued, maxQ, colorOf(n), queued + ' queued'))));
        });
        setFig('queue-depth-total', spokes ? totalQ : null, spokes ? fmtInt(totalQ) : '—');
        setFig('dead-total', spokes ? totalDead : null, spokes ? fmtInt(totalDead) : '—');
    }

    function renderIngress(ingress) {
        var rows = $('ingress-rows');
        clear(rows);
        var sources = ingress && ingress.sources ? ingress.sources : {};
        var total = 0;
        sortedKeys(sources).forEach(function (n) {
            var src = sources[n] || {}, p = idPart(n), fails = num(src.signature_failures);
            total += fails;
            rows.appendChild(el('tr', {'data-source': n},
                el('th', {scope: 'row'}, swatch(n), n),
                figCell('td', 'accepted-' + p, num(src.accepted)),
                figCell('td', 'ingress-duplicates-' + p, num(src.duplicates)),
                figCell('td', 'signature-failures-' + p, fails, undefined, fails ? 'num warn-text' : 'num')));
        });
        setFig('signature-failures-total', total);
    }

    /* ---- health: score, lists, conflicts per field, counters ---- */

    function renderHealth(r, status) {
        if (!r.ok) {
            showSectionError('health-error', r.error);
            return;
        }
        showSectionError('health-error', null);
        var h = r.value || {};
        var target = typeof h.target === 'number' ? h.target : 0.95;
        var score = typeof h.score === 'number' ? h.score : null;
        /* the API gives fractions (0.875, target 0.95); accept percentages too */
        var scale = target > 1 || (score !== null && score > 1) ? 1 : 100;
        var pct = score === null ? null : score * scale, targetPct = target * scale;
        var targetText = (Math.round(targetPct * 10) / 10) + ' %';
        if (pct === null) {
            setFig('score', null, '—');
            setFig('score-text', null, 'No score yet (no policy or no records).');
        } else {
            setFig('score', score, pct.toFixed(1) + ' %');
            setFig('score-text', null, pct.toFixed(1) + ' % complete and connected — target ' + targetText);
        }
        var good = pct !== null && pct >= targetPct;
        $('score').className = pct === null ? '' : good ? 'good' : 'below';
        $('score-text').className = 'score-text ' + (pct === null ? '' : good ? 'good' : 'below');
        drawScoreBar(pct, targetPct);

        setFig('records-count', num(h.records));
        setFig('complete-count', num(h.complete_records));
        setFig('connected-count', h.connected_records !== undefined ? num(h.connected_records) : null,
               h.connected_records !== undefined ? fmtInt(num(h.connected_records)) : '—');
        var dups = Array.isArray(h.duplicates) ? h.duplicates : [];
        var dbl = Array.isArray(h.double_billing) ? h.double_billing : [];
        var sugg = Array.isArray(h.merge_suggestions) ? h.merge_suggestions : [];
        setFig('duplicates-count', dups.length);
        setFig('double-billing-count', dbl.length);
        setFig('merge-suggestions-count', sugg.length);
        setFig('unmatched-billing', h.unmatched_billing !== undefined ? num(h.unmatched_billing) : null,
               h.unmatched_billing !== undefined ? fmtInt(num(h.unmatched_billing)) : '—');

        var missing = $('missing-fields');
        clear(missing);
        var mf = sortedKeys(h.missing_fields);
        mf.forEach(function (f) {
            missing.appendChild(el('li', null, el('code', {text: f}), ': ',
                                   figCell('span', 'missing-' + idPart(f), num(h.missing_fields[f])),
                                   num(h.missing_fields[f]) === 1 ? ' record' : ' records'));
        });
        if (!mf.length)
            missing.appendChild(el('li', {class: 'muted', text: 'None: every record has every required field.'}));

        fillList('duplicates-list', dups, 'No duplicates.', function (d) {
            return [recordLink(d.record), ': ', String(d.source || '?'), ' ', listText(d.ids)];
        });
        fillList('double-billing-list', dbl, 'No customer has two billing subscriptions.', function (d) {
            return [recordLink(d.record), ': ', listText(d.subscriptions)];
        });
        fillList('merge-suggestions-list', sugg, 'No merge suggestions.', function (d) {
            return [String(d.key || '?'), ' “', String(d.value || ''), '”: ',
                    (Array.isArray(d.records) ? d.records : []).map(function (id, i) {
                        return [i ? ', ' : '', recordLink(id)];
                    })];
        });

        var counters = h.counters || (status.ok && status.value.applier ? status.value.applier.stats : null) || {};
        renderConflicts(h.per_field || {}, counters);
        errorRates = h.delivery_error_rate && typeof h.delivery_error_rate === 'object' ? h.delivery_error_rate : {};
        /* the delivery table was drawn before the rates arrived: fill them in */
        sortedKeys(errorRates).forEach(function (n) {
            var v = errorRates[n];
            if (typeof v === 'number')
                setFig('delivery-error-rate-' + idPart(n), v, fmtPct(v));
        });
    }

    function listText(arr) {
        return Array.isArray(arr) ? arr.join(', ') : '';
    }

    /* A record id that runs a search for it when clicked. */
    function recordLink(id) {
        var a = el('a', {href: '#q=' + encodeURIComponent(String(id)), class: 'record-link', text: String(id)});
        a.addEventListener('click', function (ev) {
            ev.preventDefault();
            $('search-input').value = String(id);
            runSearch(String(id));
            $('search').scrollIntoView({behavior: 'smooth', block: 'start'});
        });
        return a;
    }

    function fillList(id, items, emptyText, render) {
        var ul = $(id);
        clear(ul);
        var max = 20;
        items.slice(0, max).forEach(function (d) { ul.appendChild(el('li', null, render(d || {}))); });
        if (items.length > max)
            ul.appendChild(el('li', {class: 'muted', text: '… and ' + (items.length - max) + ' more'}));
        if (!items.length)
            ul.appendChild(el('li', {class: 'muted', text: emptyText}));
    }

    function renderConflicts(perField, counters) {
        var rows = $('fields-rows');
        clear(rows);
        /* the fields with the most conflicts first */
        var fields = sortedKeys(perField).sort(function (a, b) {
            return num(perField[b].conflicts) - num(perField[a].conflicts) ||
                   num(perField[b].reverts) - num(perField[a].reverts) || (a < b ? -1 : a > b ? 1 : 0);
        });
        var sumC = 0, sumR = 0, max = 1;
        fields.forEach(function (f) {
            sumC += num(perField[f].conflicts);
            sumR += num(perField[f].reverts);
            max = Math.max(max, num(perField[f].conflicts));
        });
        fields.forEach(function (f) {
            var pf = perField[f] || {}, p = idPart(f), c = num(pf.conflicts), rv = num(pf.reverts);
            rows.appendChild(el('tr', {'data-field': f},
                el('th', {scope: 'row'}, el('code', {text: f})),
                figCell('td', 'conflicts-' + p, c),
                figCell('td', 'reverts-' + p, rv),
                el('td', {class: 'barcell'}, hbar2(c, rv, max, f + ': ' + c + ' conflicts, ' + rv + ' reverts'))));
        });
        if (!fields.length)
            rows.appendChild(el('tr', null, el('td', {colspan: 4, class: 'muted', text: 'No conflicts per field yet.'})));
        var conflicts = counters.conflicts !== undefined ? num(counters.conflicts) : sumC;
        var reverts = counters.reverts !== undefined ? num(counters.reverts) : sumR;
        setFig('conflicts-total', conflicts);
        setFig('reverts-total', reverts);
        setFig('alerts-total', num(counters.alerts));
        var dl = $('counters');
        clear(dl);
        sortedKeys(counters).forEach(function (k) {
            dl.appendChild(el('div', null, el('dt', {text: k.replace(/_/g, ' ')}),
                              figCell('dd', 'counter-' + idPart(k), num(counters[k]))));
        });
    }

    /* ---- charts ---- */

    function swatch(name) {
        return svg('svg', {class: 'swatch', width: 10, height: 10, viewBox: '0 0 10 10', 'aria-hidden': 'true',
                           focusable: 'false'},
                   svg('rect', {width: 10, height: 10, rx: 2, fill: colorOf(name)}));
    }

    /* A horizontal bar of value / max. */
    function hbar(value, max, color, label) {
        var w = 120, frac = max > 0 ? Math.min(1, value / max) : 0;
        return svg('svg', {class: 'hbar', width: w, height: 10, viewBox: '0 0 ' + w + ' 10', role: 'img',
                           'aria-label': label},
                   svg('rect', {width: w, height: 10, rx: 2, class: 'track'}),
                   svg('rect', {width: Math.round(w * frac), height: 10, rx: 2, fill: color}));
    }

    /* Conflicts (full) with the reverted part darker. */
    function hbar2(conflicts, reverts, max, label) {
        var w = 120, cw = max > 0 ? Math.round(w * Math.min(1, conflicts / max)) : 0;
        var rw = conflicts > 0 ? Math.round(cw * Math.min(1, reverts / conflicts)) : 0;
        return svg('svg', {class: 'hbar', width: w, height: 10, viewBox: '0 0 ' + w + ' 10', role: 'img',
                           'aria-label': label},
                   svg('rect', {width: w, height: 10, rx: 2, class: 'track'}),
                   svg('rect', {width: cw, height: 10, rx: 2, class: 'bar-conflict'}),
                   svg('rect', {width: rw, height: 10, rx: 2, class: 'bar-revert'}));
    }

    function drawScoreBar(pct, targetPct) {
        var box = $('score-bar');
        clear(box);
        var w = 300, h = 18, x = pct === null ? 0 : Math.max(0, Math.min(100, pct)) / 100 * w;
        var tx = Math.max(0, Math.min(100, targetPct)) / 100 * w;
        var label = pct === null ? 'no score' : pct.toFixed(1) + ' % of records complete and connected; target ' +
                                                (Math.round(targetPct * 10) / 10) + ' %';
        box.appendChild(svg('svg', {viewBox: '0 0 ' + w + ' ' + (h + 14), class: 'scorebar', role: 'img',
                                    'aria-label': label, preserveAspectRatio: 'xMinYMid meet'},
            svg('title', {text: label}),
            svg('rect', {x: 0, y: 0, width: w, height: h, rx: 4, class: 'track'}),
            svg('rect', {x: 0, y: 0, width: x, height: h, rx: 4,
                         class: pct !== null && pct >= targetPct ? 'fill-good' : 'fill-below'}),
            svg('line', {x1: tx, x2: tx, y1: -2, y2: h + 2, class: 'target-line'}),
            svg('text', {x: tx > w - 40 ? tx + 3 : tx, y: h + 12, 'text-anchor': tx > w - 40 ? 'end' : 'middle',
                         class: 'target-label',
                         text: 'target ' + (Math.round(targetPct * 10) / 10) + ' %'})));
    }

    function renderEvents(r) {
        var box = $('events-sources');
        if (!r.ok) {
            showSectionError('events-error', r.error);
            return;
        }
        showSectionError('events-error', null);
        var d = r.value || {};
        var series = d.series || {};
        var bucketMs = num(d.buckets_ms) || 60000;
        var endMs = num(d.end_ms) || Date.now();
        var names = sortedKeys(series);
        var total = 0, max = 1;
        names.forEach(function (n) {
            (Array.isArray(series[n]) ? series[n] : []).forEach(function (v) { max = Math.max(max, num(v)); });
        });
        clear(box);
        names.forEach(function (n) {
            var vals = (Array.isArray(series[n]) ? series[n] : []).map(num);
            var sum = vals.reduce(function (a, b) { return a + b; }, 0);
            var p = idPart(n);
            total += sum;
            box.appendChild(el('figure', {class: 'source-card', 'data-source': n},
                el('figcaption', null, swatch(n), el('strong', {text: n}), ' ',
                   figCell('span', 'events-total-' + p, sum, fmtInt(sum), 'fig'), ' events',
                   el('span', {class: 'muted small'}, ' · last minute ',
                      figCell('span', 'events-last-' + p, vals.length ? vals[vals.length - 1] : 0))),
                barChart('events-chart-' + p, vals, max, colorOf(n), bucketMs, endMs, n)));
        });
        if (!names.length)
            box.appendChild(el('p', {class: 'muted', text: 'No sources configured.'}));
        setFig('events-total', total);
    }

    /* One bar per bucket, oldest on the left, on a shared scale (max) so sources compare at a glance. */
    function barChart(id, vals, max, color, bucketMs, endMs, name) {
        var W = 360, H = 80, top = 6, bottom = 16, left = 28, n = Math.max(vals.length, 1);
        var plotW = W - left - 4, plotH = H - top - bottom, bw = plotW / n;
        var sum = vals.reduce(function (a, b) { return a + b; }, 0);
        var peak = vals.reduce(function (a, b) { return Math.max(a, b); }, 0);
        var minutes = Math.round(n * bucketMs / 60000);
        var label = name + ': ' + sum + ' events in the last ' + minutes + ' minutes, at most ' + peak + ' per ' +
                    Math.round(bucketMs / 1000) + ' s';
        var g = svg('g', null);
        vals.forEach(function (v, i) {
            var h = max > 0 ? v / max * plotH : 0;
            if (v > 0 && h < 1)
                h = 1;
            var t0 = endMs - (n - i) * bucketMs;
            g.appendChild(svg('rect', {x: (left + i * bw + 0.5).toFixed(1), y: (top + plotH - h).toFixed(1),
                                       width: Math.max(bw - 1, 0.5).toFixed(1), height: h.toFixed(1), fill: color},
                              svg('title', {text: fmtTime(t0).slice(11, 16) + ' UTC: ' + v})));
        });
        return svg('svg', {id: id, class: 'chart', viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': label},
            svg('title', {text: label}),
            svg('line', {x1: left, x2: W - 4, y1: top + plotH + 0.5, y2: top + plotH + 0.5, class: 'axis'}),
            svg('line', {x1: left, x2: W - 4, y1: top + 0.5, y2: top + 0.5, class: 'grid'}),
            svg('text', {x: left - 4, y: top + 8, 'text-anchor': 'end', class: 'tick', text: fmtInt(max)}),
            svg('text', {x: left - 4, y: top + plotH, 'text-anchor': 'end', class: 'tick', text: '0'}),
            g,
            svg('text', {x: left, y: H - 3, class: 'tick', text: minutes + ' min ago'}),
            svg('text', {x: W - 4, y: H - 3, 'text-anchor': 'end', class: 'tick', text: 'now'}));
    }

    /* ---- search ---- */

    function runSearch(q) {
        q = String(q || '').trim();
        var status = $('search-status'), out = $('search-result');
        if (!q) {
            status.textContent = 'Type an email, a name, a record id or source:id.';
            clear(out);
            return;
        }
        var gen = generation;
        status.textContent = 'Searching for “' + q + '”…';
        try {
            window.history.replaceState(null, '', window.location.pathname + window.location.search + '#q=' +
                                        encodeURIComponent(q));
        } catch (e) { /* not essential */ }
        api('/admin/api/records?q=' + encodeURIComponent(q)).then(function (d) {
            if (gen !== generation)
                return;
            var results = d && Array.isArray(d.results) ? d.results : [];
            clear(out);
            status.textContent = results.length === 0 ? 'No record matches “' + q + '”.'
                               : results.length + (results.length === 1 ? ' record matches' : ' records match') +
                                 ' “' + q + '”.';
            out.setAttribute('data-count', String(results.length));
            out.setAttribute('data-query', q);
            results.forEach(function (rec) { out.appendChild(renderRecord(rec || {})); });
        }, function (err) {
            if (gen !== generation)
                return;
            if (err instanceof AuthError) {
                saveToken(null);
                showTokenForm(err.message, true);
                return;
            }
            clear(out);
            status.textContent = 'Search failed: ' + err.message;
        });
    }

    function renderRecord(rec) {
        var fields = rec.fields || {};
        var xrefs = rec.xrefs || {};
        var tbody = el('tbody');
        sortedKeys(fields).forEach(function (f) {
            var v = fields[f] || {};
            var value = v.value === null || v.value === undefined ? '' : String(v.value);
            var policy = v.policy ? String(v.policy) : '';
            tbody.appendChild(el('tr', {'data-field': f},
                el('th', {scope: 'row'}, el('code', {text: f})),
                el('td', {class: 'value', text: value}),
                el('td', {class: 'source'}, v.source ? [swatch(String(v.source)), String(v.source)] : '—'),
                el('td', {class: 'version', 'data-value': v.version_ms, text: fmtTime(v.version_ms)}),
                el('td', {class: 'seq num', 'data-value': v.seq, text: v.seq !== undefined ? String(v.seq) : '—'}),
                el('td', {class: 'policy', title: policy}, el('code', {text: policy ? policy.slice(0, 12) : '—'}))));
        });
        var refs = sortedKeys(xrefs).map(function (src) {
            return el('li', null, swatch(src), el('strong', {text: src}), ': ',
                      (Array.isArray(xrefs[src]) ? xrefs[src] : [xrefs[src]]).join(', '));
        });
        var idText = String(rec.id || '?');
        return el('article', {class: 'record', 'data-record': idText, 'aria-label': 'Golden record ' + idText},
            el('h3', null, 'Golden record ', el('code', {text: idText})),
            refs.length ? el('ul', {class: 'xrefs plain'}, refs) : null,
            el('div', {class: 'table-wrap'},
               el('table', {class: 'provenance'},
                  el('caption', {class: 'sr-only', text: 'Fields of ' + idText + ' with their provenance'}),
                  el('thead', null, el('tr', null,
                     el('th', {scope: 'col', text: 'Field'}), el('th', {scope: 'col', text: 'Value'}),
                     el('th', {scope: 'col', text: 'Owner (source)'}), el('th', {scope: 'col', text: 'Version time'}),
                     el('th', {scope: 'col', class: 'num', text: 'Event seq'}),
                     el('th', {scope: 'col', text: 'Policy'}))),
                  tbody)));
    }

    /* ---- integration map ---- */

    function loadMap(hash, gen) {
        mapPolicy = hash;
        api('/admin/api/map?format=json').then(function (m) {
            if (gen !== generation)
                return;
            showSectionError('map-error', null);
            drawMap(m || {});
        }, function (err) {
            if (gen !== generation)
                return;
            mapPolicy = undefined; /* try again at the next poll */
            if (!(err instanceof AuthError))
                showSectionError('map-error', err);
        });
        api('/admin/api/map?format=mermaid', true).then(function (text) {
            if (gen === generation)
                $('map-mermaid').textContent = text;
        }, function () {
            if (gen === generation)
                $('map-mermaid').textContent = '(not available)';
        });
    }

    function wrapWords(words, maxChars) {
        var lines = [], line = '';
        words.forEach(function (w, i) {
            var piece = w + (i < words.length - 1 ? ',' : '');
            if (line && (line + ' ' + piece).length > maxChars) {
                lines.push(line);
                line = piece;
            } else {
                line = line ? line + ' ' + piece : piece;
            }
        });
        if (line)
            lines.push(line);
        return lines;
    }

    function drawMap(m) {
        var box = $('map'), list = $('map-list');
        clear(box);
        clear(list);
        var tools = Array.isArray(m.tools) ? m.tools : [];
        var flows = Array.isArray(m.flows) ? m.flows : [];
        flows.forEach(function (f) {
            if (!tools.some(function (t) { return t.name === f.from; }))
                tools.push({name: f.from, owns: []});
            if (!tools.some(function (t) { return t.name === f.to; }))
                tools.push({name: f.to, owns: []});
        });
        if (!tools.length) {
            box.appendChild(el('p', {class: 'muted', text: 'No policy loaded: no tools to show.'}));
            return;
        }
        var BW = 190, W = 820, n = tools.length;
        var boxes = tools.map(function (t) {
            var owns = Array.isArray(t.owns) ? t.owns.map(String) : [];
            var lines = owns.length ? wrapWords(owns, 26) : ['(owns no field)'];
            return {name: String(t.name), lines: lines, h: 34 + lines.length * 15};
        });
        var maxBoxH = boxes.reduce(function (a, b) { return Math.max(a, b.h); }, 0);
        var H, pos;
        if (n <= 2) {
            H = Math.max(220, maxBoxH + 120);
            pos = n === 1 ? [[W / 2, H / 2]] : [[BW / 2 + 30, H / 2], [W - BW / 2 - 30, H / 2]];
        } else {
            var R = 150 + n * 12;
            H = 2 * R + maxBoxH + 60;
            W = Math.max(W, 2 * R + BW + 80);
            pos = boxes.map(function (b, i) {
                var a = -Math.PI / 2 + 2 * Math.PI * i / n;
                return [W / 2 + R * 1.35 * Math.cos(a), H / 2 + R * Math.sin(a)];
            });
        }
        var byName = {};
        boxes.forEach(function (b, i) {
            b.cx = pos[i][0];
            b.cy = pos[i][1];
            byName[b.name] = b;
        });
        var root = svg('svg', {viewBox: '0 0 ' + W + ' ' + H, class: 'mapsvg', role: 'img',
                               'aria-label': 'Integration map: ' + n + ' tools, ' + flows.length + ' push flows'},
            svg('title', {text: 'Integration map'}),
            svg('defs', null, svg('marker', {id: 'arrowhead', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 8,
                                             markerHeight: 8, orient: 'auto-start-reverse'},
                                  svg('path', {d: 'M0,0 L10,5 L0,10 z', class: 'arrowhead'}))));
        var edges = svg('g', {class: 'edges'}), nodes = svg('g', {class: 'nodes'});
        flows.forEach(function (f) {
            var a = byName[f.from], b = byName[f.to];
            var fields = Array.isArray(f.fields) ? f.fields.map(String) : [];
            list.appendChild(el('li', null, el('strong', {text: String(f.from)}), ' → ', el('strong', {text: String(f.to)}),
                                ': ' + (fields.length ? fields.join(', ') : '(no fields)')));
            if (!a || !b || a === b)
                return;
            /* from the edge of box a to the edge of box b, bent to the right of the direction of travel so that
             * a → b and b → a do not overlap */
            var p0 = boxEdge(a, b.cx, b.cy), p1 = boxEdge(b, a.cx, a.cy);
            var dx = p1[0] - p0[0], dy = p1[1] - p0[1], len = Math.sqrt(dx * dx + dy * dy) || 1;
            var nx = -dy / len, ny = dx / len, bend = 34;
            var p0s = [p0[0] + nx * 14, p0[1] + ny * 14], p1s = [p1[0] + nx * 14, p1[1] + ny * 14];
            var cx = (p0s[0] + p1s[0]) / 2 + nx * bend, cy = (p0s[1] + p1s[1]) / 2 + ny * bend;
            var color = colorOf(String(f.from));
            edges.appendChild(svg('path', {d: 'M' + p0s[0].toFixed(1) + ',' + p0s[1].toFixed(1) + ' Q' + cx.toFixed(1) +
                                              ',' + cy.toFixed(1) + ' ' + p1s[0].toFixed(1) + ',' + p1s[1].toFixed(1),
                                           class: 'edge', stroke: color, 'marker-end': 'url(#arrowhead)'},
                                  svg('title', {text: f.from + ' → ' + f.to + ': ' + fields.join(', ')})));
            var lines = wrapWords(fields, 30);
            var mx = (p0s[0] + 2 * cx + p1s[0]) / 4, my = (p0s[1] + 2 * cy + p1s[1]) / 4;
            var ty = my + (ny >= 0 ? 10 : -6 - (lines.length - 1) * 13);
            var t = svg('text', {x: mx.toFixed(1), y: ty.toFixed(1), 'text-anchor': 'middle', class: 'edge-label'});
            lines.forEach(function (l, i) {
                t.appendChild(svg('tspan', {x: mx.toFixed(1), dy: i ? 13 : 0, text: l}));
            });
            edges.appendChild(t);
        });
        boxes.forEach(function (b) {
            var x = b.cx - BW / 2, y = b.cy - b.h / 2;
            var g = svg('g', {class: 'tool', 'data-tool': b.name},
                svg('rect', {x: x, y: y, width: BW, height: b.h, rx: 8, class: 'tool-box', stroke: colorOf(b.name)}),
                svg('rect', {x: x, y: y, width: 6, height: b.h, rx: 3, fill: colorOf(b.name)}),
                svg('text', {x: x + 16, y: y + 20, class: 'tool-name', text: b.name}));
            var t = svg('text', {x: x + 16, y: y + 38, class: 'tool-owns'});
            b.lines.forEach(function (l, i) {
                t.appendChild(svg('tspan', {x: x + 16, dy: i ? 15 : 0, text: l}));
            });
            g.appendChild(t);
            nodes.appendChild(g);
        });
        root.appendChild(edges);
        root.appendChild(nodes);
        box.appendChild(root);
        if (!flows.length)
            list.appendChild(el('li', {class: 'muted', text: 'No push flows.'}));
    }

    /* Where the line from the centre of box b towards (tx, ty) leaves the box. */
    function boxEdge(b, tx, ty) {
        var BW = 190, dx = tx - b.cx, dy = ty - b.cy;
        var sx = dx !== 0 ? (BW / 2) / Math.abs(dx) : Infinity, sy = dy !== 0 ? (b.h / 2) / Math.abs(dy) : Infinity;
        var s = Math.min(sx, sy, 1);
        return [b.cx + dx * s, b.cy + dy * s];
    }

    /* What actions.js (the panels that act: founder figures, event browser, pushes, replay) uses from here. The
     * 401 handling stays in one place: an AuthError from api() signs out. */
    window.switchyard = {
        $: $, el: el, clear: clear, idPart: idPart, fmtInt: fmtInt, fmtTime: fmtTime, fmtAge: fmtAge,
        showSectionError: showSectionError,
        api: function (path, asText, postBody) {
            var gen = generation;
            return api(path, asText, postBody).catch(function (e) {
                if (e instanceof AuthError && gen === generation) {
                    saveToken(null);
                    showTokenForm(e.message, true);
                }
                throw e;
            });
        },
        onPoll: function (fn) { hooks.push(fn); },
        signedIn: function () { return !!token; }
    };

    /* ---- start ---- */

    function init() {
        $('token-form').addEventListener('submit', function (ev) {
            ev.preventDefault();
            var t = $('token-input').value.trim();
            if (!t) {
                $('token-message').textContent = 'The token cannot be empty.';
                return;
            }
            signIn(t);
            var q = $('search-input').value.trim();
            if (q)
                runSearch(q);
        });
        $('sign-out').addEventListener('click', function () {
            saveToken(null);
            showTokenForm('Signed out. Enter the admin token to see the dashboard again.', false);
        });
        $('search-form').addEventListener('submit', function (ev) {
            ev.preventDefault();
            runSearch($('search-input').value);
        });
        window.addEventListener('hashchange', function () {
            var frag = readFragment();
            if (frag.token)
                signIn(frag.token);
            if (frag.q !== null && token) {
                $('search-input').value = frag.q;
                runSearch(frag.q);
            }
        });

        var frag = readFragment();
        if (frag.token)
            saveToken(frag.token);
        else
            token = loadToken();
        if (frag.q !== null)
            $('search-input').value = frag.q;
        if (!token) {
            showTokenForm('Enter the admin token (the hub\'s admin.token) to see the dashboard.', false);
            return;
        }
        signIn(token);
        if (frag.q !== null && frag.q.trim())
            runSearch(frag.q);
    }

    if (document.readyState === 'loading')
        document.addEventListener('DOMContentLoaded', init);
    else
        init();
})();
