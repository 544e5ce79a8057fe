// js/ as an npm package: its version is the library's, its metadata says what the README
// promises, and the tarball `npm pack` makes, installed into a fresh project, is imported by
// name through the `exports` map (under Node, and by tsc through the `types` condition) with
// exactly the exports rtmsg.d.ts declares.
//
//   node --test tests/js/package.test.mjs      (tests/js/run.sh runs it)
import { after, describe, test } from '../support/node_test.mjs';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const js = path.join(root, 'js');
const pkg = JSON.parse(fs.readFileSync(path.join(js, 'package.json'), 'utf8'));
const tsc = path.join(root, 'node_modules/typescript/bin/tsc');
const read = (file) => fs.readFileSync(path.join(root, file), 'utf8');
const run = (cmd, args, cwd) => execFileSync(cmd, args, { cwd, encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] });

/** The names rtmsg.d.ts exports as values (classes, functions, constants). */
const declared = [...read('js/rtmsg.d.ts').matchAll(/^export (?:declare )?(?:class|function|const) (\w+)/gm)].map((m) => m[1]).sort();

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rtmsg-js-package-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('js/package.json', () => {
  test('its version is the library\'s: project(VERSION) in CMakeLists.txt and include/rtmsg/version.hpp', () => {
    const cmake = /project\(rtmsg\s+VERSION\s+(\d+\.\d+\.\d+)/.exec(read('CMakeLists.txt'));
    const header = /version_string\[\]\s*=\s*"([^"]+)"/.exec(read('include/rtmsg/version.hpp'));
    assert.ok(cmake && header, 'both versions found');
    assert.equal(pkg.version, cmake[1], 'js/package.json "version" vs project(VERSION) in CMakeLists.txt');
    assert.equal(pkg.version, header[1], 'js/package.json "version" vs include/rtmsg/version.hpp');
  });

  test('an ES module with an exports map (types first), no side effects, Node 18, the library\'s licence', () => {
    assert.equal(pkg.name, 'rtmsg');
    assert.equal(pkg.type, 'module');
    assert.deepEqual(Object.keys(pkg.exports['.']), ['types', 'default'], 'the `types` condition comes first');
    assert.equal(pkg.exports['.'].types, './rtmsg.d.ts');
    assert.equal(pkg.exports['.'].default, './rtmsg.js');
    assert.equal(pkg.sideEffects, false);
    assert.equal(pkg.engines.node, '>=18');
    assert.equal(pkg.license, 'BSL-1.0');
    assert.equal(read('js/LICENSE'), read('LICENSE'), 'js/LICENSE is a copy of the library\'s LICENSE');
    assert.equal(pkg.dependencies, undefined, 'no dependencies');
    for (const f of pkg.files) assert.ok(fs.existsSync(path.join(js, f)), `${f} is in js/`);
  });

  test('rtmsg.js imports nothing: one file usable from <script type=module>', () => {
    const source = read('js/rtmsg.js');
    const code = source.split('\n').filter((line) => !/^\s*(\/\/|\/\*|\*)/.test(line));
    assert.deepEqual(code.filter((line) => /^\s*import\b|\bimport\(|\brequire\(/.test(line)), [], 'no import or require');
    assert.deepEqual([...source.matchAll(/^export (?:class|function|const) (\w+)/gm)].map((m) => m[1]).sort(), declared,
      'rtmsg.js exports exactly what rtmsg.d.ts declares');
  });
});

describe('the packed tarball, installed by name', () => {
  let project;

  test('npm pack takes exactly rtmsg.js, rtmsg.d.ts, README.md, LICENSE and package.json', () => {
    const [packed] = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', tmp], js));
    assert.equal(packed.name, 'rtmsg');
    assert.equal(packed.version, pkg.version);
    assert.deepEqual(packed.files.map((f) => f.path).sort(), ['LICENSE', 'README.md', 'package.json', 'rtmsg.d.ts', 'rtmsg.js']);
    project = path.join(tmp, 'app');
    fs.mkdirSync(project);
    fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--loglevel=error', path.join(tmp, packed.filename)], project);
    assert.ok(fs.existsSync(path.join(project, 'node_modules/rtmsg/rtmsg.js')));
  });

  test('Node imports it by name through `exports`; only `.` and package.json are exported', () => {
    assert.ok(project, 'installed by the previous test');
    fs.writeFileSync(
      path.join(project, 'main.js'),
      `import * as rtmsg from 'rtmsg';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
let deep = 'resolved';
try { await import('rtmsg/rtmsg.js'); } catch (e) { deep = e.code; }
console.log(JSON.stringify({
  names: Object.keys(rtmsg).sort(),
  kinds: Object.fromEntries(Object.entries(rtmsg).map(([k, v]) => [k, typeof v])),
  version: require('rtmsg/package.json').version,
  matches: rtmsg.topicMatches('prices.*', 'prices.AAPL'),
  deep,
}));
`,
    );
    const out = JSON.parse(run(process.execPath, ['main.js'], project));
    assert.deepEqual(out.names, declared);
    assert.deepEqual(out.kinds, {
      Client: 'function', DEFAULT_RECONNECT: 'object', EventSourceClient: 'function', RtmsgError: 'function',
      backoffDelay: 'function', connect: 'function', sse: 'function', topicMatches: 'function',
    });
    assert.equal(out.version, pkg.version);
    assert.equal(out.matches, true);
    assert.equal(out.deep, 'ERR_PACKAGE_PATH_NOT_EXPORTED');
  });

  test('tsc finds its types by name (moduleResolution nodenext and bundler)', () => {
    assert.ok(project, 'installed by the previous test');
    fs.writeFileSync(
      path.join(project, 'app.ts'),
      `import { Client, type MessageMeta, type Sender } from 'rtmsg';
const client = new Client('ws://127.0.0.1:9001/ws');
client.subscribe('chat.*', (data, meta: MessageMeta) => {
  const from: Sender | undefined = meta.from;
  console.log(data, from);
});
// @ts-expect-error the types were found: a topic is a string
client.subscribe(42, () => {});
`,
    );
    for (const resolution of ['nodenext', 'bundler']) {
      const config = {
        compilerOptions: {
          strict: true, noEmit: true, types: [], lib: ['ES2022', 'DOM'], target: 'ES2022',
          module: resolution === 'nodenext' ? 'nodenext' : 'ES2022', moduleResolution: resolution,
        },
        files: ['app.ts'],
      };
      fs.writeFileSync(path.join(project, `tsconfig.${resolution}.json`), JSON.stringify(config));
      try {
        run(process.execPath, [tsc, '-p', `tsconfig.${resolution}.json`], project);
      } catch (e) {
        assert.fail(`tsc (${resolution}) failed:\n${e.stdout}${e.stderr}`);
      }
    }
  });
});
