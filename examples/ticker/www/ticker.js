// The rtmsg ticker page: one wildcard subscription, prices.*, over SSE (EventSource, the
// default) or WebSocket (rtmsg.js Client, ?transport=ws).  Each update is
// {s: symbol, p: price, o: opening price, t: ms since the epoch} on topic prices.<symbol>.
import { Client, EventSourceClient } from '/js/rtmsg.js';

const $ = (sel) => document.querySelector(sel);
const params = new URLSearchParams(location.search);
const transport = params.get('transport') === 'ws' ? 'ws' : 'sse';
const POINTS = 300; // chart length per symbol

const quotes = new Map(); // symbol -> row state
let selected = '';
let received = 0; // updates applied, for the rate
let chartDirty = true;
const stats = { transport, received: 0, rate: 0, connections: 0 };
window.ticker = stats; // for the browser tests and the curious

// ------------------------------------------------------------------ table

const symbols = await fetch('/symbols.json').then((r) => r.json());
for (const s of symbols) {
  const row = document.createElement('tr');
  row.dataset.symbol = s;
  const cells = ['sym', 'price', 'chg', 'pct'].map((c) => {
    const td = document.createElement('td');
    td.className = c;
    td.textContent = c === 'sym' ? s : '–';
    row.append(td);
    return td;
  });
  row.onclick = () => select(s);
  $('#quotes').append(row);
  quotes.set(s, { row, cells, price: NaN, open: NaN, dir: 0, offset: 0, epoch: '', points: [], dirty: false, flash: 0 });
}
select(params.get('symbol') ?? symbols[0]);

function select(symbol) {
  if (!quotes.has(symbol)) return;
  quotes.get(selected)?.row.classList.remove('selected');
  selected = symbol;
  quotes.get(symbol).row.classList.add('selected');
  $('#chart-symbol').textContent = symbol;
  chartDirty = true;
}

/** One price update; older ones (by offset within an epoch) are ignored. */
function apply(topic, offset, epoch, d) {
  const q = quotes.get(topic.slice('prices.'.length));
  if (!q || typeof d?.p !== 'number') return;
  if (q.epoch === epoch && offset <= q.offset) return;
  q.epoch = epoch;
  q.offset = offset;
  if (d.p !== q.price) q.dir = isNaN(q.price) ? 0 : d.p > q.price ? 1 : -1;
  q.price = d.p;
  q.open = d.o;
  q.points.push(d.p);
  if (q.points.length > POINTS) q.points.shift();
  q.dirty = true;
  q.flash = performance.now() + 400;
  received++;
  if (q.row.dataset.symbol === selected) chartDirty = true;
}

// ------------------------------------------------------------------ transports

const stateText = { connecting: 'connecting…', open: 'live', reconnecting: 'reconnecting…', closed: 'disconnected' };
function showState(state) {
  $('#conn').dataset.state = state;
  $('#conn').textContent = `${stateText[state] ?? state} · ${transport === 'ws' ? 'WebSocket' : 'SSE'}`;
  if (state === 'open') stats.connections++;
}

$('#transport').value = transport;
$('#transport').onchange = (e) => {
  params.set('transport', e.target.value);
  location.search = params.toString();
};

if (transport === 'sse') {
  // lastEventId '0': start with every retained price (the latest of each symbol); after a
  // drop, the EventSource (or the helper) resumes after the last event id it saw.
  stats.source = new EventSourceClient('/sse', {
    lastEventId: '0',
    onstate: showState,
    onmessage: (data) => {
      const m = JSON.parse(data);
      apply(m.topic, m.offset, m.epoch, m.data);
    },
  });
  showState(stats.source.state);
} else {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const client = new Client(`${scheme}//${location.host}/ws`);
  stats.source = client;
  client.addEventListener('state', (e) => showState(e.state));
  showState(client.state);
  client.subscribe('prices.*', (d, meta) => apply(meta.topic, meta.offset, meta.epoch, d));
}

// ------------------------------------------------------------------ rendering

let lastCount = 0;
let lastTime = performance.now();
setInterval(() => {
  const now = performance.now();
  stats.rate = Math.round(((received - lastCount) * 1000) / (now - lastTime));
  stats.received = received;
  lastCount = received;
  lastTime = now;
  $('#rate').textContent = `${stats.rate} updates/s`;
}, 1000);

function render() {
  const now = performance.now();
  for (const q of quotes.values()) {
    if (!q.dirty && !(q.flash && q.flash < now)) continue;
    const [, price, chg, pct] = q.cells;
    if (q.dirty) {
      const change = q.price - q.open;
      price.textContent = q.price.toFixed(2);
      chg.textContent = (change >= 0 ? '+' : '') + change.toFixed(2);
      pct.textContent = (change >= 0 ? '+' : '') + ((100 * change) / q.open).toFixed(2) + '%';
      price.className = 'price ' + (q.dir > 0 ? 'up flash-up' : q.dir < 0 ? 'down flash-down' : '');
      chg.className = pct.className = change >= 0 ? 'up' : 'down';
      q.dirty = false;
    } else {
      price.classList.remove('flash-up', 'flash-down'); // the flash is over
      q.flash = 0;
    }
  }
  if (chartDirty) drawChart();
  requestAnimationFrame(render);
}
requestAnimationFrame(render);

addEventListener('resize', () => (chartDirty = true));

function drawChart() {
  chartDirty = false;
  const q = quotes.get(selected);
  const canvas = $('#chart');
  const g = canvas.getContext('2d');
  // Draw in CSS pixels on a backing store of the canvas's shown size: sharp, and the labels
  // keep their size whether the chart is 350 or 760 pixels wide.
  const w = canvas.clientWidth || canvas.width;
  const h = canvas.clientHeight || canvas.height;
  const dpr = devicePixelRatio || 1;
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
  }
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  const pts = q.points;
  $('#chart-price').textContent = isNaN(q.price) ? '' : q.price.toFixed(2);
  $('#chart-price').className = q.price >= q.open ? 'up' : 'down';
  canvas.dataset.points = pts.length;
  if (pts.length < 2) return;
  const min = Math.min(...pts);
  const max = Math.max(...pts);
  const pad = (max - min) * 0.1 || 1;
  const lo = min - pad;
  const hi = max + pad;
  const x = (i) => 50 + ((w - 60) * i) / (POINTS - 1);
  const y = (p) => 10 + (h - 20) * (1 - (p - lo) / (hi - lo));
  // Grid and labels.
  g.strokeStyle = '#263047';
  g.fillStyle = '#8a93a8';
  g.font = '11px system-ui, sans-serif';
  g.lineWidth = 1;
  for (let k = 0; k <= 4; k++) {
    const p = lo + ((hi - lo) * k) / 4;
    g.beginPath();
    g.moveTo(50, y(p));
    g.lineTo(w - 10, y(p));
    g.stroke();
    g.fillText(p.toFixed(2), 4, y(p) + 4);
  }
  // The line, green when above the first point shown, red below.
  const rising = pts[pts.length - 1] >= pts[0];
  g.strokeStyle = rising ? '#22c55e' : '#ef4444';
  g.lineWidth = 2;
  g.beginPath();
  pts.forEach((p, i) => (i ? g.lineTo(x(i), y(p)) : g.moveTo(x(i), y(p))));
  g.stroke();
  g.lineTo(x(pts.length - 1), h - 10);
  g.lineTo(x(0), h - 10);
  g.closePath();
  g.fillStyle = rising ? '#22c55e22' : '#ef444422';
  g.fill();
}
