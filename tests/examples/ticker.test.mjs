// examples/ticker in Debian's Chromium, over SSE (the default) and over WebSocket.
//
//   node --test tests/examples/        (tests/examples/run.sh BUILD_DIR does the setup)
//
// The shown rate is compared with the server's own publish rate (rtmsg_messages_in_total
// from /metrics over the same interval).  The SSE run takes docs/screenshots/ticker.png, the
// phone-width run (390x844) docs/screenshots/ticker-390.png.
import { after, before, describe, test } from '../support/node_test.mjs';
import assert from 'node:assert/strict';
import path from 'node:path';

import { launchBrowser, screenshots, startExample, waitFor, watchPage } from './support.mjs';

describe('ticker example', () => {
  let server;
  let browser;
  const problems = [];

  before(async () => {
    server = await startExample('examples/ticker/rtmsg-ticker', ['--rate', '200']);
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    if (server) assert.equal(await server.stop(), 0, `rtmsg-ticker did not exit cleanly: ${server.stderr()}`);
    assert.deepEqual(problems.flat(), [], 'uncaught errors in the pages');
  });

  async function published() {
    const text = await (await fetch(new URL('/metrics', server.url))).text();
    return Number(/^rtmsg_messages_in_total (\d+)$/m.exec(text)[1]);
  }

  const prices = (page) => page.$$eval('#quotes tr', (rows) => rows.map((r) => r.querySelector('.price').textContent));

  async function checkPage(transport) {
    const page = await browser.newPage();
    problems.push(watchPage(page, transport));
    const requests = [];
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(new URL(transport === 'ws' ? '/?transport=ws' : '/', server.url).href);
    await waitFor(async () => (await page.$eval('#conn', (e) => e.dataset.state)) === 'open', 'the feed to open');
    assert.equal(await page.$eval('#transport', (e) => e.value), transport);
    assert.match(await page.textContent('#conn'), transport === 'ws' ? /WebSocket/ : /SSE/);
    assert.equal((await page.$$('#quotes tr')).length, 50, 'a row per symbol');

    // The table fills and moves; up/down colouring is applied.
    await waitFor(async () => (await prices(page)).every((p) => /^\d+\.\d\d$/.test(p)), 'a price for every symbol');
    const first = await prices(page);
    await page.waitForTimeout(1000);
    const second = await prices(page);
    const moved = first.filter((p, i) => p !== second[i]).length;
    assert.ok(moved >= 10, `prices of at least 10 symbols changed within 1 s (${moved} did)`);
    assert.ok((await page.$$('#quotes td.price.up, #quotes td.price.down')).length > 0, 'up/down colouring');

    // The chart moves, and follows the selected symbol.
    const chart = () => page.$eval('#chart', (c) => c.toDataURL());
    const c1 = await chart();
    await waitFor(async () => (await chart()) !== c1, 'the chart to change');
    await page.click('#quotes tr[data-symbol="NVDA"]');
    assert.equal(await page.textContent('#chart-symbol'), 'NVDA');
    await waitFor(async () => Number(await page.$eval('#chart', (c) => c.dataset.points)) >= 2, 'NVDA\'s chart');

    // The shown rate matches what the server publishes (every page gets every update).
    const n0 = await published();
    const t0 = Date.now();
    await page.waitForTimeout(3000);
    const serverRate = ((await published()) - n0) / ((Date.now() - t0) / 1000);
    const shown = Number(/^(\d+) updates\/s$/.exec(await page.textContent('#rate'))[1]);
    assert.ok(serverRate >= 100, `the engine publishes at least 100 updates/s (${serverRate.toFixed(0)})`);
    assert.ok(shown > serverRate * 0.6 && shown < serverRate * 1.4, `shown ${shown}/s vs published ${serverRate.toFixed(0)}/s`);
    return { page, requests };
  }

  test('over SSE (EventSource): table, chart and rate move; a reconnect resumes after the last id', async () => {
    const { page, requests } = await checkPage('sse');
    await page.waitForTimeout(300);
    await page.screenshot({ path: path.join(screenshots, 'ticker.png') });

    // Reconnect: the new stream asks for the events after the last id seen.
    const lastId = Number(await page.evaluate(() => window.ticker.source.lastEventId));
    assert.ok(lastId > 0);
    const before = await page.evaluate(() => window.ticker.received);
    await page.evaluate(() => window.ticker.source.reconnect());
    const resumed = await waitFor(
      () => requests.map((u) => new URL(u)).find((u) => u.pathname === '/sse' && Number(u.searchParams.get('lastEventId')) >= lastId),
      'a request resuming after the last id');
    assert.ok(resumed);
    await waitFor(async () => (await page.$eval('#conn', (e) => e.dataset.state)) === 'open', 'open again');
    await waitFor(async () => (await page.evaluate(() => window.ticker.received)) > before + 100, 'updates after the reconnect');
    await page.close();
  });

  test('at phone width (390x844): nothing overflows, the header and chart are in view, prices readable', async () => {
    const page = await browser.newPage();
    problems.push(watchPage(page, 'phone'));
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(server.url);
    await waitFor(async () => (await page.$eval('#conn', (e) => e.dataset.state)) === 'open', 'the feed to open');
    await waitFor(async () => (await prices(page)).every((p) => /^\d+\.\d\d$/.test(p)), 'a price for every symbol');
    await waitFor(async () => Number(await page.$eval('#chart', (c) => c.dataset.points)) >= 8, 'a chart line');

    const layout = () => page.evaluate(() => {
      const box = (el) => {
        const r = el.getBoundingClientRect();
        return { left: r.left, top: r.top, right: r.right, bottom: r.bottom, width: r.width, height: r.height };
      };
      const rows = [...document.querySelectorAll('#quotes tr')].map((tr) => {
        const cell = tr.querySelector('.price');
        const b = box(cell);
        const hit = document.elementFromPoint((b.left + b.right) / 2, (b.top + b.bottom) / 2);
        return { row: box(tr), price: b, text: cell.textContent, shown: hit === cell || cell.contains(hit) };
      });
      return {
        scrollWidth: document.documentElement.scrollWidth,
        bodyScrollWidth: document.body.scrollWidth,
        viewport: { width: innerWidth, height: innerHeight },
        header: box(document.querySelector('header')),
        headerParts: ['header h1', '#transport', '#rate', '#conn'].map((s) => ({ s, ...box(document.querySelector(s)) })),
        title: box(document.querySelector('#detail h2')),
        chart: box(document.querySelector('#chart')),
        board: box(document.querySelector('#board')),
        rows,
      };
    });
    const inside = (b, v, what) =>
      assert.ok(b.left >= 0 && b.top >= 0 && b.right <= v.width + 0.5 && b.bottom <= v.height + 0.5,
        `${what} inside the ${v.width}x${v.height} viewport: ${JSON.stringify(b)}`);

    const phone = await layout();
    assert.deepEqual(phone.viewport, { width: 390, height: 844 });
    assert.ok(phone.scrollWidth <= 390, `no horizontal overflow (document scrollWidth ${phone.scrollWidth})`);
    assert.ok(phone.bodyScrollWidth <= 390, `no horizontal overflow (body scrollWidth ${phone.bodyScrollWidth})`);
    inside(phone.header, phone.viewport, 'the header');
    for (const part of phone.headerParts) {
      inside(part, phone.header, part.s);
      assert.ok(part.width > 0 && part.height > 0, `${part.s} shown`);
    }
    for (const [i, a] of phone.headerParts.entries())
      for (const b of phone.headerParts.slice(i + 1))
        assert.ok(a.right <= b.left || b.right <= a.left || a.bottom <= b.top || b.bottom <= a.top, `${a.s} and ${b.s} do not overlap`);
    inside(phone.title, phone.viewport, 'the chart\'s title');
    inside(phone.chart, phone.viewport, 'the chart');
    assert.ok(phone.chart.width >= 340 && phone.chart.height >= 180, `the chart is large enough: ${JSON.stringify(phone.chart)}`);
    const visible = phone.rows.filter((r) => r.row.top >= phone.chart.bottom && r.row.bottom <= 844);
    assert.ok(visible.length >= 10, `at least 10 rows of prices on the first screen (${visible.length})`);
    for (const r of visible) {
      inside(r.row, phone.viewport, `the ${r.text} row`);
      assert.match(r.text, /^\d+\.\d\d$/);
      assert.ok(r.shown, `the price ${r.text} is not covered`);
    }
    for (const r of phone.rows) assert.ok(r.row.left >= 0 && r.row.right <= 390, 'every row within the width');
    await page.waitForTimeout(300);
    await page.screenshot({ path: path.join(screenshots, 'ticker-390.png') });

    // The same page on a desktop window: table and chart side by side, still no overflow, and
    // the chart follows the new size.
    await page.setViewportSize({ width: 1280, height: 800 });
    await waitFor(async () => (await layout()).chart.left >= (await layout()).board.right, 'the desktop layout');
    const desk = await layout();
    assert.ok(desk.scrollWidth <= 1280, `no horizontal overflow at 1280 (${desk.scrollWidth})`);
    inside(desk.chart, desk.viewport, 'the chart at 1280x800');
    assert.ok(desk.chart.top < desk.board.bottom && desk.chart.width >= 600, `the chart beside the table: ${JSON.stringify(desk.chart)}`);
    await waitFor(async () => (await page.$eval('#chart', (c) => c.width)) >= 600, 'the chart redrawn at its new size');
    await page.close();
  });

  test('over WebSocket (rtmsg.js): table, chart and rate move', async () => {
    const { page } = await checkPage('ws');
    await page.close();
  });
});
