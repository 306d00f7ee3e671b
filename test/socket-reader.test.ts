import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, createConnection, type Socket } from 'node:net';
import { once } from 'node:events';
import { SocketReader } from '../src/serve/nbd/socket-reader.js';

test('skip consumes a large payload without holding it, then reads continue in step', async () => {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const client = createConnection((server.address() as { port: number }).port, '127.0.0.1');
  const [sock] = await accepted;
  try {
    const reader = new SocketReader(sock, 64 << 10);
    const payload = new Uint8Array(8 << 20).fill(7);
    client.write(payload);
    client.write(Uint8Array.of(1, 2, 3, 4));
    let most = 0;
    const timer = setInterval(() => (most = Math.max(most, reader.buffered)), 1);
    const skipped = await reader.skip(payload.length);
    clearInterval(timer);
    assert.equal(skipped, true);
    assert.ok(most <= 512 << 10, `buffered at most ${most} bytes while skipping 8 MiB`);
    assert.deepEqual([...(await reader.read(4))!], [1, 2, 3, 4]);
    client.end();
    assert.equal(await reader.skip(10), false, 'the stream ended before 10 more bytes');
  } finally {
    client.destroy();
    sock.destroy();
    server.close();
  }
});
