/**
 * copyBytes (src/util/copy-bytes.ts): `set` semantics for every mix of shared and ordinary
 * memory, alignment and length, including the staged path for misaligned shared copies.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyBytes } from '../src/util/copy-bytes.ts';
import { Rng, assertBytes } from './helpers.ts';

test('copies exactly the source to `at`, touching nothing else, whatever the memory and alignment', () => {
  const rng = new Rng(11);
  for (let k = 0; k < 400; k++) {
    const srcShared = k % 2 === 1;
    const dstShared = k % 4 >= 2;
    // Lengths around the staging step (256 KiB) and the small-copy cut-off (4 KiB).
    const length = [0, 1, 4095, 4096, 4097, 65_539, 262_144, 262_151, 600_003][k % 9] + (k % 5 === 0 ? rng.int(7) : 0);
    const srcAt = rng.int(16);
    const src = new Uint8Array(srcShared ? new SharedArrayBuffer(length + 16) : new ArrayBuffer(length + 16), srcAt, length);
    for (let i = 0; i < length; i++) src[i] = (i * 131 + k) & 255;
    const dstAt = rng.int(16);
    const at = rng.int(24);
    const dst = new Uint8Array(dstShared ? new SharedArrayBuffer(length + 64) : new ArrayBuffer(length + 64), dstAt, length + 40).fill(0xee);
    copyBytes(src, dst, at);
    const what = `case ${k} (source ${srcShared ? 'shared' : 'plain'} +${srcAt}, target ${dstShared ? 'shared' : 'plain'} +${dstAt}, at ${at}, ${length} bytes)`;
    assertBytes(dst.subarray(at, at + length), src, what);
    assert.ok(dst.subarray(0, at).every((b) => b === 0xee), `${what}: before`);
    assert.ok(dst.subarray(at + length).every((b) => b === 0xee), `${what}: after`);
  }
});

test('a source that does not fit is a RangeError, as set gives, and nothing is written', () => {
  const dst = new Uint8Array(new SharedArrayBuffer(10_000)).fill(1);
  const src = new Uint8Array(new ArrayBuffer(8_003), 3, 8_000);
  assert.throws(() => copyBytes(src, dst, 2_001), RangeError);
  assert.ok(dst.every((b) => b === 1));
  assert.throws(() => copyBytes(src, new Uint8Array(5_000)), RangeError);
});
