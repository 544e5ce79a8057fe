// A small Node SSE server for the C++ SSE client tests.  Prints its port.
//   GET /events  BOM, retry: 150, a comment, then a "hello" event naming the Last-Event-ID
//                it was asked to resume after, then three events (each in a different line
//                ending style, written in pieces), then ends the response; resumes after
//                Last-Event-ID, and stays open (heartbeat comments) once id 9 was sent.
//   GET /nocontent  204 (the client must not reconnect)
//   GET /html       200 text/html (the client must fail)
'use strict';
const http = require('http');

const pieces = (k) => {
  switch (k % 3) {
    case 0: return [`id: ${k}\r`, `\nevent: tick\r\ndata: line1\r\nda`, `ta: line2\r\n\r\n`];
    case 1: return [`id: ${k}\rdata:nospace ${k}`, `\r\r`];
    default: return [`id: ${k}\ndata: v${k}\nid: bad\0x\n`, `: comment\nunknown: field\n\n`];
  }
};

const server = http.createServer((req, res) => {
  if (req.url === '/nocontent') { res.writeHead(204); return res.end(); }
  if (req.url === '/html') { res.writeHead(200, { 'Content-Type': 'text/html' }); return res.end('<p>no</p>'); }
  const last = Number(req.headers['last-event-id'] || 0);
  res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache' });
  res.write('\uFEFFretry: 150\n: hello\n\n');
  res.write(`event: hello\ndata: last=${req.headers['last-event-id'] ?? 'none'}\n\n`);
  const out = [];
  for (let k = last + 1; k <= Math.min(last + 3, 9); k++) out.push(...pieces(k));
  const step = () => {
    if (out.length === 0) {
      if (last + 3 >= 9) { const t = setInterval(() => res.write(': beat\n\n'), 100); res.on('close', () => clearInterval(t)); return; }
      return res.end();
    }
    res.write(out.shift());
    setTimeout(step, 5);
  };
  step();
});
server.listen(0, '127.0.0.1', () => console.log(String(server.address().port)));
