// peer-node-ws: /echo and /broadcast of the testbed contract with Node's `ws` (8.x), no
// permessage-deflate.  Broadcast sends one Buffer to every client (ws frames per client).
//   node bench/peers/node_ws.mjs [--host 127.0.0.1] [--port 9001] [--threads 1] [--max-message N]
// --threads is accepted and ignored: Node runs JavaScript on one thread.
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';

const args = { host: '127.0.0.1', port: 9001, threads: 1, maxMessage: 16 * 1024 * 1024 };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) {
  const k = argv[i], v = argv[i + 1];
  if (v === undefined) { console.error('usage: node_ws.mjs [--host H] [--port P] [--threads N] [--max-message N]'); process.exit(2); }
  if (k === '--host') args.host = v;
  else if (k === '--port') args.port = Number(v);
  else if (k === '--threads') args.threads = Number(v);
  else if (k === '--max-message') args.maxMessage = Number(v);
  else { console.error(`unknown option ${k}`); process.exit(2); }
}

const server = createServer((req, res) => { res.writeHead(404); res.end(); });
const opts = { noServer: true, perMessageDeflate: false, maxPayload: args.maxMessage, clientTracking: false };
const echo = new WebSocketServer(opts);
const broadcast = new WebSocketServer(opts);
const members = new Set();

echo.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
broadcast.on('connection', (ws) => {
  members.add(ws);
  ws.on('close', () => members.delete(ws));
  ws.on('message', (data, isBinary) => {
    for (const m of members) m.send(data, { binary: isBinary });
  });
});
server.on('upgrade', (req, socket, head) => {
  socket.setNoDelay(true);
  const path = req.url.split('?')[0];
  const wss = path === '/echo' ? echo : path === '/broadcast' ? broadcast : null;
  if (!wss) { socket.destroy(); return; }
  wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
});
server.listen(args.port, args.host, () => {
  const a = server.address();
  process.stdout.write(`listening on ${a.address}:${a.port}\n`);
});
const stop = () => { for (const m of members) m.close(1001); server.close(); process.exit(0); };
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
