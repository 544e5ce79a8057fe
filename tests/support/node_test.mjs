// node:test with a time limit on every test, set the way Debian 12's Node 18 understands: the
// `timeout` option of test().  (The `--test-timeout` flag exists only from Node 20.11.)
//
//   import { after, before, describe, test } from '../support/node_test.mjs';
//
// The limit is RTMSG_TEST_TIMEOUT_MS (milliseconds), else the `defaultTimeout` a runner passes
// to setDefaultTimeout(), else 60 s.  A test that passes its own `timeout` keeps it.
import * as nodeTest from 'node:test';

export const { after, afterEach, before, beforeEach, describe } = nodeTest;

let limit = Number(process.env.RTMSG_TEST_TIMEOUT_MS) || 60_000;

export function setDefaultTimeout(ms) {
  if (!process.env.RTMSG_TEST_TIMEOUT_MS) limit = ms;
}

export function test(name, options, fn) {
  if (typeof options === 'function') [options, fn] = [{}, options];
  return nodeTest.test(name, { timeout: limit, ...options }, fn);
}
