/**
 * Regenerates test/fixtures/hostile/: small crafted archives, each named after the defect the
 * fuzzer found with it (test/fuzz.test.ts asserts the error each must give).
 *   node --import tsx scripts/fuzz/make-hostile.ts
 *
 * kdf-costs-at-limit.hxz — an encrypted archive whose Argon2id costs (§12.2) are the largest
 * the reader accepts (4 GiB, 256 iterations, 64 lanes); the key envelope is outside the header
 * tag, so only the checksum needs recomputing. Opening it with its password made the reader
 * allocate 4 GiB and run for minutes (fuzz case cf3ee906, run seed 00000004).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pack } from '../../src/index.ts';
import { resealHeader } from '../../src/format/header.ts';
import { HEADER_SIZE } from '../../src/format/constants.ts';
import { blake3 } from '../../src/hash/blake3.ts';
import { corpusData, FUZZ_PASSWORD } from './corpus.ts';

const OUT = fileURLToPath(new URL('../../test/fixtures/hostile/', import.meta.url));

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  const tmp = mkdtempSync(join(tmpdir(), 'hexz-hostile-'));
  try {
    writeFileSync(join(tmp, 'disk.raw'), corpusData(16384, 99));
    let counter = 0;
    await pack({
      disk: join(tmp, 'disk.raw'), output: join(tmp, 'a.hxz'), workers: 1, blockSize: 4096, compression: 'zstd',
      archiveId: new Uint8Array(16).fill(0x5a), createdMs: Date.UTC(2026, 0, 1), metadata: { tool: 'hexz fuzz fixture' },
      encrypt: { password: FUZZ_PASSWORD, kdf: { memoryKiB: 8, iterations: 1, lanes: 1 }, random: (n) => new Uint8Array(n).fill(counter++) },
    });
    const b = new Uint8Array(readFileSync(join(tmp, 'a.hxz')));
    const v = new DataView(b.buffer);
    v.setUint32(132, 4194304, true);
    v.setUint32(136, 256, true);
    v.setUint32(140, 64, true);
    resealHeader(b.subarray(0, HEADER_SIZE), blake3);
    writeFileSync(join(OUT, 'kdf-costs-at-limit.hxz'), b);
    console.log(`wrote ${join(OUT, 'kdf-costs-at-limit.hxz')} (${b.length} bytes)`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
