/**
 * SlabPool: the shared memory a server's large reads borrow. A slab is lent to one borrower at a
 * time; what it did not lend, or already got back, it ignores; it keeps at most its bound of free
 * memory; requests beyond its largest slab get plain memory.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SlabPool } from '../src/util/slab-pool.js';

test('slabs are shared memory of power-of-two sizes, reused once given back', () => {
  const pool = new SlabPool();
  const a = pool.take(100_000);
  assert.equal(a.length, 100_000);
  assert.ok(a.buffer instanceof SharedArrayBuffer);
  assert.equal(a.buffer.byteLength, 128 << 10);
  assert.equal(pool.take(10).buffer.byteLength, 64 << 10, 'at least 64 KiB');
  const b = pool.take(100_000);
  assert.notEqual(b.buffer, a.buffer, 'a lent slab is not lent again');
  pool.give(a.subarray(5, 10)); // any view of it gives it back
  assert.equal(pool.heldBytes, 128 << 10);
  const c = pool.take(70_000);
  assert.equal(c.buffer, a.buffer, 'the free slab of the right size is reused');
  assert.equal(c.length, 70_000);
  assert.equal(pool.heldBytes, 0);
});

test('what the pool did not lend, or already got back, is ignored', () => {
  const pool = new SlabPool();
  pool.give(new Uint8Array(65536));
  pool.give(new Uint8Array(new SharedArrayBuffer(65536)));
  assert.equal(pool.heldBytes, 0);
  const a = pool.take(65536);
  pool.give(a);
  pool.give(a);
  assert.equal(pool.heldBytes, 65536, 'given back once');
  const b = pool.take(65536);
  const c = pool.take(65536);
  assert.notEqual(b.buffer, c.buffer, 'a slab given back twice is still lent once');
});

test('free memory is bounded; large requests get plain memory', () => {
  const pool = new SlabPool(1 << 20, 256 << 10);
  const slabs = Array.from({ length: 4 }, () => pool.take(128 << 10));
  for (const s of slabs) pool.give(s);
  assert.equal(pool.heldBytes, 256 << 10, 'two of four kept');
  const big = pool.take((1 << 20) + 1);
  assert.ok(!(big.buffer instanceof SharedArrayBuffer));
  assert.equal(big.length, (1 << 20) + 1);
  pool.give(big);
  assert.equal(pool.heldBytes, 256 << 10);
});

test('a full pool makes room for the size given back by dropping free slabs of other sizes', () => {
  const pool = new SlabPool(4 << 20, 4 << 20);
  const big = [pool.take(2 << 20), pool.take(2 << 20)];
  for (const b of big) pool.give(b);
  assert.equal(pool.heldBytes, 4 << 20, 'full of 2 MiB slabs');
  const small = pool.take(256 << 10);
  pool.give(small);
  assert.equal(pool.heldBytes, (2 << 20) + (256 << 10), 'one 2 MiB slab dropped for the 256 KiB one');
  assert.equal(pool.take(256 << 10).buffer, small.buffer, 'and that one is reused');
  // Same-size slabs never push each other out: beyond the bound they are dropped.
  const same = [pool.take(2 << 20), pool.take(2 << 20), pool.take(2 << 20)];
  for (const b of same) pool.give(b);
  assert.equal(pool.heldBytes, 4 << 20);
});
