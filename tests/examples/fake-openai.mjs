// A small fake of an OpenAI-compatible server, for the assistant example's tests:
// POST /v1/chat/completions with stream:true answers with Server-Sent Events of
// chat.completion.chunk, one token per event, ending with `data: [DONE]`.  What it does is
// picked by the last user message:
//   contains "slow"        SLOW_TOKENS tokens, 120 ms apart (time to stop, reload, drop)
//   contains "error 500"   HTTP 500 with an OpenAI-style error body
//   contains "disconnect"  3 tokens, then the connection is destroyed mid-stream
//   contains "hang"        2 tokens, then nothing (the gateway's timeout must fire)
//   contains "overloaded"  1 token, then an error object inside the stream (as some servers do)
//   anything else          ANSWER's tokens, 15 ms apart
// Every request is recorded: {body, authorization, sent (tokens), finished, cancelled
// (the client closed the connection before the end)}.
import http from 'node:http';

export const ANSWER = [
  'Streaming', ' works', ' token', ' by', ' token.', '\n\n',
  'Here', ' is', ' some', ' `code`:', '\n\n',
  '```cpp\n', 'auto', ' sub', ' =', ' hub.subscribe("assistant.*",', ' on_token);', '\n```', '\n\n',
  'And', ' a', ' **last**', ' paragraph', ' with', ' <b>no</b>', ' HTML', ' & no', ' surprises.',
];
export const SLOW_TOKENS = 60;
export const slowToken = (i) => ` w${i}`;

export async function startFakeUpstream() {
  const requests = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const rec = { body: null, authorization: req.headers.authorization ?? '', sent: 0, finished: false, cancelled: false };
      requests.push(rec);
      try {
        rec.body = JSON.parse(body);
      } catch {
        res.writeHead(400, { 'Content-Type': 'application/json' }).end('{"error":{"message":"bad json"}}');
        return;
      }
      const last = [...(rec.body.messages ?? [])].reverse().find((m) => m.role === 'user')?.content ?? '';
      if (last.includes('error 500')) {
        res.writeHead(500, { 'Content-Type': 'application/json' });
        res.end('{"error":{"message":"the model crashed","type":"server_error"}}');
        rec.finished = true;
        return;
      }
      let tokens = ANSWER;
      let delay = 15;
      let after = 'done';
      if (last.includes('slow')) {
        tokens = Array.from({ length: SLOW_TOKENS }, (_, i) => slowToken(i));
        delay = 120;
      } else if (last.includes('disconnect')) {
        tokens = ANSWER.slice(0, 3);
        after = 'destroy';
      } else if (last.includes('hang')) {
        tokens = ANSWER.slice(0, 2);
        after = 'hang';
      } else if (last.includes('overloaded')) {
        tokens = ANSWER.slice(0, 1);
        after = 'error';
      }
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
      const chunk = (delta, finish = null) =>
        `data: ${JSON.stringify({
          id: 'chatcmpl-fake', object: 'chat.completion.chunk', created: 0, model: rec.body.model,
          choices: [{ index: 0, delta, finish_reason: finish }],
        })}\n\n`;
      res.write(chunk({ role: 'assistant', content: '' }));
      let i = 0;
      const timer = setInterval(() => {
        if (i < tokens.length) {
          res.write(chunk({ content: tokens[i++] }));
          rec.sent = i;
          return;
        }
        clearInterval(timer);
        if (after === 'destroy') return req.socket.destroy();
        if (after === 'hang') return;
        if (after === 'error') {
          res.end('data: {"error":{"message":"the model is overloaded","type":"server_error"}}\n\n');
          rec.finished = true;
          return;
        }
        res.write(chunk({}, 'stop'));
        res.end('data: [DONE]\n\n');
        rec.finished = true;
      }, delay);
      res.on('close', () => {
        clearInterval(timer);
        if (!rec.finished && after === 'done') rec.cancelled = true;
      });
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url,
    requests,
    close: () => new Promise((resolve) => { server.closeAllConnections?.(); server.close(resolve); }),
  };
}
