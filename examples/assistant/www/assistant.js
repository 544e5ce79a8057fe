// The rtmsg assistant page.  Everything goes through rtmsg.js's Client:
//   ask.<user>             commands to the gateway: {op:'ask', conv, text}, {op:'stop', conv}
//   assistant.<user>.<id>  one conversation: {t:'q'}, {t:'start'}, {t:'tok', text}, {t:'end', reason, error}
//                          subscribed with its whole history, so a new tab or a reload rebuilds it;
//                          on a reconnection rtmsg.js resumes after the last offset it delivered
//   convs.<user>           the conversation list, kept by the gateway
// Answers are rendered with DOM nodes and textContent only: nothing a model or a user writes is
// ever parsed as HTML.
import { Client } from '/js/rtmsg.js';

const $ = (sel) => document.querySelector(sel);
const store = window.sessionStorage;
const config = await fetch('/config.json').then((r) => r.json()).catch(() => ({ demo: false, model: '?' }));

let me = '';
let client = null;
let conv = '';
let convSub = null;
let convs = [];
const turns = new Map(); // turn number -> {li, answer, text, blocks, state}
let running = false;
let askTimer = 0; // an ask the gateway did not take up (it keeps 50 conversations per user)
const first = { arrived: 0, rendered: 0 }; // the first token of the latest turn (for tests)

// ------------------------------------------------------------------ connection

function start(name) {
  me = name;
  store.setItem('assistant.user', name);
  $('#join').hidden = true;
  $('#app').hidden = false;
  $('#me').textContent = name;
  $('#model').textContent = config.demo ? 'demo model' : `model: ${config.model}`;
  $('#model').classList.toggle('demo', !!config.demo);
  $('#demo').hidden = !config.demo;
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  client = new Client(`${scheme}//${location.host}/ws?user=${encodeURIComponent(name)}`);
  window.assistant = { client, answers, first }; // for the browser tests and the curious
  showState(client.state);
  client.addEventListener('state', (e) => showState(e.state));
  client.ongap = () => notice('Part of this conversation is no longer available.');
  client.subscribe(`convs.${me}`, (list) => {
    convs = Array.isArray(list) ? list : [];
    renderConvs();
  }, { history: 1 });
  openConv(new URLSearchParams(location.hash.slice(1)).get('c') || newId());
}

const stateText = { connecting: 'connecting…', open: 'connected', reconnecting: 'reconnecting…', closed: 'disconnected' };
function showState(state) {
  const el = $('#conn');
  el.dataset.state = state;
  el.textContent = stateText[state] ?? state;
}

// ------------------------------------------------------------------ conversations

function newId() {
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  return 'c' + Array.from(bytes, (b) => b.toString(36).padStart(2, '0')).join('').slice(0, 10);
}

function openConv(id) {
  if (convSub) convSub.unsubscribe();
  clearTimeout(askTimer);
  conv = id;
  history.replaceState(null, '', `#c=${id}`);
  turns.clear();
  $('#thread').replaceChildren();
  $('#empty').hidden = false;
  setRunning(false);
  // The whole conversation (the gateway keeps up to 20000 messages of it), then live tokens.
  convSub = client.subscribe(`assistant.${me}.${id}`, onEvent, { history: 20000 });
  renderConvs();
}

function renderConvs() {
  const ul = $('#convs');
  ul.replaceChildren();
  const list = convs.some((c) => c.id === conv) ? convs : [{ id: conv, title: 'New conversation' }, ...convs];
  for (const c of list) {
    const li = document.createElement('li');
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = c.title || c.id;
    b.title = c.title || c.id;
    b.dataset.id = c.id;
    b.classList.toggle('current', c.id === conv);
    b.addEventListener('click', () => c.id !== conv && openConv(c.id));
    li.append(b);
    ul.append(li);
  }
}

// ------------------------------------------------------------------ the stream

function onEvent(ev) {
  if (!ev || typeof ev !== 'object' || typeof ev.turn !== 'number') return;
  $('#empty').hidden = true;
  let t = turns.get(ev.turn);
  if (!t) t = addTurn(ev.turn);
  switch (ev.t) {
    case 'q':
      clearTimeout(askTimer);
      t.question.textContent = String(ev.text ?? '');
      break;
    case 'start':
      t.meta.textContent = String(ev.model ?? '');
      t.li.dataset.state = 'running';
      first.arrived = 0;
      first.rendered = 0;
      setRunning(true);
      break;
    case 'tok':
      if (!first.arrived) first.arrived = performance.now();
      t.text += String(ev.text ?? '');
      schedule(t);
      break;
    case 'end':
      t.li.dataset.state = ev.reason === 'stop' ? 'done' : String(ev.reason);
      render(t);
      if (ev.reason === 'cancelled') {
        const s = document.createElement('span');
        s.className = 'stopped';
        s.textContent = ' · stopped';
        t.meta.append(s);
      }
      if (ev.error) {
        const e = document.createElement('div');
        e.className = 'turn-error';
        e.setAttribute('role', 'alert');
        e.textContent = `The model failed: ${ev.error}`;
        t.li.append(e);
      }
      if (ev.turn === Math.max(...turns.keys())) setRunning(false);
      break;
  }
  keepScrolled();
}

function addTurn(n) {
  const li = document.createElement('li');
  li.className = 'turn';
  li.dataset.turn = n;
  const question = document.createElement('div');
  question.className = 'question';
  const answer = document.createElement('div');
  answer.className = 'answer';
  const meta = document.createElement('div');
  meta.className = 'meta';
  li.append(question, answer, meta);
  $('#thread').append(li);
  const t = { li, question, answer, meta, text: '', shown: [], pending: false };
  turns.set(n, t);
  return t;
}

function setRunning(on) {
  running = on;
  $('#ask').hidden = on;
  $('#stop').hidden = !on;
  $('#question').disabled = on;
}

// Tokens arrive faster than frames: the text is rendered once per frame, in the frame that
// follows the first token's arrival (requestAnimationFrame runs before the next paint).
function schedule(t) {
  if (t.pending) return;
  t.pending = true;
  requestAnimationFrame(() => {
    t.pending = false;
    render(t);
    if (first.arrived && !first.rendered) first.rendered = performance.now();
  });
}

function keepScrolled() {
  const el = $('#thread');
  if (el.scrollHeight - el.scrollTop - el.clientHeight < 80) el.scrollTop = el.scrollHeight;
}

/** The raw text of every answer shown, by turn (for the tests). */
function answers() {
  return [...turns.entries()].sort((a, b) => a[0] - b[0]).map(([, t]) => t.text);
}

// ------------------------------------------------------------------ Markdown-ish rendering

/** Splits text into blocks: fenced code (``` lang ... ```, open while streaming), headings
    (#), and paragraphs separated by blank lines. */
function blocks(text) {
  const out = [];
  let para = null;
  let code = null;
  for (const line of text.split('\n')) {
    if (code) {
      if (/^\s*```\s*$/.test(line)) code = null;
      else code.text += (code.text ? '\n' : '') + line;
      continue;
    }
    const fence = /^\s*```\s*([\w+-]*)/.exec(line);
    if (fence) {
      para = null;
      code = { kind: 'code', lang: fence[1], text: '' };
      out.push(code);
    } else if (line.trim() === '') {
      para = null;
    } else if (/^#{1,6}\s/.test(line)) {
      para = null;
      out.push({ kind: 'h', text: line.replace(/^#+\s*/, '') });
    } else if (para) {
      para.text += '\n' + line;
    } else {
      para = { kind: 'p', text: line };
      out.push(para);
    }
  }
  return out;
}

/** Inline `code` and **bold** as nodes. */
function inline(el, text) {
  el.replaceChildren();
  for (const part of text.split(/(`[^`\n]+`|\*\*[^*\n]+\*\*)/)) {
    if (!part) continue;
    if (part.startsWith('`') && part.endsWith('`') && part.length > 2) {
      const c = document.createElement('code');
      c.textContent = part.slice(1, -1);
      el.append(c);
    } else if (part.startsWith('**') && part.endsWith('**') && part.length > 4) {
      const b = document.createElement('strong');
      b.textContent = part.slice(2, -2);
      el.append(b);
    } else {
      el.append(document.createTextNode(part));
    }
  }
}

/** Brings the answer's DOM up to date with its text: only changed blocks are touched (while
    streaming, that is the last one). */
function render(t) {
  const bs = blocks(t.text);
  const kids = t.answer.children;
  for (let i = 0; i < bs.length; ++i) {
    const b = bs[i];
    const key = `${b.kind}|${b.lang ?? ''}|${b.text}`;
    if (t.shown[i] === key) continue;
    const sameKind = t.shown[i]?.startsWith(`${b.kind}|${b.lang ?? ''}|`);
    let el = kids[i];
    if (!el || !sameKind) {
      const fresh = b.kind === 'code' ? document.createElement('pre') : document.createElement(b.kind === 'h' ? 'h3' : 'p');
      if (b.kind === 'code') {
        const c = document.createElement('code');
        if (b.lang) c.dataset.lang = b.lang;
        fresh.append(c);
      }
      if (el) el.replaceWith(fresh);
      else t.answer.append(fresh);
      el = fresh;
    }
    if (b.kind === 'code') el.firstChild.textContent = b.text;
    else inline(el, b.text);
    t.shown[i] = key;
  }
  while (kids.length > bs.length) kids[kids.length - 1].remove();
  t.shown.length = bs.length;
}

function notice(text) {
  const li = document.createElement('li');
  li.className = 'hint';
  li.textContent = text;
  $('#thread').append(li);
}

// ------------------------------------------------------------------ the form

$('#join').addEventListener('submit', (e) => {
  e.preventDefault();
  const name = $('#name').value.trim();
  if (/^[A-Za-z0-9_-]{1,32}$/.test(name)) start(name);
});

$('#new').addEventListener('click', () => openConv(newId()));

$('#composer').addEventListener('submit', async (e) => {
  e.preventDefault();
  const text = $('#question').value.trim();
  if (!text || running) return;
  if (new TextEncoder().encode(text).length > (config.maxChars ?? 4000)) {
    notice(`Questions are limited to ${config.maxChars} bytes.`);
    return;
  }
  setRunning(true); // until the gateway's answer ends (in this tab and every other)
  $('#question').value = '';
  try {
    await client.publish(`ask.${me}`, { op: 'ask', conv, text }, { echo: false });
    clearTimeout(askTimer);
    askTimer = setTimeout(() => { // cleared by the question's echo from the gateway ('q')
      setRunning(false);
      notice('The assistant did not take this question up (too many conversations?). Try again.');
    }, 10000);
  } catch (err) {
    setRunning(false);
    notice(`Could not ask: ${err.message}`);
  }
});

$('#question').addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    $('#composer').requestSubmit();
  }
});

$('#stop').addEventListener('click', () => {
  client.publish(`ask.${me}`, { op: 'stop', conv }, { echo: false }).catch((err) => notice(`Could not stop: ${err.message}`));
});

const saved = store.getItem('assistant.user') || new URLSearchParams(location.search).get('user');
if (saved && /^[A-Za-z0-9_-]{1,32}$/.test(saved)) start(saved);
