// The rtmsg board page.  Everything goes through rtmsg.js's Client:
//   board.<b>.ops            the edits, subscribed with the whole history and presence
//   board.<b>.cursor.<name>  this user's cursor, published ~30 times a second at most
//   board.<b>.cursor.*       everyone's cursors (keep-latest on the server: the newest only)
//
// The board is a fold of the edits in offset order: every page applies the same edits in the
// same order, so every page shows the same board, a newcomer or a reload replays the history,
// and of two concurrent moves of a note the later offset wins everywhere.  A page's own edit
// is shown at once (optimistically) and takes effect, like everyone's, when it comes back in
// order.  Who made an edit or moves a cursor is never in the message: it is meta.from.id,
// which the server attests (the name this connection joined with).
// Rendering uses textContent only, so what people write is never parsed as HTML.
import { Client } from '/js/rtmsg.js';

const $ = (sel) => document.querySelector(sel);
const params = new URLSearchParams(location.search);
const store = window.sessionStorage; // per tab: a reload keeps the name
const config = await fetch('/config.json').then((r) => r.json()).catch(() => ({ maxText: 280, maxOps: 10000 }));
const NAME = /^[A-Za-z0-9_-]{1,24}$/;
const BOARD_W = 1200;
const BOARD_H = 800;
const NOTE_W = 170;
const NOTE_H = 110;
const CURSOR_MS = 33; // at most ~30 cursor updates per second

const boardId = /^[a-z0-9-]{1,32}$/.test(params.get('board') ?? '') ? params.get('board') : 'main';
const opsTopic = `board.${boardId}.ops`;
let me = '';
let client = null;

// ------------------------------------------------------------------ the board's state

const notes = new Map(); // id -> {id, x, y, text, by, z}: the fold of the edits
let applied = 0; // offset of the last edit applied
let edits = 0; // edits applied (the history bound is config.maxOps)
const pending = new Map(); // note id -> {x, y, n}: this page's move, until it comes back
const drags = new Map(); // note id -> {who, x, y}: another user's drag in progress (from cursors)

const clampX = (x) => Math.min(BOARD_W - NOTE_W, Math.max(0, Math.round(Number(x) || 0)));
const clampY = (y) => Math.min(BOARD_H - NOTE_H, Math.max(0, Math.round(Number(y) || 0)));
const cleanText = (t) => String(t ?? '').slice(0, config.maxText);

/** Applies one edit, in offset order: the same edits give the same board on every page. */
function apply(op, meta) {
  if (meta.offset <= applied) return; // delivered once already (defensive)
  applied = meta.offset;
  edits++;
  const who = meta.from?.id ?? '';
  const id = typeof op?.id === 'string' ? op.id : '';
  const n = notes.get(id);
  switch (op?.t) {
    case 'add':
      if (!id || n) break; // the first add of an id wins
      notes.set(id, { id, x: clampX(op.x), y: clampY(op.y), text: cleanText(op.text), by: who, z: meta.offset });
      break;
    case 'move': // last writer (by offset) wins; a moved note comes to the front
      if (!n) break;
      n.x = clampX(op.x);
      n.y = clampY(op.y);
      n.z = meta.offset;
      break;
    case 'edit':
      if (n) n.text = cleanText(op.text);
      break;
    case 'del':
      notes.delete(id);
      break;
  }
  if (who === me && typeof op?.n === 'string' && pending.get(id)?.n === op.n) pending.delete(id);
  scheduleRender(); // once per frame: a newcomer may replay thousands of edits at once
}

// ------------------------------------------------------------------ edits

let seq = 0;
const nonce = () => `${Date.now().toString(36)}${(seq++).toString(36)}${Math.random().toString(36).slice(2, 6)}`;

function publish(op) {
  return client.publish(opsTopic, op).catch((err) => {
    if (op.t === 'move' && pending.get(op.id)?.n === op.n) pending.delete(op.id);
    showNotice(`Your edit was refused: ${err.message}`);
    render();
    throw err;
  });
}
const add = (text, x, y) => {
  const id = `${me}-${nonce()}`;
  return publish({ t: 'add', id, x: clampX(x), y: clampY(y), text: cleanText(text) }).then(() => id);
};
const move = (id, x, y) => {
  const n = nonce();
  pending.set(id, { x: clampX(x), y: clampY(y), n });
  render();
  return publish({ t: 'move', id, x: clampX(x), y: clampY(y), n });
};
const edit = (id, text) => publish({ t: 'edit', id, text: cleanText(text) });
const remove = (id) => publish({ t: 'del', id });

// ------------------------------------------------------------------ rendering

/** A colour per identity, the same on every page: a hue from an FNV-1a hash of the name. */
function hue(id) {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193) >>> 0;
  return h % 360;
}
const ink = (id) => `hsl(${hue(id)} 70% 42%)`;
const paper = (id) => `hsl(${hue(id)} 90% 86%)`;

const noteEls = new Map(); // id -> element
let dragging = null; // {id, dx, dy, x, y, el, pointer}
let editing = null; // id of the note whose text is being edited

let renderQueued = false;
function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    render();
  });
}

function render() {
  const board = $('#board');
  for (const [id, el] of noteEls)
    if (!notes.has(id)) {
      if (editing === id) stopEditing(); // before the removal, whose blur would save the text
      if (dragging?.id === id) dragging = null;
      el.remove();
      noteEls.delete(id);
    }
  for (const n of notes.values()) {
    let el = noteEls.get(n.id);
    if (!el) {
      el = noteElement(n);
      noteEls.set(n.id, el);
      board.insertBefore(el, $('#cursors'));
    }
    const local = dragging?.id === n.id ? dragging : pending.get(n.id);
    const remote = !local && drags.get(n.id);
    const at = local ?? remote ?? n;
    el.style.left = `${at.x}px`;
    el.style.top = `${at.y}px`;
    el.style.zIndex = local || remote ? 99999 : String(n.z);
    el.classList.toggle('remote', Boolean(remote));
    if (remote) el.style.setProperty('--c', ink(remote.who));
    el.dataset.x = n.x; // the agreed position, for the tests
    el.dataset.y = n.y;
    if (editing !== n.id) el.querySelector('.text').textContent = n.text;
  }
  $('#count').textContent = `${notes.size} notes, ${edits} of at most ${config.maxOps} edits`;
}

function noteElement(n) {
  const el = document.createElement('div');
  el.className = 'note';
  el.dataset.id = n.id;
  el.style.setProperty('--n', paper(n.by));
  const by = document.createElement('div');
  by.className = 'by';
  const who = document.createElement('span');
  who.textContent = n.by;
  const del = document.createElement('button');
  del.className = 'del';
  del.type = 'button';
  del.title = 'Delete this note';
  del.textContent = '×';
  del.addEventListener('click', () => remove(n.id).catch(() => {}));
  by.append(who, del);
  const text = document.createElement('div');
  text.className = 'text';
  el.append(by, text);
  // On the note, not its text: the pointer capture of a drag makes the note the click target.
  el.addEventListener('dblclick', (e) => {
    if (!e.target.closest('button, textarea')) startEditing(n.id, el);
  });
  el.addEventListener('pointerdown', (e) => {
    if (e.button !== 0 || e.target.closest('button, textarea') || !notes.has(n.id)) return;
    const p = boardPoint(e);
    const at = pending.get(n.id) ?? notes.get(n.id);
    dragging = { id: n.id, dx: p.x - at.x, dy: p.y - at.y, x: at.x, y: at.y, moved: false };
    el.classList.add('dragging');
    el.setPointerCapture(e.pointerId);
    e.preventDefault();
  });
  el.addEventListener('pointermove', (e) => {
    if (dragging?.id !== n.id) return;
    const p = boardPoint(e);
    dragging.x = clampX(p.x - dragging.dx);
    dragging.y = clampY(p.y - dragging.dy);
    dragging.moved = true;
    render();
  });
  const drop = () => {
    if (dragging?.id !== n.id) return;
    const d = dragging;
    dragging = null;
    el.classList.remove('dragging');
    if (d.moved && notes.has(n.id)) move(n.id, d.x, d.y).catch(() => {});
    sendCursor();
    render();
  };
  el.addEventListener('pointerup', drop);
  el.addEventListener('pointercancel', drop);
  return el;
}

let stopEditing = () => {};

function startEditing(id, el) {
  if (editing) return;
  editing = id;
  const text = el.querySelector('.text');
  const area = document.createElement('textarea');
  area.maxLength = config.maxText;
  area.value = notes.get(id)?.text ?? '';
  text.replaceWith(area);
  area.focus();
  let done = false;
  const finish = (save) => {
    if (done) return;
    done = true;
    editing = null;
    area.replaceWith(text);
    if (save && notes.has(id) && area.value !== notes.get(id).text) edit(id, area.value).catch(() => {});
    render();
  };
  stopEditing = () => {
    done = true; // the note is gone: nothing to save, nothing to restore
    editing = null;
  };
  area.addEventListener('blur', () => finish(true));
  area.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey) {
      e.preventDefault();
      finish(true);
    }
    else if (e.key === 'Escape') finish(false);
  });
}

function boardPoint(e) {
  const r = $('#board').getBoundingClientRect();
  return { x: e.clientX - r.left - 1, y: e.clientY - r.top - 1 }; // 1: the border
}

// ------------------------------------------------------------------ cursors

const cursors = new Map(); // name -> {x, y, el}: everyone else's newest position
let pointer = null; // this user's pointer on the board, or null
let lastCursor = 0;
let cursorTimer = 0;

/** Publishes this user's pointer (and the note it drags), at most every CURSOR_MS. */
function sendCursor() {
  if (cursorTimer) return;
  const wait = lastCursor + CURSOR_MS - Date.now();
  if (wait > 0) {
    cursorTimer = setTimeout(() => {
      cursorTimer = 0;
      sendCursor();
    }, wait);
    return;
  }
  lastCursor = Date.now();
  if (!client || client.state !== 'open') return;
  const data = pointer ? { x: Math.round(pointer.x), y: Math.round(pointer.y) } : { gone: true };
  if (pointer && dragging?.moved) data.drag = { id: dragging.id, x: dragging.x, y: dragging.y };
  client.publish(`board.${boardId}.cursor.${me}`, data, { ack: false, echo: false }).catch(() => {});
}

function onCursor(data, meta) {
  const who = meta.from?.id; // the attested sender, not the topic's last level
  if (!who || who === me) return;
  for (const [id, d] of drags) if (d.who === who) drags.delete(id);
  if (data?.gone || !Number.isFinite(data?.x) || !Number.isFinite(data?.y)) {
    dropCursor(who);
    render();
    return;
  }
  let c = cursors.get(who);
  if (!c) {
    c = { el: cursorElement(who) };
    cursors.set(who, c);
    $('#cursors').append(c.el);
  }
  c.x = data.x;
  c.y = data.y;
  c.el.style.transform = `translate(${c.x}px, ${c.y}px)`;
  if (data.drag && notes.has(data.drag.id))
    drags.set(data.drag.id, { who, x: clampX(data.drag.x), y: clampY(data.drag.y) });
  scheduleRender();
}

function cursorElement(who) {
  const el = document.createElement('div');
  el.className = 'cursor';
  el.dataset.who = who;
  el.style.setProperty('--c', ink(who));
  el.innerHTML = '<svg width="16" height="20" viewBox="0 0 16 20" aria-hidden="true">'
    + '<path d="M1 1 L1 16 L5 12 L8 19 L11 18 L8 11 L14 11 Z" fill="currentColor" stroke="#fff" stroke-width="1.2"/></svg>';
  el.style.color = ink(who);
  const label = document.createElement('span');
  label.textContent = who;
  el.append(label);
  return el;
}

function dropCursor(who) {
  cursors.get(who)?.el.remove();
  cursors.delete(who);
  for (const [id, d] of drags) if (d.who === who) drags.delete(id);
}

// ------------------------------------------------------------------ presence

const people = new Set();

function renderPeople() {
  const list = [...people].sort((a, b) => (a === me ? -1 : b === me ? 1 : a.localeCompare(b)));
  $('#people').replaceChildren(...list.map((who) => {
    const li = document.createElement('li');
    li.style.setProperty('--c', ink(who));
    li.textContent = who === me ? `${who} (you)` : who;
    if (who === me) li.className = 'me';
    return li;
  }));
}

async function refreshPeople() {
  try {
    const members = await client.presence(opsTopic);
    people.clear();
    for (const m of members) people.add(m);
    people.add(me);
    for (const who of cursors.keys()) if (!people.has(who)) dropCursor(who);
    renderPeople();
  }
  catch { /* reconnecting: asked again once open */ }
}

// ------------------------------------------------------------------ connection

const stateText = { connecting: 'connecting…', open: 'connected', reconnecting: 'reconnecting…', closed: 'disconnected' };
function showState(state) {
  const el = $('#conn');
  el.dataset.state = state;
  el.textContent = stateText[state] ?? state;
}

function showNotice(text) {
  const el = $('#notice');
  el.textContent = text;
  el.hidden = false;
  clearTimeout(showNotice.timer);
  showNotice.timer = setTimeout(() => (el.hidden = true), 6000);
}

function join(name) {
  me = name;
  store.setItem('board.name', name);
  $('#join').hidden = true;
  $('#app').hidden = false;
  $('#board-name').textContent = boardId;
  for (const el of document.querySelectorAll('.bid')) el.textContent = boardId;
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  client = new Client(`${scheme}//${location.host}/ws?name=${encodeURIComponent(name)}`);
  showState(client.state);
  client.addEventListener('state', (e) => {
    showState(e.state);
    // After the client has resubscribed (synchronously, right after this event), ask who is here.
    if (e.state === 'open') setTimeout(refreshPeople, 0);
  });
  // The history covers the whole board (the server refuses edits past config.maxOps), so a gap
  // or a reset means the server lost it (a restart): say so rather than show a wrong board.
  client.ongap = (g) => showNotice(`${g.to - g.from + 1} edits are no longer available: reload the page`);
  client.onreset = () => {
    notes.clear();
    pending.clear();
    applied = 0;
    edits = 0;
    render();
    showNotice('The server restarted: the board starts over');
  };
  client.onerror = (err) => {
    if (err?.topic) showNotice(`Cannot subscribe to ${err.topic}: ${err.message}`);
  };
  const ops = client.subscribe(opsTopic, apply, {
    history: config.maxOps,
    onJoin: (who) => {
      people.add(who);
      renderPeople();
    },
    onLeave: (who) => {
      people.delete(who);
      dropCursor(who);
      renderPeople();
      render();
    },
  });
  client.subscribe(`board.${boardId}.cursor.*`, onCursor);
  people.add(me);
  renderPeople();
  render();
  window.boardPage = {
    client, me, ready: ops.ready, add, move, edit, remove,
    /** The agreed board, in a canonical form (for the tests: equal on every page that converged). */
    state: () => [...notes.values()].sort((a, b) => (a.id < b.id ? -1 : 1))
      .map(({ id, x, y, text, by, z }) => ({ id, x, y, text, by, z })),
    applied: () => applied,
    cursors: () => Object.fromEntries([...cursors].map(([who, c]) => [who, { x: c.x, y: c.y }])),
    people: () => [...people].sort(),
  };
}

const boardEl = $('#board');
boardEl.addEventListener('pointermove', (e) => {
  pointer = boardPoint(e);
  sendCursor();
});
boardEl.addEventListener('pointerleave', () => {
  if (dragging) return;
  pointer = null;
  sendCursor();
});
boardEl.addEventListener('dblclick', (e) => {
  if (e.target !== boardEl) return;
  const p = boardPoint(e);
  add('', p.x - NOTE_W / 2, p.y - 20).catch(() => {});
});
$('#add').addEventListener('click', () => {
  // A new note in the part of the board in view, where it covers no other note if possible.
  const v = $('#viewport');
  const left = v.scrollLeft;
  const top = v.scrollTop;
  const right = Math.min(BOARD_W, left + v.clientWidth - 24);
  const bottom = Math.min(BOARD_H, top + v.clientHeight - 24);
  const free = (x, y) => [...notes.values(), ...pending.values()].every((n) =>
    x + NOTE_W + 10 <= n.x || n.x + NOTE_W + 10 <= x || y + NOTE_H + 10 <= n.y || n.y + NOTE_H + 10 <= y);
  let at = { x: left + 20, y: top + 20 };
  search: for (let y = top + 20; y + NOTE_H <= bottom; y += 20)
    for (let x = left + 20; x + NOTE_W <= right; x += 20)
      if (free(x, y)) {
        at = { x, y };
        break search;
      }
  add('New note', at.x, at.y).catch(() => {});
});

const given = params.get('name') ?? store.getItem('board.name') ?? '';
if (NAME.test(given)) join(given);
else {
  $('#join').hidden = false;
  $('#join').addEventListener('submit', (e) => {
    e.preventDefault();
    const name = $('#name').value.trim();
    if (NAME.test(name)) join(name);
  });
}
