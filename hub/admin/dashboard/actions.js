/*
 * The dashboard panels that act (issue 13), on top of app.js (window.switchyard: token, API calls, DOM helpers):
 * the command-center figures, the event browser with its payload viewer, queued pushes and dead letters with their
 * attempt log and retry / drop buttons, and replay with a dry run shown before it is confirmed. Same rules as
 * app.js: no inline script or style, every value from the hub put in the page as text.
 *
 * Stable element ids and classes (tests/integration/test_dashboard_actions.c drives them in Chromium):
 *   Command center: #paying-accounts, #mrr-total (data-value = minor units; "not mapped" when the policy has no
 *                   mrr field), #paying-without-mrr, #founder-records, #founder-dead
 *   Event browser:  #browser-form, #browser-source, #browser-type, #browser-since, #browser-until, #browser-record,
 *                   #browser-status (data-count = rows shown), #browser-rows (tr[data-seq], button.act-view),
 *                   #browser-older, #payload-panel, #payload-title, #payload-view
 *   Pushes:         #queue-rows (tr[data-push]), #dead-rows (tr[data-dead]); in each row button.act-attempts,
 *                   button.act-retry, button.act-drop (a drop asks once more: the first click arms it);
 *                   #pushes-status (data-result = "<action> <id> ok|failed"), #attempts-panel, #attempts-title
 *                   (data-push, data-state), #attempts-rows (one tr per attempt, newest first; td.status)
 *   Alerts:         #alerts-rows (tr[data-alert][data-kind][data-state]; button.act-ack in open ones),
 *                   #alerts-status (data-result = "ack <id> ok|failed")
 *   Replay:         #replay-form, #replay-mode, #replay-spoke, #replay-source, #replay-type, #replay-since,
 *                   #replay-until, #replay-from-seq, #replay-to-seq, #replay-preview, #replay-summary (data-state,
 *                   data-selected, data-changes), #replay-changes, #replay-confirm (enabled after a finished dry
 *                   run of the form as it is), #replay-status (data-state, data-job)
 */
(function () {
    'use strict';

    var sy = window.switchyard;
    if (!sy)
        return;
    var $ = sy.$, el = sy.el, clear = sy.clear;
    var LIST_LIMIT = 50, PAGE = 50, JOB_POLL_MS = 300, ARM_MS = 5000;

    var browserLoaded = false, browserBefore = 0, sourcesKey = '';
    var queueKey = '', deadKey = '';
    var preview = null; /* {spec: JSON text, job: id} of the last finished dry run */

    function fmtMoney(minor) {
        var m = Math.round(minor), sign = m < 0 ? '-' : '';
        m = Math.abs(m);
        var cents = String(m % 100);
        return sign + sy.fmtInt(Math.floor(m / 100)) + '.' + (cents.length < 2 ? '0' + cents : cents);
    }

    function setText(id, text, value) {
        var node = $(id);
        node.textContent = text;
        if (value === undefined || value === null)
            node.removeAttribute('data-value');
        else
            node.setAttribute('data-value', String(value));
    }

    function errText(e) {
        return e && e.message ? e.message : String(e);
    }

    /* ---- command center ---- */

    function renderFounder(health) {
        if (!health.ok)
            return;
        var h = health.value || {}, rev = h.revenue || null;
        setText('founder-records', sy.fmtInt(h.records), h.records);
        setText('founder-dead', sy.fmtInt(h.dead_letters), h.dead_letters);
        if (!rev || !rev.mapped || !rev.mapped.subscription_status) {
            setText('paying-accounts', 'not mapped');
            setText('mrr-total', 'not mapped');
            setText('paying-without-mrr', '—');
            return;
        }
        setText('paying-accounts', sy.fmtInt(rev.paying_accounts), rev.paying_accounts);
        if (typeof rev.mrr_minor === 'number') {
            setText('mrr-total', fmtMoney(rev.mrr_minor), rev.mrr_minor);
            setText('paying-without-mrr', sy.fmtInt(rev.paying_without_mrr), rev.paying_without_mrr);
        } else {
            setText('mrr-total', 'not mapped');
            setText('paying-without-mrr', '—');
        }
    }

    /* ---- event browser ---- */

    function renderSources(status) {
        if (!status.ok)
            return;
        var sources = Object.keys(((status.value || {}).ingress || {}).sources || {}).sort();
        if (sources.join('\n') === sourcesKey)
            return;
        sourcesKey = sources.join('\n');
        var select = $('browser-source'), keep = select.value;
        clear(select);
        select.appendChild(el('option', {value: '', text: 'any'}));
        sources.forEach(function (s) { select.appendChild(el('option', {value: s, text: s})); });
        select.value = sources.indexOf(keep) >= 0 ? keep : '';
    }

    function browserQuery(before) {
        var q = ['limit=' + PAGE, 'before=' + before];
        [['source', 'browser-source'], ['type', 'browser-type'], ['since', 'browser-since'], ['until', 'browser-until'],
         ['record', 'browser-record']].forEach(function (p) {
            var v = $(p[1]).value.trim();
            if (v)
                q.push(p[0] + '=' + encodeURIComponent(v));
        });
        return '/admin/api/events?' + q.join('&');
    }

    function loadEvents(more) {
        var rows = $('browser-rows'), status = $('browser-status');
        sy.showSectionError('browser-error', null);
        status.textContent = 'Loading…';
        return sy.api(browserQuery(more ? browserBefore : 0)).then(function (page) {
            if (!more)
                clear(rows);
            (page.events || []).forEach(function (ev) {
                rows.appendChild(el('tr', {'data-seq': ev.seq, 'data-source': ev.source},
                    el('td', {class: 'num seq', text: ev.seq}),
                    el('td', {class: 'time', text: sy.fmtTime(ev.received_at_ms)}),
                    el('td', {class: 'source', text: ev.source}),
                    el('td', {class: 'type', text: ev.type}),
                    el('td', {class: 'event-id', text: ev.event_id}),
                    el('td', {class: 'num', text: sy.fmtInt(ev.body_bytes)}),
                    el('td', null, el('button', {type: 'button', class: 'small act-view', 'data-seq': ev.seq,
                                                 text: 'View'}))));
            });
            browserBefore = page.next_before || 0;
            $('browser-older').hidden = !page.more;
            var n = rows.children.length;
            status.textContent = n === 0 ? 'No events match.' : n + ' event' + (n === 1 ? '' : 's') + ' shown, newest first' +
                (page.record ? ' (record ' + page.record + ')' : '') + (page.more ? '; older ones below the button' : '');
            status.setAttribute('data-count', String(n));
        }, function (e) {
            status.textContent = '';
            status.setAttribute('data-count', '0');
            sy.showSectionError('browser-error', e);
        });
    }

    function showPayload(seq) {
        sy.api('/admin/api/events/' + encodeURIComponent(seq)).then(function (ev) {
            $('payload-title').textContent = 'Event ' + ev.seq + ' · ' + ev.source + ' · ' + ev.type + ' · ' + ev.event_id +
                                             ' · received ' + sy.fmtTime(ev.received_at_ms);
            $('payload-title').setAttribute('data-seq', String(ev.seq));
            $('payload-view').textContent = ev.body === null ? '(the stored body is not JSON)' : JSON.stringify(ev.body, null, 2);
            $('payload-panel').hidden = false;
        }, function (e) {
            sy.showSectionError('browser-error', e);
        });
    }

    /* ---- queued pushes and dead letters ---- */

    /* The drop buttons armed by a first click ("queue:<id>" → until ms): kept across the tables' re-renders, so a
     * poll that redraws the rows does not swallow the first click. */
    var armedDrops = {};

    function isArmed(kind, id) {
        var until = armedDrops[kind + ':' + id];
        return until !== undefined && until > Date.now();
    }

    function actionButtons(kind, id) {
        var armed = isArmed(kind, id);
        return el('td', {class: 'actions'},
            el('button', {type: 'button', class: 'small act-attempts', 'data-push': id, text: 'Attempts'}),
            el('button', {type: 'button', class: 'small act-retry', 'data-push': id, text: 'Retry'}),
            el('button', {type: 'button', class: 'small danger act-drop' + (armed ? ' armed' : ''), 'data-push': id,
                          text: armed ? 'Confirm drop' : 'Drop'}));
    }

    function fieldNames(doc) {
        return Object.keys(doc.fields || {}).sort().join(', ');
    }

    function renderQueue(list) {
        var key = JSON.stringify(list);
        if (key === queueKey)
            return;
        queueKey = key;
        var rows = $('queue-rows'), now = Date.now();
        clear(rows);
        list.forEach(function (p) {
            var due = typeof p.due_at_ms === 'number' ? p.due_at_ms : 0;
            rows.appendChild(el('tr', {'data-push': p.id, 'data-spoke': p.spoke},
                el('td', {class: 'num', text: p.id}), el('td', {text: p.spoke}), el('td', {text: p.record}),
                el('td', {text: fieldNames(p)}), el('td', {class: 'num', text: sy.fmtInt(p.attempts || 0)}),
                el('td', {'data-value': due, text: due <= now ? 'now' : sy.fmtTime(due)}),
                el('td', {text: p.last_error || (p.last_status ? String(p.last_status) : '—')}),
                actionButtons('queue', p.id)));
        });
        if (!list.length)
            rows.appendChild(el('tr', null, el('td', {colspan: 8, class: 'muted', text: 'No queued pushes.'})));
        $('queue-shown').textContent = list.length >= LIST_LIMIT ? '(first ' + LIST_LIMIT + ')' : '';
    }

    function renderDead(list) {
        var key = JSON.stringify(list);
        if (key === deadKey)
            return;
        deadKey = key;
        var rows = $('dead-rows');
        clear(rows);
        list.forEach(function (d) {
            var resp = d.response || {};
            rows.appendChild(el('tr', {'data-dead': d.id, 'data-spoke': d.spoke},
                el('td', {class: 'num', text: d.id}), el('td', {text: d.spoke}), el('td', {text: d.record}),
                el('td', {text: d.reason || ''}), el('td', {class: 'num', text: resp.status ? resp.status : '—'}),
                el('td', {text: sy.fmtTime(d.died_at_ms)}), actionButtons('dead', d.id)));
        });
        if (!list.length)
            rows.appendChild(el('tr', null, el('td', {colspan: 7, class: 'muted', text: 'No dead letters.'})));
        $('dead-shown').textContent = list.length >= LIST_LIMIT ? '(first ' + LIST_LIMIT + ')' : '';
    }

    function loadPushes() {
        return Promise.all([sy.api('/admin/api/queue?limit=' + LIST_LIMIT), sy.api('/admin/api/dead?limit=' + LIST_LIMIT)])
            .then(function (r) {
                sy.showSectionError('pushes-error', null);
                renderQueue(r[0].queue || []);
                renderDead(r[1].dead || []);
            }, function (e) {
                sy.showSectionError('pushes-error', e);
            });
    }

    function showAttempts(id) {
        sy.api('/admin/api/pushes/' + encodeURIComponent(id) + '/attempts').then(function (a) {
            var rows = $('attempts-rows'), list = (a.attempts || []).slice().reverse();
            var title = $('attempts-title');
            title.textContent = 'Attempts of push ' + a.id + ' (' + a.state + ')' +
                (a.push ? ' to ' + a.push.spoke + ' for ' + a.push.record : '') + ': the last ' + a.keep + ' at most, newest first';
            title.setAttribute('data-push', String(a.id));
            title.setAttribute('data-state', String(a.state));
            clear(rows);
            list.forEach(function (t) {
                rows.appendChild(el('tr', null,
                    el('td', {class: 'time', text: sy.fmtTime(t.at_ms)}),
                    el('td', {class: 'request'}, el('code', {text: t.method + ' ' + t.path}),
                       t.batch > 1 ? ' (batch of ' + t.batch + ')' : ''),
                    el('td', {class: 'num status', 'data-value': t.status, text: t.status ? t.status : (t.error || 'no answer')}),
                    el('td', {class: 'num', 'data-value': t.duration_ms, text: sy.fmtInt(t.duration_ms) + ' ms'}),
                    el('td', {class: 'answer'}, el('code', {text: t.answer || ''}),
                       t.answer_bytes > (t.answer || '').length ? ' … (' + sy.fmtInt(t.answer_bytes) + ' bytes)' : '')));
            });
            if (!list.length)
                rows.appendChild(el('tr', null, el('td', {colspan: 5, class: 'muted',
                                                          text: 'No attempt logged (not sent yet, or done).'})));
            $('attempts-panel').hidden = false;
        }, function (e) {
            sy.showSectionError('pushes-error', e);
        });
    }

    function act(kind, id, action, button) {
        var path = '/admin/api/' + kind + '/' + encodeURIComponent(id) + '/' + action;
        var status = $('pushes-status'), label = (kind === 'dead' ? 'dead letter ' : 'push ') + id;
        button.disabled = true;
        return sy.api(path, false, {}).then(function (r) {
            var what = r.done === 'dropped' ? 'dropped' : r.done === 'nothing_left'
                ? 'had nothing left to send' + (kind === 'dead' ? ' (kept)' : ' (dropped)')
                : 'queued again, due now' + (r.folded ? ' (folded into the push already queued)' : '');
            status.textContent = label + ' ' + what + '.';
            status.setAttribute('data-result', action + ' ' + id + ' ok');
            return loadPushes();
        }, function (e) {
            button.disabled = false;
            status.textContent = action + ' ' + label + ' failed: ' + errText(e);
            status.setAttribute('data-result', action + ' ' + id + ' failed');
        });
    }

    function onPushClick(kind, ev) {
        var b = ev.target.closest('button');
        if (!b)
            return;
        var id = b.getAttribute('data-push');
        if (b.classList.contains('act-attempts')) {
            showAttempts(id);
        } else if (b.classList.contains('act-retry')) {
            act(kind, id, 'retry', b);
        } else if (b.classList.contains('act-drop')) {
            var key = kind + ':' + id;
            if (!isArmed(kind, id)) { /* destructive: a second click confirms */
                armedDrops[key] = Date.now() + ARM_MS;
                b.classList.add('armed');
                b.textContent = 'Confirm drop';
                setTimeout(function () {
                    if (isArmed(kind, id))
                        return; /* armed again meanwhile */
                    delete armedDrops[key];
                    /* the row may have been redrawn since: disarm the button it has now */
                    var rows = $(kind === 'dead' ? 'dead-rows' : 'queue-rows');
                    Array.prototype.forEach.call(rows.querySelectorAll('button.act-drop.armed'), function (x) {
                        if (x.getAttribute('data-push') === id) {
                            x.classList.remove('armed');
                            x.textContent = 'Drop';
                        }
                    });
                }, ARM_MS + 50);
                return;
            }
            delete armedDrops[key];
            act(kind, id, 'drop', b);
        }
    }

    /* ---- alerts ---- */

    var alertsKey = '';

    function subjectText(a) {
        var parts = [];
        if (a.record)
            parts.push('record ' + a.record);
        if (a.source)
            parts.push('tool ' + a.source);
        if (a.field)
            parts.push(a.field);
        return parts.length ? parts.join(', ') : '—';
    }

    function renderAlerts(list) {
        var key = JSON.stringify(list);
        if (key === alertsKey)
            return;
        alertsKey = key;
        var rows = $('alerts-rows');
        clear(rows);
        list.forEach(function (a) {
            rows.appendChild(el('tr', {'data-alert': a.id, 'data-kind': a.kind, 'data-state': a.state, class: 'alert-' + a.state},
                el('td', {class: 'num', text: a.id}), el('td', {text: a.state}), el('td', {text: a.kind}),
                el('td', {text: subjectText(a)}), el('td', {class: 'num', text: sy.fmtInt(a.count || 0)}),
                el('td', {text: sy.fmtTime(a.last_seen_ms)}), el('td', {class: 'message', text: a.message || ''}),
                el('td', {class: 'actions'}, a.state === 'open'
                    ? el('button', {type: 'button', class: 'small act-ack', 'data-alert': a.id, text: 'Ack'})
                    : el('span', {class: 'muted small', text: 'acknowledged'}))));
        });
        if (!list.length)
            rows.appendChild(el('tr', null, el('td', {colspan: 8, class: 'muted', text: 'No open alerts.'})));
        $('alerts-shown').textContent = list.length >= LIST_LIMIT ? '(newest ' + LIST_LIMIT + ')' : '';
    }

    function loadAlerts() {
        return sy.api('/admin/api/alerts?limit=' + LIST_LIMIT).then(function (r) {
            sy.showSectionError('alerts-error', null);
            renderAlerts(r.alerts || []);
        }, function (e) {
            sy.showSectionError('alerts-error', e);
        });
    }

    function ackAlert(id, button) {
        var status = $('alerts-status');
        button.disabled = true;
        return sy.api('/admin/api/alerts/' + encodeURIComponent(id) + '/ack', false, {}).then(function () {
            status.textContent = 'Alert ' + id + ' acknowledged: no more notifications about it.';
            status.setAttribute('data-result', 'ack ' + id + ' ok');
            return loadAlerts();
        }, function (e) {
            button.disabled = false;
            status.textContent = 'Acknowledging alert ' + id + ' failed: ' + errText(e);
            status.setAttribute('data-result', 'ack ' + id + ' failed');
        });
    }

    /* ---- replay ---- */

    function replaySpec() {
        var spec = {mode: $('replay-mode').value};
        [['spoke', 'replay-spoke'], ['source', 'replay-source'], ['type', 'replay-type'], ['since', 'replay-since'],
         ['until', 'replay-until']].forEach(function (p) {
            var v = $(p[1]).value.trim();
            if (v && (p[0] !== 'spoke' || spec.mode === 'repush'))
                spec[p[0]] = v;
        });
        [['from_seq', 'replay-from-seq'], ['to_seq', 'replay-to-seq']].forEach(function (p) {
            var v = $(p[1]).value.trim();
            if (v)
                spec[p[0]] = /^\d+$/.test(v) ? Number(v) : v; /* not a number: the hub says what is wrong */
        });
        return spec;
    }

    function waitJob(id) {
        return sy.api('/admin/api/replay/' + encodeURIComponent(id)).then(function (job) {
            if (job.state !== 'running')
                return job;
            return new Promise(function (resolve) { setTimeout(resolve, JOB_POLL_MS); }).then(function () {
                return waitJob(id);
            });
        });
    }

    function startJob(spec, dryRun) {
        var body = JSON.parse(JSON.stringify(spec));
        body.dry_run = dryRun;
        return sy.api('/admin/api/replay', false, body).then(function (job) { return waitJob(job.id); });
    }

    function describe(job) {
        var s = job.spec || {};
        var text = (s.dry_run ? 'Dry run' : 'Replay') + ' ' + job.state + ': ' + sy.fmtInt(job.read) + ' events read, ' +
            sy.fmtInt(job.selected) + ' selected';
        if (s.mode === 'repush')
            text += ', ' + sy.fmtInt(job.pushes) + ' pushes ' + (s.dry_run ? 'would be ' : '') + 'queued for ' + s.spoke;
        else
            text += ', ' + sy.fmtInt((job.changes || []).length) + ' field change' + ((job.changes || []).length === 1 ? '' : 's') +
                (s.dry_run ? ' would be made' : '');
        return text + (job.error ? ' — ' + job.error : '');
    }

    function runPreview() {
        var spec = replaySpec(), key = JSON.stringify(spec), summary = $('replay-summary');
        preview = null;
        $('replay-confirm').disabled = true;
        $('replay-status').textContent = '';
        sy.showSectionError('replay-error', null);
        summary.textContent = 'Dry run running…';
        summary.setAttribute('data-state', 'running');
        startJob(spec, true).then(function (job) {
            var changes = job.changes || [], rows = $('replay-changes');
            summary.textContent = describe(job) + (changes.length ? '.' : '. Nothing would change.');
            summary.setAttribute('data-state', job.state);
            summary.setAttribute('data-selected', String(job.selected));
            summary.setAttribute('data-changes', String(changes.length));
            clear(rows);
            changes.forEach(function (c) {
                rows.appendChild(el('tr', {'data-record': c.record, 'data-field': c.field},
                    el('td', {text: c.record}), el('td', {text: c.field}),
                    el('td', {class: 'value', text: c.from === undefined || c.from === null ? '(none)' : c.from}),
                    el('td', {class: 'value', text: c.to}), el('td', {text: (c.source || '') + (c.seq ? ' #' + c.seq : '')})));
            });
            $('replay-changes-table').hidden = !changes.length;
            if (job.state === 'done' && JSON.stringify(replaySpec()) === key) {
                preview = {spec: key, job: job.id};
                $('replay-confirm').disabled = false;
            }
        }, function (e) {
            summary.textContent = '';
            summary.setAttribute('data-state', 'failed');
            sy.showSectionError('replay-error', e);
        });
    }

    function runConfirmed() {
        if (!preview || JSON.stringify(replaySpec()) !== preview.spec)
            return;
        var spec = JSON.parse(preview.spec), status = $('replay-status');
        $('replay-confirm').disabled = true;
        preview = null;
        status.textContent = 'Replay running…';
        status.setAttribute('data-state', 'running');
        startJob(spec, false).then(function (job) {
            status.textContent = describe(job) + '.';
            status.setAttribute('data-state', job.state);
            status.setAttribute('data-job', job.id);
        }, function (e) {
            status.textContent = '';
            status.setAttribute('data-state', 'failed');
            sy.showSectionError('replay-error', e);
        });
    }

    /* ---- wiring ---- */

    function init() {
        $('browser-form').addEventListener('submit', function (ev) {
            ev.preventDefault();
            loadEvents(false);
        });
        $('browser-older').addEventListener('click', function () { loadEvents(true); });
        $('browser-rows').addEventListener('click', function (ev) {
            var b = ev.target.closest('button.act-view');
            if (b)
                showPayload(b.getAttribute('data-seq'));
        });
        $('queue-rows').addEventListener('click', function (ev) { onPushClick('queue', ev); });
        $('dead-rows').addEventListener('click', function (ev) { onPushClick('dead', ev); });
        $('replay-form').addEventListener('submit', function (ev) {
            ev.preventDefault();
            runPreview();
        });
        $('replay-form').addEventListener('input', function () {
            /* the confirmation is for the dry run just shown, never for a changed form */
            if (preview && JSON.stringify(replaySpec()) !== preview.spec) {
                preview = null;
                $('replay-confirm').disabled = true;
                $('replay-summary').textContent = 'The form changed: preview again before running.';
                $('replay-summary').setAttribute('data-state', 'stale');
            }
        });
        $('replay-confirm').addEventListener('click', runConfirmed);
        $('alerts-rows').addEventListener('click', function (ev) {
            var b = ev.target.closest('button.act-ack');
            if (b)
                ackAlert(b.getAttribute('data-alert'), b);
        });
        sy.onPoll(function (status, health) {
            renderFounder(health);
            renderSources(status);
            if (!browserLoaded) {
                browserLoaded = true;
                loadEvents(false);
            }
            loadPushes();
            loadAlerts();
        });
    }

    if (document.readyState === 'loading')
        document.addEventListener('DOMContentLoaded', init);
    else
        init();
})();
