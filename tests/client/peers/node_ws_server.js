// A Node `ws` echo server for the C++ client tests (argv[2]: the node_modules directory;
// argv[3] "deflate": permessage-deflate on, every message compressed).
// Prints its port, then echoes; "fragment" gets a fragmented text message, "headers" the
// request headers as JSON, "close" a close frame 4001 "bye".
'use strict';
const { WebSocketServer } = require(process.argv[2] + '/ws');

const wss = new WebSocketServer({
  host: '127.0.0.1',
  port: 0,
  maxPayload: 64 << 20,
  perMessageDeflate: process.argv[3] === 'deflate' ? { threshold: 0 } : false,
  handleProtocols: (offered) => (offered.has('chat') ? 'chat' : false),
});
wss.on('listening', () => console.log(String(wss.address().port)));
wss.on('connection', (ws, req) => {
  ws.on('message', (data, isBinary) => {
    const text = isBinary ? null : data.toString();
    if (text === 'fragment') {
      ws.send('frag', { fin: false });
      ws.send('ment', { fin: false });
      ws.send('ed \u00e9', { fin: true });
    } else if (text === 'headers') {
      ws.send(JSON.stringify({ ...req.headers, path: req.url, subprotocol: ws.protocol }));
    } else if (text === 'close') {
      ws.close(4001, 'bye');
    } else {
      ws.send(data, { binary: isBinary });
    }
  });
});
