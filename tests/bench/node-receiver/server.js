// The receiver a small team would write without Switchyard: Node's http server, the official Stripe SDK's
// constructEvent (signature + timestamp check), and an append to a log file with fsync before answering 200,
// so "200 means on disk" holds as it does for Switchyard. Benchmark peer only: `node server.js PORT SECRET LOG
// [HUBSPOT_SECRET]`.
// POST /hooks/hubspot is checked like HubSpot's own sample code does it (signature v3: base64 HMAC-SHA256 of
// method + URL + body + timestamp, timestamp within 5 minutes), so tests/bench/run-pipeline.sh can send it the same
// mix of Stripe and HubSpot events as the hub. Every other path is a Stripe webhook.
// Without the `stripe` package installed (npm install, which needs the registry) it falls back to the same check
// written with node:crypto (what constructEvent does: parse t= and v1=, 300 s tolerance, timing-safe compare, then
// JSON.parse) and says so on stdout, so a report can label the row.
'use strict';
const http = require('http');
const fs = require('fs');
const crypto = require('crypto');

const [port, secret, logPath, hubspotSecretArg] = process.argv.slice(2);
const hubspotSecret = hubspotSecretArg || secret;
const fd = fs.openSync(logPath, 'a');

let constructEvent;
let verifier;
try {
  const stripe = require('stripe')('sk_test_unused');
  constructEvent = (body, header) => stripe.webhooks.constructEvent(body, header, secret);
  verifier = 'stripe SDK';
} catch (e) {
  constructEvent = (body, header) => {
    const parts = String(header || '').split(',');
    const t = parts.find((p) => p.startsWith('t='));
    const sigs = parts.filter((p) => p.startsWith('v1=')).map((p) => p.slice(3));
    if (!t || sigs.length === 0) throw new Error('no signature');
    const ts = Number(t.slice(2));
    const expected = crypto.createHmac('sha256', secret).update(`${ts}.`).update(body).digest('hex');
    const eb = Buffer.from(expected);
    if (!sigs.some((s) => s.length === expected.length && crypto.timingSafeEqual(Buffer.from(s), eb)))
      throw new Error('mismatch');
    if (Math.abs(Date.now() / 1000 - ts) > 300) throw new Error('tolerance');
    return JSON.parse(body.toString('utf8'));
  };
  verifier = 'node:crypto (stripe SDK not installed)';
}

function hubspotEvent(req, body) {
  const sig = req.headers['x-hubspot-signature-v3'];
  const ts = req.headers['x-hubspot-request-timestamp'];
  if (!sig || !ts || Math.abs(Date.now() - Number(ts)) > 300000) throw new Error('signature');
  const uri = `http://${req.headers.host}${req.url}`;
  const expected = crypto.createHmac('sha256', hubspotSecret).update(req.method + uri).update(body).update(ts).digest('base64');
  if (sig.length !== expected.length || !crypto.timingSafeEqual(Buffer.from(sig), Buffer.from(expected)))
    throw new Error('signature');
  const events = JSON.parse(body.toString('utf8'));
  return { id: events.map((e) => e.eventId).join(',') };
}

http
  .createServer((req, res) => {
    if (req.method !== 'POST') {
      res.writeHead(405).end();
      return;
    }
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      let event;
      try {
        event = req.url.startsWith('/hooks/hubspot') ? hubspotEvent(req, body)
                                                     : constructEvent(body, req.headers['stripe-signature']);
      } catch (err) {
        res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"signature"}');
        return;
      }
      fs.write(fd, body.toString('utf8') + '\n', (err) => {
        if (err) return res.writeHead(500).end();
        fs.fdatasync(fd, (err2) => {
          if (err2) return res.writeHead(500).end();
          const answer = JSON.stringify({ received: true, id: event.id });
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer) });
          res.end(answer);
        });
      });
    });
  })
  .listen(Number(port), '127.0.0.1', () => console.log(`listening on ${port} (verifier: ${verifier})`));
