// The rtmsg chat page.  Everything goes through rtmsg.js's Client:
//   chat.<room>   messages {cid, text, ts}: subscribed with history and presence
//   typing.<room> typing notices, published with echo:false (the typer never sees them)
// Who wrote a message is not in it: the server attests the sender of every message
// (meta.from.id, the name this connection joined with), and no page can claim another's.
//   rooms         the room list, kept by the server
// Rendering uses textContent only, so what people write is never parsed as HTML.
import { Client } from '/js/rtmsg.js';

const $ = (sel) => document.querySelector(sel);
const store = window.sessionStorage; // per tab: a reload keeps the name and the room
const config = await fetch('/config.json').then((r) => r.json()).catch(() => ({ maxChars: 500 }));

let me = '';
let client = null;
let room = '';
let roomSub = null;
let typingSub = null;
let lastTypingSent = 0;
const knownRooms = new Set(['lobby']);
const byCid = new Map(); // cid -> <li> of the current room: optimistic copies and dedup of retries
const users = new Set();
const typists = new Map(); // name -> timer

// ------------------------------------------------------------------ connection

function join(name) {
  me = name;
  store.setItem('chat.name', name);
  $('#join').hidden = true;
  $('#chat').hidden = false;
  $('#me').textContent = name;
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  client = new Client(`${scheme}//${location.host}/ws?name=${encodeURIComponent(name)}`);
  window.chat = { client }; // for the browser tests and the curious
  showState(client.state);
  client.addEventListener('state', (e) => {
    showState(e.state);
    // After the client has resubscribed (synchronously, right after this event), ask who is here.
    if (e.state === 'open') setTimeout(refreshUsers, 0);
  });
  client.ongap = (g) => notice(`${g.to - g.from + 1} older messages are no longer available`);
  client.onerror = (err) => {
    if (err.topic) showError(`Cannot subscribe to ${err.topic}: ${err.message}`);
  };
  client.subscribe('rooms', (list) => {
    for (const r of Array.isArray(list) ? list : []) knownRooms.add(String(r));
    renderRooms();
  }, { history: 1 });
  enterRoom(store.getItem('chat.room') || 'lobby');
}

const stateText = { connecting: 'connecting…', open: 'connected', reconnecting: 'reconnecting…', closed: 'disconnected' };
function showState(state) {
  const el = $('#conn');
  el.dataset.state = state;
  el.textContent = stateText[state] ?? state;
  if (state === 'reconnecting') el.textContent += ` (connection ${client.connections + 1})`;
}

// ------------------------------------------------------------------ rooms

function enterRoom(name) {
  if (roomSub) roomSub.unsubscribe();
  if (typingSub) typingSub.unsubscribe();
  room = name;
  store.setItem('chat.room', name);
  knownRooms.add(name);
  renderRooms();
  $('#room-title').textContent = '# ' + name;
  $('#messages').replaceChildren();
  byCid.clear();
  users.clear();
  for (const t of typists.values()) clearTimeout(t);
  typists.clear();
  renderUsers();
  renderTyping();
  const topic = 'chat.' + name;
  roomSub = client.subscribe(topic, onMessage, {
    history: 50,
    onJoin: (who) => {
      if (!users.has(who) && who !== me) notice(`${who} joined`);
      users.add(who);
      renderUsers();
    },
    onLeave: (who) => {
      if (users.delete(who)) notice(`${who} left`);
      stopTyping(who);
      renderUsers();
    },
  });
  roomSub.ready.then(refreshUsers, () => {});
  typingSub = client.subscribe('typing.' + name, (d, meta) => startTyping(senderOf(meta)));
}

async function refreshUsers() {
  const topic = 'chat.' + room;
  try {
    const members = await client.presence(topic);
    if (topic !== 'chat.' + room) return;
    users.clear();
    for (const m of members) users.add(m);
    renderUsers();
  } catch {
    /* disconnected meanwhile: asked again on reconnect */
  }
}

function renderRooms() {
  const items = [...knownRooms].sort().map((r) => {
    const b = el('button', r === room ? 'current' : '', '# ' + r);
    b.type = 'button';
    b.dataset.room = r;
    b.onclick = () => r !== room && enterRoom(r);
    return el('li', '', b);
  });
  $('#rooms').replaceChildren(...items);
}

function renderUsers() {
  const names = [...users].sort();
  $('#users').replaceChildren(...names.map((n) => el('li', n === me ? 'me' : '', n === me ? `${n} (you)` : n)));
  $('#user-count').textContent = `(${names.length})`;
}

// ------------------------------------------------------------------ messages

/** The sender the server attests (never a name from the message itself); '' if it does not say. */
function senderOf(meta) {
  return typeof meta?.from?.id === 'string' ? meta.from.id : meta?.from?.server ? 'server' : '';
}

function onMessage(d, meta) {
  if (!d || typeof d.text !== 'string') return;
  const from = senderOf(meta);
  stopTyping(from);
  const mine = from === me ? byCid.get(d.cid) : undefined;
  if (mine) {
    mine.dataset.offset = meta.offset; // our optimistic copy (or a retry) came back: no duplicate
    return;
  }
  const li = renderMessage(d, from);
  li.dataset.offset = meta.offset;
  li.classList.add('confirmed');
  if (d.cid) byCid.set(d.cid, li);
  append(li);
}

function renderMessage(d, from) {
  const own = from === me;
  const li = el('li', own ? 'msg own' : 'msg');
  li.dataset.cid = d.cid ?? '';
  const time = new Date(Number(d.ts));
  const when = el('time', 'time', isNaN(time) ? '' : time.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }));
  if (!isNaN(time)) when.dateTime = time.toISOString();
  const meta = el('div', 'meta', el('span', 'from', from || '?'), when, el('span', 'status', own ? '✓' : ''));
  li.append(meta, el('div', 'text', d.text));
  return li;
}

function send(text) {
  if (text.length > config.maxChars)
    return showError(`Message too long: ${text.length} characters (the limit is ${config.maxChars}).`);
  const id = globalThis.crypto?.randomUUID?.() ?? `${Date.now()}-${Math.random().toString(36).slice(2)}`;
  const d = { cid: id, text, ts: Date.now() };
  const li = renderMessage(d, me);
  byCid.set(d.cid, li);
  append(li);
  publish(li, 'chat.' + room, d);
  return true;
}

/** Optimistic send: pending at once, confirmed on the server's ack, failed (with Retry) otherwise. */
function publish(li, topic, d) {
  setStatus(li, 'pending', 'sending…');
  client.publish(topic, d).then(
    () => setStatus(li, 'confirmed', '✓'),
    (err) => {
      const why = describe(err);
      setStatus(li, 'failed', 'not sent');
      li.title = why;
      const retry = el('button', 'retry', 'Retry');
      retry.type = 'button';
      retry.onclick = () => publish(li, topic, d); // same cid: receivers drop a duplicate
      li.querySelector('.status').append(retry);
      showError(why);
    },
  );
}

function describe(err) {
  switch (err.code) {
    case 429: return 'You are sending messages too fast: wait a moment, then retry.';
    case 413: return `Message too long for the server (the limit is ${config.maxChars} characters).`;
    case 403: return 'You may not post here.';
    case 'ECONNRESET': return 'The connection dropped before the server confirmed the message.';
    case 'ETIMEDOUT': return 'The server did not confirm the message in time.';
    default: return `Not sent: ${err.message}`;
  }
}

function setStatus(li, state, text) {
  li.classList.remove('pending', 'confirmed', 'failed');
  li.classList.add(state);
  li.querySelector('.status').textContent = text;
}

function append(li) {
  const list = $('#messages');
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  list.append(li);
  if (atBottom || li.classList.contains('own')) list.scrollTop = list.scrollHeight;
}

function notice(text) {
  append(el('li', 'notice', text));
}

// ------------------------------------------------------------------ typing

function startTyping(who) {
  if (!who) return;
  clearTimeout(typists.get(who));
  typists.set(who, setTimeout(() => stopTyping(who), 3000));
  renderTyping();
}

function stopTyping(who) {
  if (!typists.has(who)) return;
  clearTimeout(typists.get(who));
  typists.delete(who);
  renderTyping();
}

function renderTyping() {
  const names = [...typists.keys()];
  $('#typing').textContent =
    names.length === 0 ? '' : names.length === 1 ? `${names[0]} is typing…` : `${names.join(', ')} are typing…`;
}

// ------------------------------------------------------------------ helpers and wiring

function el(tag, cls, ...children) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  e.append(...children); // strings become text nodes, never markup
  return e;
}

function showError(text) {
  const box = $('#error');
  box.textContent = text;
  box.hidden = false;
  clearTimeout(showError.timer);
  showError.timer = setTimeout(() => (box.hidden = true), 6000);
}

$('#join').addEventListener('submit', (e) => {
  e.preventDefault();
  const name = $('#name').value.trim();
  if (name) join(name);
});

$('#new-room').addEventListener('submit', (e) => {
  e.preventDefault();
  const name = $('#room-name').value.trim();
  if (!/^[A-Za-z0-9_-]{1,32}$/.test(name)) return showError('Room names use letters, digits, - and _.');
  $('#room-name').value = '';
  enterRoom(name);
});

const input = $('#text');
input.addEventListener('input', () => {
  const n = input.value.length;
  $('#count').textContent = n > config.maxChars * 0.8 ? `${n}/${config.maxChars}` : '';
  $('#count').classList.toggle('over', n > config.maxChars);
  // At most one typing notice every 2 s; not acknowledged, not echoed to ourselves.
  if (n > 0 && Date.now() - lastTypingSent > 2000) {
    lastTypingSent = Date.now();
    client.publish('typing.' + room, {}, { ack: false, echo: false }).catch(() => {});
  }
});

$('#composer').addEventListener('submit', (e) => {
  e.preventDefault();
  const text = input.value.trim();
  if (!text) return;
  if (send(text) === true) {
    input.value = '';
    $('#count').textContent = '';
    lastTypingSent = 0;
  }
});

const saved = store.getItem('chat.name');
if (saved) join(saved);
