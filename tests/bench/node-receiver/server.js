// The receiver a small team would write without Switchyard: Node's http server, the official Stripe SDK's
// constructEvent (signature + timestamp check), and an append to a log file with fsync before answering 200,
// so "200 means on disk" holds as it does for Switchyard. Benchmark peer only: `node server.js PORT SECRET LOG`.
'use strict';
const http = require('http');
const fs = require('fs');
const Stripe = require('stripe');

const [port, secret, logPath] = process.argv.slice(2);
const stripe = Stripe('sk_test_unused');
const fd = fs.openSync(logPath, 'a');

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
        event = stripe.webhooks.constructEvent(body, req.headers['stripe-signature'], secret);
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
  .listen(Number(port), '127.0.0.1', () => console.log(`listening on ${port}`));
