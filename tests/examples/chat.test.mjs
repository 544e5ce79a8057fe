// examples/chat in Debian's Chromium: two pages (alice and bob) chat through rtmsg-chat.
//
//   node --test tests/examples/        (tests/examples/run.sh BUILD_DIR does the setup)
//
// The server runs with --test-hooks: POST /test/drop?name=bob&ms=N closes bob's connections
// and refuses his reconnections for N ms, a real outage as far as the page can tell.
// The test takes docs/screenshots/chat.png.
import { after, before, describe, test } from '../support/node_test.mjs';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { launchBrowser, screenshots, startExample, waitFor, watchPage } from './support.mjs';

describe('chat example', () => {
  let server;
  let browser;
  let alice;
  let bob;
  const problems = [];

  /** The messages a page shows, in order: {text, from, own, status, offset}. */
  const messages = (page) =>
    page.$$eval('#messages .msg', (els) =>
      els.map((e) => ({
        text: e.querySelector('.text').textContent,
        from: e.querySelector('.from').textContent,
        own: e.classList.contains('own'),
        status: ['pending', 'confirmed', 'failed'].find((s) => e.classList.contains(s)) ?? '',
        offset: Number(e.dataset.offset ?? 0),
        time: e.querySelector('time').textContent,
      })),
    );
  const texts = async (page) => (await messages(page)).map((m) => m.text);
  const users = (page) => page.$$eval('#users li', (els) => els.map((e) => e.textContent));
  const state = (page) => page.$eval('#conn', (e) => e.dataset.state);

  async function join(page, name) {
    await page.goto(server.url);
    await page.fill('#name', name);
    await page.click('#join button');
    await waitFor(async () => (await state(page)) === 'open', `${name} to connect`);
    assert.equal(await page.isVisible('#join'), false, 'the join form is gone');
    assert.equal(await page.isVisible('#messages'), true);
  }

  async function say(page, text) {
    await page.fill('#text', text);
    await page.press('#text', 'Enter');
  }

  before(async () => {
    server = await startExample('examples/chat/rtmsg-chat', ['--test-hooks']);
    browser = await launchBrowser();
    alice = await browser.newPage();
    bob = await browser.newPage();
    problems.push(watchPage(alice, 'alice'), watchPage(bob, 'bob'));
  });

  after(async () => {
    await browser?.close();
    // Graceful Ctrl-C: the server exits by itself, with status 0.
    if (server) assert.equal(await server.stop(), 0, `rtmsg-chat did not exit cleanly: ${server.stderr()}`);
    assert.deepEqual(problems.flat(), [], 'uncaught errors in the pages');
  });

  test('two pages: both are listed, typing shows on the other page only, messages arrive', async () => {
    await join(alice, 'alice');
    await join(bob, 'bob');
    for (const page of [alice, bob])
      await waitFor(async () => {
        const u = await users(page);
        return u.some((n) => n.startsWith('alice')) && u.some((n) => n.startsWith('bob'));
      }, 'both users in the user list');
    assert.match(await alice.textContent('#messages'), /bob joined/);

    await alice.type('#text', 'hel', { delay: 30 });
    await waitFor(async () => (await bob.textContent('#typing')) === 'alice is typing…', 'typing indicator on bob');
    assert.equal(await alice.textContent('#typing'), '', 'the typer never sees their own indicator');

    await say(alice, 'hello bob');
    await waitFor(async () => (await texts(bob)).includes('hello bob'), 'alice\'s message on bob\'s page');
    await waitFor(async () => (await messages(alice)).find((m) => m.text === 'hello bob')?.status === 'confirmed',
      'alice\'s message confirmed');
    const [onAlice] = (await messages(alice)).filter((m) => m.text === 'hello bob');
    const [onBob] = (await messages(bob)).filter((m) => m.text === 'hello bob');
    assert.equal(onAlice.own, true);
    assert.equal(onBob.own, false);
    assert.equal(onBob.from, 'alice');
    assert.match(onBob.time, /\d/, 'a timestamp');
    assert.equal(await bob.textContent('#typing'), '', 'a message ends the typing indicator');

    await say(bob, 'hi alice!');
    await waitFor(async () => (await texts(alice)).includes('hi alice!'), 'bob\'s reply on alice\'s page');
  });

  test('a page cannot pose as another user: the server attests every sender', async () => {
    // From alice's devtools: a message that claims to be bob's, in the data and in the envelope.
    await alice.evaluate(() =>
      window.chat.client.publish('chat.lobby', { cid: 'forged-1', from: 'bob', text: 'I am totally bob', ts: Date.now() }));
    await waitFor(async () => (await texts(bob)).includes('I am totally bob'), 'the forged message on bob\'s page');
    const [onBob] = (await messages(bob)).filter((m) => m.text === 'I am totally bob');
    assert.equal(onBob.from, 'alice', 'bob sees who really sent it');
    assert.equal(onBob.own, false, 'and not as his own message');
    // bob's page listens for the next forgery's meta (subscribed before alice sends it).
    await bob.evaluate(() => {
      window.forged = new Promise((resolve) => {
        const sub = window.chat.client.subscribe('chat.lobby', (d, m) => {
          if (d?.cid === 'forged-2') { sub.unsubscribe(); resolve(m.from); }
        });
      });
    });
    const seen = bob.evaluate(() => window.forged);
    await alice.evaluate(() => {
      // Even a raw WebSocket frame with a "from" of its own cannot change the attested sender.
      const ws = new WebSocket(`ws://${location.host}/ws?name=alice`, ['rtmsg.json']);
      ws.onopen = () => {
        ws.send(JSON.stringify({ op: 'pub', topic: 'chat.lobby', from: { id: 'bob' },
          data: { cid: 'forged-2', from: 'bob', text: 'still bob, honest', ts: Date.now() } }));
        setTimeout(() => ws.close(), 500);
      };
    });
    assert.deepEqual(await seen, { id: 'alice' }, 'meta.from on bob\'s page');
    await waitFor(async () => (await messages(bob)).some((m) => m.text === 'still bob, honest' && m.from === 'alice'),
      'the second forgery shown as alice\'s');
  });

  test('a reload shows the history, once', async () => {
    const before = await texts(bob);
    await bob.reload();
    await waitFor(async () => (await state(bob)) === 'open', 'bob to reconnect after the reload');
    await waitFor(async () => (await texts(bob)).length >= before.length, 'the history');
    assert.deepEqual(await texts(bob), before);
    assert.deepEqual((await messages(bob)).filter((m) => m.own).map((m) => m.text), ['hi alice!'],
      'own messages from history are styled as own');
  });

  test('after the server drops a connection, the page reconnects and misses nothing', async () => {
    await bob.evaluate(() => {
      window.states = [];
      window.chat.client.addEventListener('state', (e) => window.states.push(e.state));
    });
    const connectionsBefore = await bob.evaluate(() => window.chat.client.connections);
    const drop = await fetch(new URL('/test/drop?name=bob&ms=1500', server.url), { method: 'POST' });
    assert.equal(drop.status, 204);
    await waitFor(async () => (await state(bob)) === 'reconnecting', 'bob\'s page to show it is reconnecting');

    const sent = ['while you were away 1', 'while you were away 2', 'while you were away 3'];
    for (const t of sent) await say(alice, t);
    await waitFor(async () => (await messages(alice)).filter((m) => sent.includes(m.text) && m.status === 'confirmed').length === 3,
      'alice\'s messages confirmed');
    assert.equal(await state(bob), 'reconnecting', 'bob is still cut off (the outage lasts 1.5 s)');

    await waitFor(async () => (await state(bob)) === 'open', 'bob to reconnect', 15000);
    await waitFor(async () => {
      const shown = await texts(bob);
      return sent.every((t) => shown.includes(t));
    }, 'the missed messages on bob\'s page');
    const got = await messages(bob);
    for (const t of sent) assert.equal(got.filter((m) => m.text === t).length, 1, `"${t}" exactly once`);
    const offsets = got.map((m) => m.offset);
    assert.deepEqual(offsets, [...offsets].sort((x, y) => x - y), 'in order');
    assert.deepEqual(offsets, offsets.map((_, i) => offsets[0] + i), 'no gap in the offsets');
    assert.deepEqual(await texts(bob), await texts(alice), 'both pages show the same conversation');
    assert.ok((await bob.evaluate(() => window.chat.client.connections)) > connectionsBefore);
    const states = await bob.evaluate(() => window.states);
    assert.ok(states.indexOf('reconnecting') < states.lastIndexOf('open'), `states: ${states}`);
    await waitFor(async () => (await users(alice)).some((n) => n.startsWith('bob')), 'bob back in alice\'s user list');
  });

  test('markup in a message is shown as text', async () => {
    const evil = '<img src=x onerror="window.pwned=1"><b>bold</b>';
    await say(bob, evil);
    await waitFor(async () => (await texts(alice)).includes(evil), 'the message shown verbatim');
    for (const page of [alice, bob]) {
      assert.equal(await page.$$eval('#messages img, #messages b', (els) => els.length), 0);
      assert.equal(await page.evaluate(() => window.pwned), undefined);
    }
    await say(alice, 'nice try 😄');
    await waitFor(async () => (await messages(bob)).some((m) => m.text === 'nice try 😄'), 'the reply');
    await bob.type('#text', 'ok ok', { delay: 30 });
    await waitFor(async () => (await alice.textContent('#typing')) === 'bob is typing…', 'bob typing, on alice\'s page');
    await alice.screenshot({ path: path.join(screenshots, 'chat.png') });
  });

  test('too long and too fast are shown as errors; a failed message can be retried', async () => {
    await say(alice, 'x'.repeat(501));
    await waitFor(async () => /too long/.test(await alice.textContent('#error')), 'the length error');
    assert.equal((await texts(alice)).some((t) => t.length > 500), false, 'not sent');

    // The hub's per-user limit (3 per second, bursts of 10), shared by all of a user's tabs: a
    // second alice tab and the first one each send 6 at once (each under the per-connection
    // limit), so some must fail.
    const alice2 = await browser.newPage();
    problems.push(watchPage(alice2, 'alice2'));
    await join(alice2, 'alice');
    const burst = (page, tag) =>
      page.evaluate((tag) => {
        const input = document.querySelector('#text');
        for (let i = 0; i < 6; i++) {
          input.value = `burst ${tag}${i}`;
          document.querySelector('#composer').requestSubmit();
        }
      }, tag);
    await Promise.all([burst(alice, 'a'), burst(alice2, 'b')]);
    // (Each tab also shows the other tab's messages that got through: filter by tag.)
    const settled = async (page, tag) => (await messages(page)).filter((m) => m.text.startsWith(`burst ${tag}`) && m.status !== 'pending');
    await waitFor(async () => (await settled(alice, 'a')).length === 6 && (await settled(alice2, 'b')).length === 6,
      'every burst message answered');
    const failedOn = async (page) => (await messages(page)).filter((m) => m.text.startsWith('burst ') && m.status === 'failed');
    const refused = (await failedOn(alice)).length + (await failedOn(alice2)).length;
    assert.ok(refused >= 2, `the per-user limit refused some of the 12 (${refused} were)`);
    const page = (await failedOn(alice2)).length > 0 ? alice2 : alice;
    const failed = (await failedOn(page)).map((m) => m.text);
    assert.match(await page.textContent('#error'), /too fast/);
    assert.equal(await page.$eval('#messages .msg.failed', (e) => e.title), 'You are sending messages too fast: wait a moment, then retry.');

    await page.waitForTimeout(1000);
    await page.click(`#messages .msg.failed .retry`);
    await waitFor(async () => (await messages(page)).find((m) => m.text === failed[0])?.status === 'confirmed',
      'the retried message confirmed');
    await waitFor(async () => (await texts(bob)).filter((t) => t === failed[0]).length === 1, 'the retried message on bob\'s page');
    await alice2.close();
  });

  test('rooms: a new room starts empty and shows up for others', async () => {
    await alice.fill('#room-name', 'dev');
    await alice.click('#new-room button');
    await waitFor(async () => (await alice.textContent('#room-title')) === '# dev', 'alice in #dev');
    assert.deepEqual(await texts(alice), []);
    await say(alice, 'first in dev');
    await waitFor(async () => (await bob.$$eval('#rooms button', (b) => b.map((x) => x.dataset.room))).includes('dev'),
      'the room listed on bob\'s page');
    await bob.click('#rooms button[data-room="dev"]');
    await waitFor(async () => (await texts(bob)).includes('first in dev'), 'the room\'s history on bob\'s page');
    await waitFor(async () => (await users(bob)).some((n) => n.startsWith('alice')), 'alice listed in #dev');
  });
});

// Built without OpenSSL, rtmsg-chat has no --tls: CMake sets RTMSG_EXAMPLES_TLS=0 then.
if (process.env.RTMSG_EXAMPLES_TLS !== '0') describe('chat example over TLS (--tls CERT KEY)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rtmsg-chat-tls-'));
  let server;
  let browser;

  before(async () => {
    // A throwaway self-signed certificate for 127.0.0.1; the browser is told to accept it.
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
      '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')], { stdio: 'ignore' });
    server = await startExample('examples/chat/rtmsg-chat',
      ['--tls', path.join(dir, 'cert.pem'), path.join(dir, 'key.pem')]);
    browser = await launchBrowser({ ignoreHTTPSErrors: true });
  });

  after(async () => {
    await browser?.close();
    if (server) assert.equal(await server.stop(), 0);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('serves https and wss: a message goes from one page to the other', async () => {
    assert.match(server.url, /^https:/);
    const [a, b] = [await browser.newPage(), await browser.newPage()];
    for (const [page, name] of [[a, 'carol'], [b, 'dave']]) {
      await page.goto(server.url);
      await page.fill('#name', name);
      await page.click('#join button');
      await waitFor(async () => (await page.$eval('#conn', (e) => e.dataset.state)) === 'open', `${name} over wss`);
    }
    await a.fill('#text', 'secret hello');
    await a.press('#text', 'Enter');
    await waitFor(async () => (await b.$$eval('#messages .msg .text', (els) => els.map((e) => e.textContent))).includes('secret hello'),
      'the message over wss');
  });
});
