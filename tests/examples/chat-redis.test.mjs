// examples/chat clustered through Redis, in Debian's Chromium: one redis-server and two
// rtmsg-chat servers started with --redis, on two ports.  alice's page is on server A, bob's
// on server B, in the same room.
//
//   node --test tests/examples/chat-redis.test.mjs   (tests/examples/run.sh BUILD_DIR does the setup)
//
// Needs rtmsg-chat built with rtmsg::redis (-DRTMSG_WITH_HIREDIS=ON) and redis-server.
// The test takes docs/screenshots/chat-redis.png.
import { after, before, describe, test } from '../support/node_test.mjs';
import assert from 'node:assert/strict';
import path from 'node:path';

import { launchBrowser, screenshots, startExample, startRedis, waitFor, watchPage } from './support.mjs';

describe('two chat servers sharing rooms through Redis (--redis HOST:PORT)', () => {
  let redis;
  let serverA;
  let serverB;
  let browser;
  let alice; // on server A
  let bob; // on server B
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
      })),
    );
  const texts = async (page) => (await messages(page)).map((m) => m.text);
  const users = (page) => page.$$eval('#users li', (els) => els.map((e) => e.textContent));
  const state = (page) => page.$eval('#conn', (e) => e.dataset.state);
  const lists = async (page, ...names) => {
    const u = await users(page);
    return names.every((name) => u.some((n) => n.startsWith(name)));
  };

  async function join(page, url, name) {
    await page.goto(url);
    await page.fill('#name', name);
    await page.click('#join button');
    await waitFor(async () => (await state(page)) === 'open', `${name} to connect`);
  }

  async function say(page, text) {
    await page.fill('#text', text);
    await page.press('#text', 'Enter');
  }

  before(async () => {
    redis = await startRedis();
    serverA = await startExample('examples/chat/rtmsg-chat', ['--redis', redis.address]);
    serverB = await startExample('examples/chat/rtmsg-chat', ['--redis', redis.address]);
    assert.notEqual(serverA.url, serverB.url, 'two servers, two ports');
    for (const server of [serverA, serverB]) {
      assert.match(server.stdout(), new RegExp(`clustered through Redis at ${redis.address}`));
      await waitFor(() => /connected to Redis/.test(server.stdout()), `${server.url} to connect to Redis`);
    }
    browser = await launchBrowser();
    alice = await browser.newPage();
    bob = await browser.newPage();
    problems.push(watchPage(alice, 'alice'), watchPage(bob, 'bob'));
  });

  after(async () => {
    await browser?.close();
    // Graceful Ctrl-C: each server leaves Redis and exits by itself, with status 0.
    for (const server of [serverA, serverB])
      if (server) assert.equal(await server.stop(), 0, `rtmsg-chat did not exit cleanly: ${server.stderr()}`);
    await redis?.stop();
    assert.deepEqual(problems.flat(), [], 'uncaught errors in the pages');
  });

  test('a page on each server: each lists the other user, messages go both ways with the same offsets', async () => {
    await join(alice, serverA.url, 'alice');
    await join(bob, serverB.url, 'bob');
    for (const page of [alice, bob]) await waitFor(() => lists(page, 'alice', 'bob'), 'both users in the user list');
    await waitFor(async () => /bob joined/.test(await alice.textContent('#messages')), 'bob\'s join on alice\'s page');

    await alice.type('#text', 'hel', { delay: 30 });
    await waitFor(async () => (await bob.textContent('#typing')) === 'alice is typing…', 'typing indicator on bob');
    assert.equal(await alice.textContent('#typing'), '', 'the typer never sees their own indicator');

    await say(alice, 'hello from server A');
    await waitFor(async () => (await texts(bob)).includes('hello from server A'), 'alice\'s message on bob\'s page');
    await waitFor(async () => (await messages(alice)).find((m) => m.text === 'hello from server A')?.status === 'confirmed',
      'alice\'s message confirmed');
    const [onBob] = (await messages(bob)).filter((m) => m.text === 'hello from server A');
    assert.equal(onBob.from, 'alice');
    assert.equal(onBob.own, false);

    await say(bob, 'hello from server B');
    await waitFor(async () => (await texts(alice)).includes('hello from server B'), 'bob\'s message on alice\'s page');
    await waitFor(async () => (await messages(bob)).find((m) => m.text === 'hello from server B')?.status === 'confirmed',
      'bob\'s message confirmed');

    // Redis numbers the messages: both pages show one conversation, with the same offsets.
    const [a, b] = [await messages(alice), await messages(bob)];
    assert.deepEqual(a.map((m) => [m.text, m.offset]), b.map((m) => [m.text, m.offset]));
    assert.deepEqual(a.map((m) => m.offset), [1, 2], 'offsets from 1, no gap');
  });

  test('a reload on server B shows the room\'s history, with server A\'s messages', async () => {
    const before = await messages(bob);
    await bob.reload();
    await waitFor(async () => (await state(bob)) === 'open', 'bob to reconnect after the reload');
    await waitFor(async () => (await messages(bob)).length >= before.length, 'the history');
    const shown = await messages(bob);
    assert.deepEqual(shown.map((m) => [m.text, m.offset]), before.map((m) => [m.text, m.offset]), 'the history, once');
    assert.ok(shown.some((m) => m.text === 'hello from server A' && m.from === 'alice'), 'server A\'s message in it');
    assert.deepEqual(shown.filter((m) => m.own).map((m) => m.text), ['hello from server B']);
    for (const page of [alice, bob]) await waitFor(() => lists(page, 'alice', 'bob'), 'both users listed after the reload');

    await say(alice, 'welcome back, bob');
    await waitFor(async () => (await texts(bob)).includes('welcome back, bob'), 'a new message after the reload');
    await bob.type('#text', 'thanks', { delay: 30 });
    await waitFor(async () => (await alice.textContent('#typing')) === 'bob is typing…', 'bob typing, on alice\'s page');
    await bob.screenshot({ path: path.join(screenshots, 'chat-redis.png') });
    await bob.fill('#text', '');
  });

  test('a room created on server A is listed on server B, with its history', async () => {
    await alice.fill('#room-name', 'dev');
    await alice.click('#new-room button');
    await waitFor(async () => (await alice.textContent('#room-title')) === '# dev', 'alice in #dev');
    await say(alice, 'first in dev');
    await waitFor(async () => (await bob.$$eval('#rooms button', (b) => b.map((x) => x.dataset.room))).includes('dev'),
      'the room listed on bob\'s page');
    await bob.click('#rooms button[data-room="dev"]');
    await waitFor(async () => (await texts(bob)).includes('first in dev'), 'the room\'s history on bob\'s page');
    await waitFor(() => lists(bob, 'alice', 'bob'), 'alice listed in #dev on server B');
    await waitFor(() => lists(alice, 'alice', 'bob'), 'bob listed in #dev on server A');
  });

  test('server B stops (Ctrl-C): it leaves Redis cleanly, and bob leaves alice\'s user list', async () => {
    assert.equal(await serverB.stop(), 0, `rtmsg-chat did not exit cleanly: ${serverB.stderr()}`);
    await waitFor(async () => !(await lists(alice, 'bob')), 'bob gone from alice\'s user list');
    assert.match(await alice.textContent('#messages'), /bob left/);
  });
});
