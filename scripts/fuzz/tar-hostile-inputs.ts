/**
 * The hostile tars of test/tar-hostile.test.ts, one function each: the shapes the tar fuzz kind
 * found trouble with (or must keep refusing), made small and deterministic. Kept beside the
 * fuzzer so that tests and the child processes they start (for the inputs that may take
 * gigabytes or minutes) build the very same bytes.
 */
import { gzipSync } from 'node:zlib';
import { compress as zstdCompress } from 'zstd-napi';
import { zstdZeros } from './mutate-tar.ts';
import { BLOCK, END, concat, entry, header, paxRecord, paxText, setChecksum, writeBytes, writeNumber } from './tar-format.ts';

const enc = (s: string) => new TextEncoder().encode(s);
const zstd = (b: Uint8Array) => new Uint8Array(zstdCompress(Buffer.from(b.buffer, b.byteOffset, b.length)));
const gzip = (b: Uint8Array) => new Uint8Array(gzipSync(b));

/** A small healthy tar: a directory, two files, a symlink. */
export function healthyTar(): Uint8Array {
  return concat([
    entry({ name: 'dir/', typeflag: '5', mode: 0o755 }),
    entry({ name: 'dir/a.txt' }, enc('alpha\n')),
    entry({ name: 'b.bin' }, new Uint8Array(3000).fill(0x42)),
    entry({ name: 'link', typeflag: '2', linkname: 'b.bin' }),
    END,
  ]);
}

/** The healthy tar cut `into` bytes into its third header (b.bin's). */
export function truncatedHeader(into = 100): Uint8Array {
  return healthyTar().subarray(0, 3 * BLOCK + into);
}

/** A file whose size field (checksum correct) says `extra` bytes more than all that follows its header. */
export function sizePastEnd(extra = 1_000_000): Uint8Array {
  const data = new Uint8Array(1024).fill(0x61, 0, 600);
  const h = header({ name: 'short.bin', size: data.length + END.length + extra });
  return concat([entry({ name: 'first' }, enc('ok')), h, data, END]);
}

/** A pax header whose one record's length field lies (`len+1`, `len-1`, `0`, `huge`, `no-newline`). */
export function paxLengthLie(how: 'len+1' | 'len-1' | '0' | 'huge' | 'no-newline'): Uint8Array {
  const good = paxRecord('path', 'renamed.txt');
  const n = good.length;
  const body = good.subarray(String(n).length);
  const bad = how === 'len+1' ? concat([enc(String(n + 1)), body])
    : how === 'len-1' ? concat([enc(String(n - 1)), body])
    : how === '0' ? concat([enc('0'), body])
    : how === 'huge' ? concat([enc('99999999999999999999'), body])
    : good.subarray(0, n - 1);
  return concat([entry({ name: 'PaxHeaders/x', typeflag: 'x' }, bad), entry({ name: 'f' }, enc('data')), END]);
}

/**
 * A file declaring `size` bytes in base-256 with `after` bytes (and no end blocks) after its
 * header; after a small first entry unless `first` (then its header is the tar's first block).
 */
export function declaredSize(size: bigint, after = 512, first = false): Uint8Array {
  const h = header({ name: 'huge.img' });
  writeNumber(h, 124, 12, size, 'base256');
  setChecksum(h);
  return concat([first ? new Uint8Array(0) : entry({ name: 'first' }, enc('ok')), h, new Uint8Array(after)]);
}

/** A header whose size field holds octal garbage, its checksum recomputed. */
export function octalGarbage(): Uint8Array {
  const h = header({ name: 'g' });
  writeBytes(h, 124, 12, '00000009x12');
  setChecksum(h);
  return concat([entry({ name: 'ok' }, enc('fine')), h, END]);
}

/** A pax 0.1 sparse file whose map is `map` (offset,length pairs) for `stored` stored bytes. */
export function sparse01(map: number[], realSize: number, stored: number): Uint8Array {
  const x = paxText([['GNU.sparse.size', String(realSize)], ['GNU.sparse.map', map.join(',')], ['GNU.sparse.name', 'sparse']]);
  return concat([entry({ name: 'PaxHeaders/x', typeflag: 'x' }, x), entry({ name: 'GNUSparseFile.0/sparse' }, new Uint8Array(stored).fill(0x5a)), END]);
}

/** A pax 1.0 sparse file of `n` one-byte parts `gap` bytes apart (the map at the start of the data). */
export function sparse10(n: number, gap: number): Uint8Array {
  const lines: string[] = [String(n)];
  for (let k = 0; k < n; k++) lines.push(String(k * (gap + 1)), '1');
  const map = enc(`${lines.join('\n')}\n`);
  const mapBlocks = new Uint8Array(Math.ceil(map.length / BLOCK) * BLOCK);
  mapBlocks.set(map);
  const x = paxText([['GNU.sparse.major', '1'], ['GNU.sparse.minor', '0'], ['GNU.sparse.name', 'sparse'], ['GNU.sparse.realsize', String(n * (gap + 1))]]);
  return concat([entry({ name: 'PaxHeaders/x', typeflag: 'x' }, x), entry({ name: 'GNUSparseFile.0/sparse' }, concat([mapBlocks, new Uint8Array(n).fill(0x5a)])), END]);
}

/** A file of `bytes` zeros (a multiple of 64 MiB for gzip, 128 KiB for zstd) in a few KB or MB of gzip/zstd. */
export function zerosFileBomb(wrap: 'gzip' | 'zstd', bytes: number): Uint8Array {
  const c = wrap === 'gzip' ? gzip : zstd;
  const zeros = wrap === 'zstd' ? zstdZeros(bytes) : repeat(gzipSync(new Uint8Array(64 << 20), { level: 9 }), bytes / (64 << 20));
  return concat([c(concat([entry({ name: 'hello' }, enc('hi')), header({ name: 'zeros.img', size: bytes })])), zeros, c(END)]);
}

/** A small tar, its end-of-archive blocks, then `bytes` zeros, as zstd RLE blocks (4 bytes per 128 KiB). */
export function zstdTrailerBomb(bytes: number): Uint8Array {
  return concat([zstd(healthyTar()), zstdZeros(bytes)]);
}

function repeat(b: Uint8Array, n: number): Uint8Array {
  const out = new Uint8Array(b.length * n);
  for (let k = 0; k < n; k++) out.set(b, k * b.length);
  return out;
}

/** A file whose owner does not fit 32 bits: a pax `uid`/`gid` record, or a base-256 uid of -1. */
export function ownerPast32Bits(how: 'pax-uid' | 'pax-gid' | 'base256-negative'): Uint8Array {
  if (how === 'base256-negative') {
    const h = header({ name: 'neg-owner', size: 2 });
    writeNumber(h, 108, 8, -1n, 'base256');
    setChecksum(h);
    return concat([h, new Uint8Array(BLOCK).fill(0x61, 0, 2), END]);
  }
  const x = paxText([[how === 'pax-uid' ? 'uid' : 'gid', '4294967296']]);
  return concat([entry({ name: 'PaxHeaders/x', typeflag: 'x' }, x), entry({ name: 'big-owner' }, enc('x')), END]);
}

/** `n` empty regular files in one directory (a plain tar of n + 2 blocks... and the end). */
export function manyEmptyFiles(n: number): Uint8Array {
  const out = new Uint8Array((n + 2) * BLOCK);
  const h = header({ name: 'x' });
  for (let k = 0; k < n; k++) {
    const b = out.subarray(k * BLOCK, (k + 1) * BLOCK);
    b.set(h);
    writeBytes(b, 0, 100, `files/f${k}`);
    setChecksum(b);
  }
  return out;
}

/** Headers of `n` empty files in 1000 directories, generated as a stream (no 512·n-byte buffer). */
export function* manyEntriesStream(n: number): Generator<Uint8Array> {
  const h = header({ name: 'x' });
  for (let k = 0; k < n; k += 1000) {
    const m = Math.min(1000, n - k);
    const out = new Uint8Array(m * BLOCK);
    for (let i = 0; i < m; i++) {
      const b = out.subarray(i * BLOCK, (i + 1) * BLOCK);
      b.set(h);
      writeBytes(b, 0, 100, `d${(k + i) % 1000}/f${k + i}`);
      setChecksum(b);
    }
    yield out;
  }
  yield END;
}

/** One file `depth` directories deep (a pax path `a/a/…/f`), gzipped: a few KB for 10^6. */
export function deepPath(depth: number): Uint8Array {
  const path = enc(`${'a/'.repeat(depth)}f`);
  return gzip(concat([entry({ name: 'PaxHeaders/x', typeflag: 'x' }, concat([paxRecord('path', path)])), entry({ name: 'ignored' }, enc('deep')), END]));
}

/** A global pax header of `records` records `6 a=b\n`, then `entries` empty files; zstd'd. */
export function globalFlood(records: number, entries: number): Uint8Array {
  const one = paxRecord('a', 'b');
  const data = repeat(one, records);
  const body = new Uint8Array(entries * BLOCK);
  const h = header({ name: 'f' });
  for (let k = 0; k < entries; k++) {
    const b = body.subarray(k * BLOCK, (k + 1) * BLOCK);
    b.set(h);
    writeBytes(b, 0, 100, `f${k}`);
    setChecksum(b);
  }
  return zstd(concat([entry({ name: 'GlobalHead.0/g', typeflag: 'g' }, data), body, END]));
}

/** A file whose pax mtime is `value` (the one that rounds past 2^53: "-9007199254740991.999999999"). */
export function paxTime(value = '-9007199254740991.999999999'): Uint8Array {
  return concat([entry({ name: 'PaxHeaders/x', typeflag: 'x' }, paxText([['mtime', value]])), entry({ name: 'old' }, enc('x')), END]);
}

/** A pax 0.1 sparse file of `realSize` bytes holding one byte at its end. */
export function hugeSparse(realSize: number): Uint8Array {
  return sparse01([realSize - 1, 1], realSize, 1);
}

/** A character device `dev/odd` with the given numbers (ustar fields; base-256 when too big for octal). */
export function deviceNumber(major: number | bigint, minor: number | bigint): Uint8Array {
  const h = header({ name: 'dev/odd', typeflag: '3', mode: 0o600 });
  writeNumber(h, 329, 8, major);
  writeNumber(h, 337, 8, minor);
  setChecksum(h);
  return concat([h, END]);
}
