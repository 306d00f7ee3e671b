import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseListenAddress } from '../src/cli/listen-address.js';
import { UsageError } from '../src/errors.js';

test('[HOST:]PORT forms', () => {
  assert.deepEqual(parseListenAddress('10809'), { host: '127.0.0.1', port: 10809 });
  assert.deepEqual(parseListenAddress('0.0.0.0:8080'), { host: '0.0.0.0', port: 8080 });
  assert.deepEqual(parseListenAddress('localhost:0'), { host: 'localhost', port: 0 });
  assert.deepEqual(parseListenAddress('[::1]:10809'), { host: '::1', port: 10809 });
  for (const bad of ['', 'x', '65536', '-1', 'host:', ':80', '::1:80', '1.2.3.4:port']) assert.throws(() => parseListenAddress(bad), UsageError, bad);
});
