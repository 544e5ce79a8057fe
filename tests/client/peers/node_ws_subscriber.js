// A Node `ws` client (perMessageDeflate on) subscribed to a hub's raw endpoint: argv[2] the
// node_modules directory, argv[3] the URL, argv[4] how many messages to read.  Prints the
// server's Sec-WebSocket-Extensions, then "<length> <FNV-1a 32>" per message.
'use strict';
const WebSocket = require(process.argv[2] + '/ws');

const [url, count] = [process.argv[3], Number(process.argv[4])];
const fnv1a = (buf) => {
  let h = 2166136261;
  for (const b of buf) h = Math.imul(h ^ b, 16777619) >>> 0;
  return h;
};
const ws = new WebSocket(url, { perMessageDeflate: true, maxPayload: 64 << 20 });
let seen = 0;
ws.on('upgrade', (res) => console.log(res.headers['sec-websocket-extensions'] || ''));
ws.on('message', (data) => {
  const buf = Buffer.from(data);
  console.log(`${buf.length} ${fnv1a(buf)}`);
  if (++seen === count) ws.close(1000);
});
ws.on('error', (e) => {
  console.log(`error ${e.message}`);
  process.exit(1);
});
