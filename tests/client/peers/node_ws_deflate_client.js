// A Node `ws` client of our server with permessage-deflate on or off: argv[2] the node_modules
// directory, argv[3] the URL, argv[4] "on" or "off", argv[5..] message sizes.  Echoes each size
// as text and binary, prints the negotiated extensions (ws.extensions), then "ok" (or a mismatch).
'use strict';
const WebSocket = require(process.argv[2] + '/ws');

const [url, mode] = [process.argv[3], process.argv[4]];
const sizes = process.argv.slice(5).map(Number);
const payload = (n) => JSON.stringify(Array.from({ length: (n >> 4) + 1 }, (_, i) => ({ px: (i * 7919 + n) % 100000 }))).slice(0, n);
const ws = new WebSocket(url, { perMessageDeflate: mode === 'on' ? { threshold: 0 } : false, maxPayload: 64 << 20 });
const queue = [];
for (const n of sizes) {
  queue.push({ data: payload(n), binary: false });
  queue.push({ data: Buffer.from(payload(n)), binary: true });
}
let current = null;
const next = () => {
  current = queue.shift();
  if (!current) {
    console.log('ok');
    ws.close(1000);
    return;
  }
  ws.send(current.data, { binary: current.binary });
};
ws.on('open', () => {
  console.log(ws.extensions);
  next();
});
ws.on('message', (data, isBinary) => {
  const same = isBinary === current.binary && Buffer.compare(Buffer.from(data), Buffer.from(current.data)) === 0;
  if (!same) {
    console.log(`mismatch at ${current.data.length} bytes`);
    process.exit(1);
  }
  next();
});
ws.on('error', (e) => {
  console.log(`error ${e.message}`);
  process.exit(1);
});
