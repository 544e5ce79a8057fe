// examples/ticker in Debian's Chromium, over SSE (the default) and over WebSocket.
//
//   node --test tests/examples/        (tests/examples/run.sh BUILD_DIR does the setup)
//
// The shown rate is compared with the server's own publish rate (rtmsg_messages_in_total
// from /metrics over the same interval).  The SSE run takes docs/screenshots/ticker.png.
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

  test('over WebSocket (rtmsg.js): table, chart and rate move', async () => {
    const { page } = await checkPage('ws');
    await page.close();
  });
});
