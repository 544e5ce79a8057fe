// examples/board in Debian's Chromium: pages that edit one board at once converge to the same
// board, a reload rebuilds it from the history, a CPU-throttled page still converges and shows
// the newest cursors, and the page works at phone width.
//
//   node --test tests/examples/        (tests/examples/run.sh BUILD_DIR does the setup)
//
// Writes docs/screenshots/board.png (1280x800) and board-390.png (390x844).
import { after, before, describe, test } from '../support/node_test.mjs';
import assert from 'node:assert/strict';
import path from 'node:path';

import WebSocket from 'ws';

import { Client } from '../../js/rtmsg.js';
import { launchBrowser, screenshots, startExample, waitFor, watchPage } from './support.mjs';

describe('board example', () => {
  let server;
  let browser;
  const problems = [];

  before(async () => {
    server = await startExample('examples/board/rtmsg-board');
    browser = await launchBrowser({ viewport: { width: 1280, height: 800 } });
  });

  after(async () => {
    await browser?.close();
    if (server) assert.equal(await server.stop(), 0, `rtmsg-board did not exit cleanly: ${server.stderr()}`);
    assert.deepEqual(problems.flat(), [], 'uncaught errors in the pages');
  });

  /** A page of `name` on board `board`, joined, with the board's history applied. */
  async function open(name, board, srv = server) {
    const page = await browser.newPage();
    problems.push(watchPage(page, name));
    await page.goto(new URL(`/?name=${name}&board=${board}`, srv.url).href);
    await joined(page);
    return page;
  }
  async function joined(page) {
    await waitFor(() => page.evaluate(() => window.boardPage?.client.state === 'open'), 'the page to connect');
    await page.evaluate(() => window.boardPage.ready);
  }

  const state = (page) => page.evaluate(() => window.boardPage.state());
  /** What the page shows: each note's position and text, from the DOM. */
  const shown = (page) => page.$$eval('#board .note', (els) => els.map((el) => ({
    id: el.dataset.id, x: parseFloat(el.style.left), y: parseFloat(el.style.top), text: el.querySelector('.text').textContent,
  })).sort((a, b) => (a.id < b.id ? -1 : 1)));

  /** Waits until every page has applied the same edits to the same board and shows it; returns it. */
  async function converged(pages, what, ms = 20000) {
    let last = [];
    try {
      return await waitFor(async () => {
        last = await Promise.all(pages.map(async (p) => ({
          applied: await p.evaluate(() => window.boardPage.applied()), state: await state(p), shown: await shown(p),
        })));
        const [first] = last;
        const same = last.every((s) => s.applied === first.applied && JSON.stringify(s.state) === JSON.stringify(first.state));
        const drawn = last.every((s) => JSON.stringify(s.shown) ===
          JSON.stringify(s.state.map(({ id, x, y, text }) => ({ id, x, y, text }))));
        return same && drawn && first.state;
      }, what, ms);
    }
    catch (e) {
      e.message += `\n${JSON.stringify(last.map((s) => ({ applied: s.applied, notes: s.state.length })))}`;
      throw e;
    }
  }

  /** Run in a page: `adds` notes, then `changes` moves, edits and deletes, all in flight at once. */
  function burst([seed, adds, changes]) {
    let s = seed;
    const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const b = window.boardPage;
    return (async () => {
      await Promise.all(Array.from({ length: adds }, (_, i) => b.add(`${b.me} #${i}`, rnd() * 1000, rnd() * 650)));
      const ids = b.state().map((n) => n.id);
      await Promise.all(Array.from({ length: changes }, (_, i) => {
        const id = ids[Math.floor(rnd() * ids.length)];
        const op = i % 10 === 9 ? b.remove(id) : i % 3 === 0 ? b.edit(id, `${b.me} edit ${i}`) : b.move(id, rnd() * 1000, rnd() * 650);
        return op.catch(() => {});
      }));
    })();
  }

  /** Carol's and dave's pages on board "demo", with six notes (once: the screenshots share it). */
  let seeded = false;
  async function seedDemo() {
    const carol = await open('carol', 'demo');
    const dave = await open('dave', 'demo');
    if (!seeded) {
      seeded = true;
      // Two columns fit a phone's width (board-390.png shows this board too).
      const texts = [['Launch checklist', 24, 24], ['Write the release notes', 208, 60], ['Ask design about the icons', 40, 190],
        ['Fix the flaky test', 200, 250], ['Demo on Thursday 10:00', 520, 110], ['Retro: what went well?', 760, 300]];
      for (const [i, [t, x, y]] of texts.entries())
        await (i % 2 ? dave : carol).evaluate(([t, x, y]) => window.boardPage.add(t, x, y), [t, x, y]);
    }
    await converged([carol, dave], 'the demo board');
    return [carol, dave];
  }

  test('two pages edit at once and converge; cursors, presence and senders are attested', async () => {
    const alice = await open('alice', 'two');
    const bob = await open('bob', 'two');
    await waitFor(async () => (await alice.evaluate(() => window.boardPage.people())).includes('bob'), 'alice to see bob present');
    // Bob learns of alice from his presence query, answered after his join reached alice: wait for it too.
    await waitFor(async () => (await bob.evaluate(() => window.boardPage.people())).includes('alice'), 'bob to see alice present');
    assert.deepEqual(await bob.evaluate(() => window.boardPage.people()), ['alice', 'bob']);
    assert.match(await alice.textContent('#people'), /alice \(you\).*bob|bob.*alice \(you\)/);

    // Through the UI: alice adds a note with the button, bob with a double-click on the board.
    await alice.click('#add');
    const board = await bob.$('#board');
    const bb = await board.boundingBox();
    await bob.mouse.dblclick(bb.x + 700, bb.y + 400);
    // Converged on one note is not enough: bob's double-click publishes a moment after it returns.
    let notes = [];
    await waitFor(async () => (notes = await converged([alice, bob], 'both notes on both pages')).length === 2,
      'both notes on both pages');
    assert.equal(notes.length, 2);
    assert.deepEqual(notes.map((n) => n.by).sort(), ['alice', 'bob'], 'each note is by its (attested) author');

    // Bob edits alice's note: double-click its text, type, Enter.
    const aliceNote = notes.find((n) => n.by === 'alice').id;
    await bob.dblclick(`.note[data-id="${aliceNote}"] .text`);
    await bob.fill(`.note[data-id="${aliceNote}"] textarea`, 'Ship it on Friday');
    await bob.press(`.note[data-id="${aliceNote}"] textarea`, 'Enter');
    await waitFor(async () => (await alice.textContent(`.note[data-id="${aliceNote}"] .text`)) === 'Ship it on Friday', 'the edit on alice\'s page');

    // Alice drags bob's note with the mouse; bob sees the dragged note move before the drop.
    const bobNote = notes.find((n) => n.by === 'bob').id;
    const nb = await (await alice.$(`.note[data-id="${bobNote}"]`)).boundingBox();
    await alice.mouse.move(nb.x + 80, nb.y + 60);
    await alice.mouse.down();
    for (let i = 1; i <= 10; i++) {
      await alice.mouse.move(nb.x + 80 - 30 * i, nb.y + 60 - 15 * i);
      await alice.waitForTimeout(40);
    }
    await waitFor(() => bob.$eval(`.note[data-id="${bobNote}"]`, (el) => el.classList.contains('remote')), 'bob to see the drag live');
    await alice.mouse.up();
    notes = await converged([alice, bob], 'the move on both pages');
    const moved = notes.find((n) => n.id === bobNote);
    assert.ok(Math.abs(moved.x - (nb.x - bb.x - 1 - 300)) <= 2 && Math.abs(moved.y - (nb.y - bb.y - 1 - 150)) <= 2,
      `the note moved by the drag: ${JSON.stringify(moved)}, was at ${nb.x - bb.x},${nb.y - bb.y}`);
    // The drag ends on bob's page with alice's next cursor, which her page sends up to CURSOR_MS
    // after the drop (cursors are throttled): it may come after the move converged.
    await waitFor(async () => !(await bob.$eval(`.note[data-id="${bobNote}"]`, (el) => el.classList.contains('remote'))),
      'the drag to end on bob\'s page');

    // Alice's cursor on bob's page: her name, her colour, where her mouse is.
    const ab = await (await alice.$('#board')).boundingBox();
    await alice.mouse.move(ab.x + 501, ab.y + 301);
    await waitFor(async () => {
      const c = (await bob.evaluate(() => window.boardPage.cursors())).alice;
      return c && c.x === 500 && c.y === 300;
    }, 'alice\'s cursor at 500,300 on bob\'s page');
    assert.equal(await bob.textContent('.cursor[data-who="alice"] span'), 'alice');
    const colours = await bob.evaluate(() => [...document.querySelectorAll('#people li')].map((li) => li.style.getPropertyValue('--c')));
    assert.equal(new Set(colours).size, 2, `two people, two colours: ${colours}`);

    // Concurrent moves of one note: both land; on both pages the one with the higher offset wins.
    const [oa, ob] = await Promise.all([
      alice.evaluate((id) => window.boardPage.move(id, 100, 120), aliceNote),
      bob.evaluate((id) => window.boardPage.move(id, 640, 420), aliceNote),
    ]);
    notes = await converged([alice, bob], 'the concurrent moves');
    const winner = notes.find((n) => n.id === aliceNote);
    assert.deepEqual([winner.x, winner.y], oa > ob ? [100, 120] : [640, 420], `offsets ${oa} (alice) and ${ob} (bob)`);

    // Both pages at once: 15 adds and 40 moves, edits and deletes each.
    await Promise.all([alice.evaluate(burst, [1, 15, 40]), bob.evaluate(burst, [2, 15, 40])]);
    notes = await converged([alice, bob], 'the bursts');
    assert.ok(notes.length >= 20, `most of the 32 notes remain (${notes.length})`);

    // Senders are attested: bob cannot move alice's cursor, nor claim her notes.
    const refused = await bob.evaluate(() => window.boardPage.client.publish('board.two.cursor.alice', { x: 1, y: 1 })
      .then(() => 'published', (e) => e.code));
    assert.equal(refused, 403);
    await bob.evaluate(() => window.boardPage.client.publish('board.two.ops', { t: 'add', id: 'alice-forged', x: 5, y: 5, text: 'from alice?', by: 'alice' }));
    notes = await converged([alice, bob], 'the forged note');
    assert.equal(notes.find((n) => n.id === 'alice-forged').by, 'bob', 'the author is the attested sender');

    // Alice deletes (with its × button) the note bob is editing; bob's next edit still works.
    await bob.dblclick('.note[data-id="alice-forged"] .text');
    await bob.waitForSelector('.note[data-id="alice-forged"] textarea');
    await alice.click('.note[data-id="alice-forged"] .del');
    await waitFor(async () => !(await bob.$('.note[data-id="alice-forged"]')), 'the note gone from bob\'s page');
    const other = (await state(bob)).reduce((a, b) => (a.z > b.z ? a : b)).id; // the topmost note
    await bob.dblclick(`.note[data-id="${other}"] .text`);
    await bob.fill(`.note[data-id="${other}"] textarea`, 'Edited after a delete');
    await bob.press(`.note[data-id="${other}"] textarea`, 'Enter');
    notes = await converged([alice, bob], 'the delete and the edit');
    assert.equal(notes.find((n) => n.id === 'alice-forged'), undefined);
    assert.equal(notes.find((n) => n.id === other)?.text, 'Edited after a delete');

    // The screenshot: a few readable notes, two cursors.
    const [shot, dave] = await seedDemo();
    const db = await (await dave.$('#board')).boundingBox();
    await dave.mouse.move(db.x + 640, db.y + 330);
    const sb = await (await shot.$('#board')).boundingBox();
    await shot.mouse.move(sb.x + 420, sb.y + 470);
    await waitFor(async () => (await shot.evaluate(() => window.boardPage.cursors())).dave, 'dave\'s cursor on carol\'s page');
    await shot.waitForTimeout(300);
    await shot.screenshot({ path: path.join(screenshots, 'board.png') });
    for (const p of [alice, bob, shot, dave]) await p.close();
  });

  test('three pages edit at once and converge, one of them reloading mid-session', async () => {
    const pages = [await open('alice', 'three'), await open('bob', 'three'), await open('carol', 'three')];
    await Promise.all(pages.map((p, i) => p.evaluate(burst, [10 + i, 10, 30])));
    const before = await converged(pages, 'three pages after the first bursts');

    // Carol reloads while alice and bob keep editing: her page rebuilds the board from the
    // history and then follows the live edits.
    const [alice, bob, carol] = pages;
    await Promise.all([
      alice.evaluate(burst, [20, 10, 30]),
      bob.evaluate(burst, [21, 10, 30]),
      carol.reload().then(() => joined(carol)),
    ]);
    const afterReload = await converged(pages, 'three pages after the reload');
    assert.notDeepEqual(afterReload, before, 'the edits during the reload changed the board');
    assert.equal(await carol.evaluate(() => window.boardPage.applied()), await alice.evaluate(() => window.boardPage.applied()));

    // A newcomer gets the same board from the history alone.
    const dave = await open('dave', 'three');
    assert.deepEqual(await converged([alice, dave], 'the newcomer'), afterReload);
    for (const p of [...pages, dave]) await p.close();
  });

  test('a CPU-throttled page converges and shows the newest cursors', async () => {
    const fast = await open('alice', 'slow');
    const slow = await open('bob', 'slow');
    const cdp = await slow.context().newCDPSession(slow);
    await cdp.send('Emulation.setCPUThrottlingRate', { rate: 20 });
    try {
      // Alice moves her mouse at ~30 updates/s for 3 s while editing.
      const fb = await (await fast.$('#board')).boundingBox();
      const editing = fast.evaluate(burst, [30, 20, 60]);
      const t0 = Date.now();
      for (let i = 0; Date.now() - t0 < 3000; i++) {
        await fast.mouse.move(fb.x + 100 + (i * 7) % 900, fb.y + 100 + (i * 3) % 500);
        await fast.waitForTimeout(33);
      }
      await fast.mouse.move(fb.x + 778, fb.y + 334);
      await editing;
      // Both see the same board, and the throttled page shows alice's last position.
      await converged([fast, slow], 'the throttled page', 30000);
      await waitFor(async () => {
        const c = (await slow.evaluate(() => window.boardPage.cursors())).alice;
        return c && c.x === 777 && c.y === 333;
      }, 'alice\'s newest cursor on the throttled page', 15000);
    }
    finally {
      await cdp.send('Emulation.setCPUThrottlingRate', { rate: 1 });
    }
    // Her cursor goes when she leaves the board.
    await fast.mouse.move(2, 2);
    await waitFor(async () => !(await slow.evaluate(() => window.boardPage.cursors())).alice, 'alice\'s cursor to go');
    await fast.close();
    await slow.close();
  });

  test('a client whose socket is not read gets each user\'s newest cursor, not a backlog (keep-latest)', async () => {
    // A browser reads its sockets even when its page is slow, so the slow reader is rtmsg.js
    // under Node with its TCP socket paused: the server's writes back up, and its queue for
    // this client coalesces each user's cursor topic to the newest position.
    const connect = (name) => new Promise((resolve, reject) => {
      const c = new Client(`${server.url.replace('http', 'ws')}ws?name=${name}`, { WebSocket, reconnect: false });
      c.addEventListener('state', (e) => (e.state === 'open' ? resolve(c) : e.state === 'closed' && reject(new Error(`${name} closed`))));
    });
    const dropped = async () => Number(/^rtmsg_dropped_total (\d+)$/m.exec(await (await fetch(new URL('/metrics', server.url))).text())[1]);
    const slow = await connect('slowpoke');
    // 20 users, each moving ~50 times a second (under the limit of 60), 1.2 KB a position (a
    // padded cursor): 1.2 MB a second, in rounds of one second until the server has coalesced
    // at least 200 positions (the loopback's socket buffers take a few MB first).
    const names = Array.from({ length: 20 }, (_, i) => `user${i}`);
    const writers = await Promise.all(names.map(connect));
    const seqs = Object.fromEntries(names.map((n) => [n, []])); // what the slow client got, per user
    const last = {};
    let received = 0;
    await slow.subscribe('board.keep.cursor.*', (data, meta) => {
      received++;
      last[meta.from.id] = data.seq;
      seqs[meta.from.id].push(data.seq);
    }).ready;
    const dropped0 = await dropped();
    slow.ws._socket.pause();
    const pad = 'x'.repeat(1200);
    let seq = 0;
    while (seq < 1000 && (await dropped()) - dropped0 < 200) {
      for (let i = 0; i < 50; i++) {
        seq++;
        for (const [w, c] of writers.entries()) c.publish(`board.keep.cursor.${names[w]}`, { x: seq, y: seq, seq, pad }, { ack: false });
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    const sent = names.length * (seq + 1);
    // The newest positions, acknowledged: every earlier one reached the hub before them.
    await Promise.all(writers.map((c, w) => c.publish(`board.keep.cursor.${names[w]}`, { x: 777, y: 333, seq: seq + 1 })));
    const coalesced = (await dropped()) - dropped0;
    assert.ok(coalesced >= 200, `the server coalesced cursors for the paused client (${coalesced} after ${sent} positions)`);
    slow.ws._socket.resume();
    await waitFor(() => names.every((w) => last[w] === seq + 1), 'each user\'s newest position', 20000);
    assert.ok(received <= sent - coalesced, `${received} of ${sent} positions delivered, ${coalesced} coalesced`);
    // No backlog: what the socket buffers held, then straight to the newest position.  (A queue
    // that drops the oldest would end with a run of ~200 positions per user: its last 4096.)
    for (const n of names) {
      const got = seqs[n];
      let run = 1;
      while (run < got.length && got[got.length - run - 1] === got[got.length - run] - 1) run++;
      assert.ok(run <= 3, `${n}: the last ${run} positions came one by one (${got.slice(-5)})`);
    }
    assert.equal(slow.state, 'open', 'the slow client was not disconnected');
    for (const c of [slow, ...writers]) c.close();
  });

  test('a board keeps a bounded history: past --max-ops edits are refused, every page agrees', async () => {
    const small = await startExample('examples/board/rtmsg-board', ['--max-ops', '5']);
    try {
      const alice = await open('alice', 'full', small);
      for (let i = 0; i < 5; i++) await alice.evaluate((i) => window.boardPage.add(`note ${i}`, 40 * i, 40 * i), i);
      const refused = await alice.evaluate(() => window.boardPage.add('one too many', 300, 300).then(() => 'added', (e) => e.code));
      assert.equal(refused, 403);
      assert.match(await alice.textContent('#notice'), /board is full \(5 edits\)/);
      const bob = await open('bob', 'full', small);
      const notes = await converged([alice, bob], 'the full board');
      assert.deepEqual(notes.map((n) => n.text).sort(), ['note 0', 'note 1', 'note 2', 'note 3', 'note 4']);
      await alice.close();
      await bob.close();
    }
    finally {
      assert.equal(await small.stop(), 0);
    }
  });

  test('a server restart: the pages are told, start over with an empty board and converge again', async () => {
    let srv = await startExample('examples/board/rtmsg-board');
    const port = new URL(srv.url).port;
    try {
      const alice = await open('alice', 'restart', srv);
      const bob = await open('bob', 'restart', srv);
      await alice.evaluate(() => window.boardPage.add('before the restart', 100, 100));
      assert.equal((await converged([alice, bob], 'the first note')).length, 1);
      assert.equal(await srv.stop(), 0);
      srv = await startExample('examples/board/rtmsg-board', ['--port', port]);
      await Promise.all([alice, bob].map(joined));
      await waitFor(async () => /server restarted/.test(await alice.textContent('#notice')), 'the restart notice');
      await bob.evaluate(() => window.boardPage.add('after the restart', 300, 200));
      const notes = await converged([alice, bob], 'the board after the restart');
      assert.deepEqual(notes.map((n) => n.text), ['after the restart']);
      await alice.close();
      await bob.close();
    }
    finally {
      assert.equal(await srv.stop(), 0);
    }
  });

  test('at phone width (390x844): header in view, no page overflow, notes readable, the board scrolls', async () => {
    const page = await browser.newPage();
    problems.push(watchPage(page, 'phone'));
    for (const p of await seedDemo()) await p.close();
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(new URL('/?board=demo', server.url).href);
    // No name yet: the join form.
    await page.fill('#name', 'erin');
    await page.click('#join button');
    await joined(page);
    await converged([page], 'the demo board on the phone');
    await page.click('#add');
    await waitFor(async () => (await state(page)).some((n) => n.by === 'erin'), 'erin\'s note');

    const layout = await page.evaluate(() => {
      const box = (el) => {
        const r = el.getBoundingClientRect();
        return { left: r.left, top: r.top, right: r.right, bottom: r.bottom, width: r.width, height: r.height };
      };
      const v = document.querySelector('#viewport');
      const notes = [...document.querySelectorAll('.note')].map((el) => {
        const b = box(el.querySelector('.text'));
        const hit = document.elementFromPoint(b.left + 10, b.top + 8);
        return { b, inView: b.left >= 0 && b.right <= innerWidth && b.top >= 0 && b.bottom <= innerHeight,
          shown: hit && (hit === el || el.contains(hit)), font: parseFloat(getComputedStyle(el).fontSize) };
      });
      return {
        scrollWidth: document.documentElement.scrollWidth,
        header: box(document.querySelector('header')),
        parts: ['header h1', '#add', '#people', '#conn'].map((s) => ({ s, ...box(document.querySelector(s)) })),
        scrolls: v.scrollWidth > v.clientWidth && getComputedStyle(v).overflowX === 'auto',
        notes,
      };
    });
    assert.ok(layout.scrollWidth <= 390, `no horizontal page overflow (${layout.scrollWidth})`);
    for (const p of layout.parts) {
      assert.ok(p.left >= 0 && p.right <= 390 && p.top >= 0 && p.width > 0, `${p.s} in view: ${JSON.stringify(p)}`);
      assert.ok(p.bottom <= layout.header.bottom + 0.5, `${p.s} inside the header`);
    }
    for (const [i, a] of layout.parts.entries())
      for (const b of layout.parts.slice(i + 1))
        assert.ok(a.right <= b.left || b.right <= a.left || a.bottom <= b.top || b.bottom <= a.top, `${a.s} and ${b.s} do not overlap`);
    assert.ok(layout.scrolls, 'the board scrolls inside its viewport');
    const visible = layout.notes.filter((n) => n.inView);
    assert.ok(visible.length >= 2, `at least two notes on the first screen (${visible.length})`);
    for (const n of visible) {
      assert.ok(n.shown, `a note's text is not covered: ${JSON.stringify(n.b)}`);
      assert.ok(n.font >= 13, `readable text (${n.font}px)`);
    }
    await page.waitForTimeout(300);
    await page.screenshot({ path: path.join(screenshots, 'board-390.png') });
    await page.close();
  });
});
