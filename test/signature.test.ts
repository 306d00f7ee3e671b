/**
 * Signatures (docs/FORMAT.md §14): the pure block and message codecs, keys and fingerprints,
 * keygen / sign / verify --pubkey / --signature-only / inspect through the library and the
 * built CLI, what a signature covers (one flipped byte in each region), re-signing, refusals
 * (version 3 archives, wrong keys, unsigned archives, bytes after the block) and the atomic
 * rewrite that leaves the original untouched on failure.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createPrivateKey, createPublicKey, generateKeyPairSync, verify as cryptoVerify } from 'node:crypto';
import {
  appendFileSync, chmodSync, copyFileSync, lstatSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync,
} from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  Archive, BadSignatureError, CorruptArchiveError, HEADER_SIZE, MemorySource, StoreError, UnsupportedError, UsageError,
  checkSignature, fingerprint, generateKeyFiles, loadPrivateKey, loadPublicKey, rewriteFile, signArchive, verify,
} from '../src/index.ts';
import { decodeHeader } from '../src/format/header.ts';
import {
  decodeSignatureBlock, encodeSignatureBlock, neutralHeader, SIGNATURE_BLOCK_SIZE, signatureMessage, withSignatureExtent,
} from '../src/format/signature.ts';
import { blake3 } from '../src/hash/blake3.ts';
import { Blake3Stream } from '../src/hash/blake3-stream.ts';
import { coveredDigest } from '../src/ops/covered-digest.ts';
import { changePassword } from '../src/ops/passwd.ts';
import { HEXZ_BIN, assertNoNodeWarning, assertOneErrorLine, listDir, mixedData, packSmall, randomData, runCli, tempDir, writeData } from './helpers.ts';

const tmp = tempDir('hexz-sign-');
after(() => tmp.cleanup());

const BLOCK = 16384;
const disk = mixedData(20 * BLOCK + 777, { unit: BLOCK, seed: 141 });
const memory = mixedData(4 * BLOCK, { unit: BLOCK, seed: 142 });
/** An unsigned version 4 archive with both streams, and its bytes. */
let unsignedPath: string;
let unsigned: Buffer;
let keyA: { privateKey: string; publicKey: string; fingerprint: string };
let keyB: { privateKey: string; publicKey: string; fingerprint: string };
/** `unsigned` signed with key A (library), and its bytes. */
let signedPath: string;
let signed: Buffer;

let seq = 0;
/** A fresh path in the suite's temp dir. */
function fresh(name: string): string {
  return tmp.path(`${seq++}-${name}`);
}

/** Runs the CLI and fails with its stderr when the exit code is not `expected`. */
function hexz(args: string[], expected = 0) {
  const r = runCli(args);
  assert.equal(r.status, expected, `hexz ${args.join(' ')} exited ${r.status}, expected ${expected}; stderr:\n${r.stderr}`);
  return r;
}

/** Little-endian helpers over archive bytes. */
const u64 = (b: Uint8Array, at: number) => Number(Buffer.from(b.buffer, b.byteOffset, b.byteLength).readBigUInt64LE(at));
const u32 = (b: Uint8Array, at: number) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).readUInt32LE(at);

/** A copy of `bytes` with byte `at` XOR-ed with `mask`, written to a fresh file. */
function flipped(bytes: Uint8Array, at: number, name: string, mask = 0x01): string {
  const copy = Buffer.from(bytes);
  copy[at] ^= mask;
  return writeData(fresh(`${name}.hxz`), copy);
}

/** Like {@link flipped}, for a header byte, with the header checksum recomputed so the header stays valid. */
function flippedHeader(bytes: Uint8Array, at: number, name: string): string {
  const copy = Buffer.from(bytes);
  copy[at] ^= 0x01;
  copy.set(blake3(copy.subarray(0, HEADER_SIZE - 32)), HEADER_SIZE - 32);
  return writeData(fresh(`${name}.hxz`), copy);
}

/** Temporary files a rewrite or atomic write may leave behind (none, if it cleans up). */
function leftovers(): string[] {
  return listDir(tmp.dir).filter((n) => n.includes('hexz-tmp'));
}

before(async () => {
  const d = writeData(tmp.path('disk.raw'), disk);
  const m = writeData(tmp.path('memory.raw'), memory);
  unsignedPath = tmp.path('unsigned.hxz');
  await packSmall({ disk: d, memory: m, output: unsignedPath, blockSize: BLOCK });
  unsigned = readFileSync(unsignedPath);
  keyA = await generateKeyFiles(tmp.path('alice'));
  keyB = await generateKeyFiles(tmp.path('bob'));
  signedPath = tmp.path('signed.hxz');
  copyFileSync(unsignedPath, signedPath);
  await signArchive(signedPath, { key: keyA.privateKey, now: () => Date.UTC(2026, 0, 2, 3, 4, 5, 678) });
  signed = readFileSync(signedPath);
});

describe('format: signature block, neutral header, message', () => {
  const block = { version: 1, algorithm: 1, signedAtMs: 1_767_225_600_123, publicKey: randomData(32, 1), signature: randomData(64, 2) };

  test('the block round-trips and has the §14 layout', () => {
    const bytes = encodeSignatureBlock(block);
    assert.equal(bytes.length, SIGNATURE_BLOCK_SIZE);
    assert.equal(Buffer.from(bytes.subarray(0, 4)).toString('latin1'), 'HXSG');
    assert.deepEqual([bytes[4], bytes[5], bytes[6], bytes[7]], [1, 0, 1, 0]);
    assert.equal(u64(bytes, 8), block.signedAtMs);
    assert.deepEqual(bytes.subarray(16, 48), block.publicKey);
    assert.deepEqual(bytes.subarray(48, 112), block.signature);
    assert.ok(bytes.subarray(112).every((b) => b === 0), 'reserved bytes are zero');
    assert.deepEqual(decodeSignatureBlock(bytes), block);
  });

  test('decode refuses a bad size or magic as corrupt, an unknown version or algorithm as unsupported', () => {
    const bytes = encodeSignatureBlock(block);
    assert.throws(() => decodeSignatureBlock(bytes.subarray(0, 127)), CorruptArchiveError);
    const badMagic = bytes.slice();
    badMagic[0] ^= 1;
    assert.throws(() => decodeSignatureBlock(badMagic), CorruptArchiveError);
    const v2 = bytes.slice();
    v2[4] = 2;
    assert.throws(() => decodeSignatureBlock(v2), UnsupportedError);
    const alg2 = bytes.slice();
    alg2[6] = 2;
    assert.throws(() => decodeSignatureBlock(alg2), UnsupportedError);
  });

  test('the neutral header zeroes exactly 112..128 and 132..256 of [0, 4064)', () => {
    const h = randomData(HEADER_SIZE, 3);
    const n = neutralHeader(h);
    assert.equal(n.length, 4064);
    for (let i = 0; i < 4064; i++) {
      const zeroed = (i >= 112 && i < 128) || (i >= 132 && i < 256);
      assert.equal(n[i], zeroed ? 0 : h[i], `byte ${i}`);
    }
  });

  test('the message is HXZS ‖ archive id ‖ u64 signed at ‖ D, 60 bytes', () => {
    const id = randomData(16, 4);
    const d = randomData(32, 5);
    const m = signatureMessage(id, 0x0102030405, d);
    assert.equal(m.length, 60);
    assert.equal(Buffer.from(m.subarray(0, 4)).toString('latin1'), 'HXZS');
    assert.deepEqual(m.subarray(4, 20), id);
    assert.equal(u64(m, 20), 0x0102030405);
    assert.deepEqual(m.subarray(28), d);
  });

  test('incremental BLAKE3 equals one-shot BLAKE3 over the concatenation', () => {
    const data = randomData(300_001, 6);
    const s = new Blake3Stream();
    for (let at = 0; at < data.length; at += 65_537) s.update(data.subarray(at, at + 65_537));
    assert.deepEqual(s.digest(), new Uint8Array(blake3(data)));
  });
});

describe('keys: generation, PEM files, fingerprints', () => {
  test('fingerprint is SHA256: + unpadded base64 of SHA-256 of the raw 32-byte key', async () => {
    const pub = await loadPublicKey(keyA.publicKey);
    const raw = Buffer.from(pub.export({ format: 'jwk' }).x!, 'base64url');
    assert.equal(raw.length, 32);
    const { createHash } = await import('node:crypto');
    const expected = `SHA256:${createHash('sha256').update(raw).digest('base64').replace(/=+$/, '')}`;
    assert.equal(fingerprint(pub), expected);
    assert.equal(fingerprint(new Uint8Array(raw)), expected);
    assert.equal(keyA.fingerprint, expected);
    assert.match(expected, /^SHA256:[A-Za-z0-9+/]{43}$/);
  });

  test('keygen (CLI) writes PKCS#8 and SPKI PEM, the private key mode 0600, and prints the fingerprint', () => {
    const name = fresh('carol');
    const r = hexz(['keygen', '-o', name, '--json']);
    const j = JSON.parse(r.stdout.toString('utf8'));
    assert.deepEqual(j, { privateKey: `${name}.key`, publicKey: `${name}.pub`, fingerprint: j.fingerprint });
    const keyPem = readFileSync(`${name}.key`, 'utf8');
    const pubPem = readFileSync(`${name}.pub`, 'utf8');
    assert.match(keyPem, /^-----BEGIN PRIVATE KEY-----\n/);
    assert.match(pubPem, /^-----BEGIN PUBLIC KEY-----\n/);
    assert.equal(statSync(`${name}.key`).mode & 0o777, 0o600);
    const priv = createPrivateKey(keyPem);
    assert.equal(priv.asymmetricKeyType, 'ed25519');
    assert.equal(fingerprint(createPublicKey(pubPem)), j.fingerprint);
    assert.equal(fingerprint(priv), j.fingerprint, 'the .pub is the .key’s public half');
    const text = hexz(['keygen', '-o', fresh('dave')]).stdout.toString('utf8');
    assert.match(text, /private key: .*dave\.key/);
    assert.match(text, /fingerprint: +SHA256:/);
  });

  test('keygen refuses to overwrite either file without --force, and replaces both with it', () => {
    const name = fresh('erin');
    hexz(['keygen', '-o', name]);
    const before = readFileSync(`${name}.key`);
    const r = hexz(['keygen', '-o', name], 2);
    assertOneErrorLine(r.stderr, 'keygen over existing');
    assert.match(r.stderr, /already exist/);
    assert.deepEqual(readFileSync(`${name}.key`), before);
    // Only the .pub existing is refused too, and the .key is then not written.
    const other = fresh('frank');
    writeFileSync(`${other}.pub`, 'keep me');
    hexz(['keygen', '-o', other], 2);
    assert.throws(() => statSync(`${other}.key`));
    assert.equal(readFileSync(`${other}.pub`, 'utf8'), 'keep me');
    hexz(['keygen', '-o', name, '--force']);
    assert.notDeepEqual(readFileSync(`${name}.key`), before);
    assert.equal(statSync(`${name}.key`).mode & 0o777, 0o600);
    assert.deepEqual(leftovers(), []);
  });

  test('loading keys: clear errors naming the file', async () => {
    await assert.rejects(loadPrivateKey(tmp.path('nope.key')), StoreError);
    const text = writeData(fresh('text.key'), Buffer.from('not a key\n'));
    await assert.rejects(loadPrivateKey(text), (e: Error) => e instanceof UsageError && e.message.startsWith(text) && /not a PEM private key/.test(e.message));
    await assert.rejects(loadPrivateKey(keyA.publicKey), (e: Error) => e instanceof UsageError && /is a public key/.test(e.message));
    await assert.rejects(loadPublicKey(keyA.privateKey), (e: Error) => e instanceof UsageError && /is a private key/.test(e.message));
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const rsaPath = writeData(fresh('rsa.key'), Buffer.from(rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string));
    await assert.rejects(loadPrivateKey(rsaPath), (e: Error) => e instanceof UsageError && /RSA key/.test(e.message));
    const locked = generateKeyPairSync('ed25519', { privateKeyEncoding: { type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'x' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
    const lockedPath = writeData(fresh('locked.key'), Buffer.from(locked.privateKey));
    await assert.rejects(loadPrivateKey(lockedPath), (e: Error) => e instanceof UsageError && /passphrase/.test(e.message));
  });
});

describe('sign and verify', () => {
  test('a signed archive: extent at the old end of file, length 128, header checksum valid, the rest unchanged', () => {
    assert.equal(signed.length, unsigned.length + SIGNATURE_BLOCK_SIZE);
    assert.equal(u64(signed, 112), unsigned.length);
    assert.equal(u32(signed, 120), SIGNATURE_BLOCK_SIZE);
    const h = decodeHeader(signed.subarray(0, HEADER_SIZE), blake3);
    assert.deepEqual(h.signature, { offset: unsigned.length, length: SIGNATURE_BLOCK_SIZE });
    assert.deepEqual(signed.subarray(HEADER_SIZE, unsigned.length), unsigned.subarray(HEADER_SIZE), 'everything after the header is as packed');
    assert.deepEqual(neutralHeader(signed), neutralHeader(unsigned), 'only the extent and checksum changed in the header');
  });

  test('the signature is exactly §14: D recomputed independently, verified with node:crypto', async () => {
    const h = decodeHeader(signed.subarray(0, HEADER_SIZE), blake3);
    const dataEnd = h.data.offset + h.data.length;
    const sigAt = h.signature.offset;
    const d = blake3(Buffer.concat([neutralHeader(signed), signed.subarray(HEADER_SIZE, h.data.offset), signed.subarray(dataEnd, sigAt)]));
    const b = decodeSignatureBlock(signed.subarray(sigAt));
    assert.equal(b.signedAtMs, Date.UTC(2026, 0, 2, 3, 4, 5, 678));
    const msg = Buffer.concat([Buffer.from('HXZS'), h.archiveId, signed.subarray(sigAt + 8, sigAt + 16), d]);
    assert.ok(cryptoVerify(null, msg, await loadPublicKey(keyA.publicKey), b.signature));
    assert.equal(fingerprint(b.publicKey), keyA.fingerprint);
    assert.deepEqual(await coveredDigest(new MemorySource(signed, 'mem'), signed.subarray(0, HEADER_SIZE), h, signed.length), new Uint8Array(d));
  });

  test('the signature extent and the key envelope are not covered', async () => {
    const h = decodeHeader(signed.subarray(0, HEADER_SIZE), blake3);
    const src = new MemorySource(signed, 'mem');
    const d = await coveredDigest(src, signed.subarray(0, HEADER_SIZE), h, signed.length);
    const changed = Buffer.from(signed.subarray(0, HEADER_SIZE));
    for (const at of [112, 120, 127, 132, 200, 255]) changed[at] ^= 0xff;
    assert.deepEqual(await coveredDigest(src, changed, h, signed.length), d);
    changed[128] ^= 1; // the cipher id is covered
    assert.notDeepEqual(await coveredDigest(src, changed, h, signed.length), d);
  });

  test('library: checkSignature and verify with and without the public key', async () => {
    const pub = await loadPublicKey(keyA.publicKey);
    const untrusted = await checkSignature(signedPath);
    assert.deepEqual(untrusted, {
      signed: true, algorithm: 'Ed25519', fingerprint: keyA.fingerprint, signedAt: '2026-01-02T03:04:05.678Z', valid: true, keyTrusted: false,
    });
    assert.equal((await checkSignature(signedPath, { publicKey: pub })).keyTrusted, true);
    const wrong = await checkSignature(signedPath, { publicKey: await loadPublicKey(keyB.publicKey) });
    assert.equal(wrong.valid, false);
    assert.equal(wrong.reason, `signed by a different key ${keyA.fingerprint} (expected ${keyB.fingerprint})`);
    assert.deepEqual(await checkSignature(unsignedPath), { signed: false, valid: false, keyTrusted: false, reason: 'not signed' });
    const r = await verify(signedPath, { publicKey: pub });
    assert.equal(r.ok, true, JSON.stringify(r.error));
    assert.deepEqual(r.checks.map((c) => [c.name, c.ok]), [['header', true], ['signature', true], ['disk stream', true], ['memory stream', true]]);
    assert.deepEqual(r.signature, { signed: true, fingerprint: keyA.fingerprint, signedAt: '2026-01-02T03:04:05.678Z', valid: true, trusted: true });
  });

  test('CLI: sign, then verify --pubkey exits 0; --json lists each check; inspect shows the fingerprint', () => {
    const path = fresh('cli.hxz');
    copyFileSync(unsignedPath, path);
    const s = JSON.parse(hexz(['sign', path, '--key', keyA.privateKey, '--json']).stdout.toString('utf8'));
    assert.equal(s.fingerprint, keyA.fingerprint);
    assert.equal(s.bytes, statSync(path).size);
    assert.equal(s.replaced, false);
    assert.ok(!Number.isNaN(Date.parse(s.signedAt)));
    const ok = hexz(['verify', path, '--pubkey', keyA.publicKey]);
    assert.match(ok.stdout.toString('utf8'), new RegExp(`: OK \\(.*\\); signature valid \\(key ${escape(keyA.fingerprint)} matches --pubkey\\)`));
    const untrusted = hexz(['verify', path]).stdout.toString('utf8');
    assert.ok(untrusted.includes(`signature valid (key ${keyA.fingerprint} not checked: pass --pubkey)`), untrusted);
    const j = JSON.parse(hexz(['verify', path, '--pubkey', keyA.publicKey, '--json']).stdout.toString('utf8'));
    assert.equal(j.ok, true);
    assert.deepEqual(j.checks.map((c: any) => [c.name, c.ok]), [['header', true], ['signature', true], ['disk stream', true], ['memory stream', true]]);
    assert.equal(j.signature.fingerprint, keyA.fingerprint);
    assert.equal(j.signature.trusted, true);
    const only = hexz(['verify', path, '--pubkey', keyA.publicKey, '--signature-only']).stdout.toString('utf8');
    assert.ok(only.includes('signature valid') && only.includes('blocks not checked (--signature-only)'), only);
    const text = hexz(['inspect', path]).stdout.toString('utf8');
    assert.match(text, new RegExp(`signature: +Ed25519, key ${escape(keyA.fingerprint)}, signed ${escape(s.signedAt)} \\(not verified; run hexz verify --pubkey\\)`));
    const ij = JSON.parse(hexz(['inspect', path, '--json']).stdout.toString('utf8'));
    assert.deepEqual(ij.signature, { algorithm: 'Ed25519', fingerprint: keyA.fingerprint, signedAt: s.signedAt, verified: false });
    assert.match(hexz(['inspect', unsignedPath]).stdout.toString('utf8'), /signature: +none/);
    assert.equal(JSON.parse(hexz(['inspect', unsignedPath, '--json']).stdout.toString('utf8')).signature, null);
  });

  test('an unsigned archive: verify passes without --pubkey (no signature check), fails with exit 10 with it', () => {
    const j = JSON.parse(hexz(['verify', unsignedPath, '--json']).stdout.toString('utf8'));
    assert.deepEqual(j.checks.map((c: any) => c.name), ['header', 'disk stream', 'memory stream']);
    assert.deepEqual(j.signature, { signed: false, valid: false, trusted: false });
    const r = hexz(['verify', unsignedPath, '--pubkey', keyA.publicKey], 10);
    assertOneErrorLine(r.stderr, 'unsigned with --pubkey');
    assert.ok(r.stderr.includes('not signed') && r.stderr.includes(keyA.fingerprint), r.stderr);
    const rj = runCli(['verify', unsignedPath, '--pubkey', keyA.publicKey, '--json']);
    assert.equal(rj.status, 10);
    assert.equal(JSON.parse(rj.stdout.toString('utf8')).error.code, 'BAD_SIGNATURE');
    hexz(['verify', unsignedPath, '--signature-only'], 10);
  });

  test('the wrong public key: exit 10 naming both fingerprints', () => {
    const r = hexz(['verify', signedPath, '--pubkey', keyB.publicKey], 10);
    assertOneErrorLine(r.stderr, 'wrong key');
    assert.ok(r.stderr.includes(`signed by a different key ${keyA.fingerprint} (expected ${keyB.fingerprint})`), r.stderr);
    hexz(['verify', signedPath, '--pubkey', keyB.publicKey, '--signature-only'], 10);
  });

  test('verify --pubkey with a bad key file: exit 2 or 6, one line', () => {
    assertOneErrorLine(hexz(['verify', signedPath, '--pubkey', keyA.privateKey], 2).stderr, 'private key as --pubkey');
    assertOneErrorLine(hexz(['verify', signedPath, '--pubkey', tmp.path('nope.pub')], 6).stderr, 'missing --pubkey');
  });
});

describe('what the signature covers: one flipped byte per region', () => {
  let h: ReturnType<typeof decodeHeader>;
  let sigAt: number;
  let dataEnd: number;
  let firstBlock: number;
  before(async () => {
    h = decodeHeader(signed.subarray(0, HEADER_SIZE), blake3);
    sigAt = h.signature.offset;
    dataEnd = h.data.offset + h.data.length;
    const a = await Archive.open(signedPath);
    for await (const e of a.entries('disk')) if (e.kind === 1) { firstBlock = e.storedOffset; break; }
    await a.close();
  });

  /** verify --pubkey A on `path` (library); returns the exit code the CLI would give and the report. */
  async function code(path: string) {
    const r = await verify(path, { publicKey: await loadPublicKey(keyA.publicKey) });
    return { exit: r.ok ? 0 : r.error!.exitCode, r };
  }

  test('the header, checksum not fixed: the header check fails first (exit 4)', async () => {
    const { exit, r } = await code(flipped(signed, 2000, 'header-raw'));
    assert.equal(exit, 4);
    assert.deepEqual(r.checks.map((c) => [c.name, c.ok]), [['header', false]]);
  });

  test('the header with its checksum recomputed: exit 10 (CLI)', () => {
    for (const at of [2000, 32 /* created */, 16 /* archive id */]) {
      const r = hexz(['verify', flippedHeader(signed, at, `header-${at}`), '--pubkey', keyA.publicKey], 10);
      assertOneErrorLine(r.stderr, `header byte ${at}`);
      assert.match(r.stderr, /BAD SIGNATURE: signature does not verify/);
    }
  });

  test('the index region: exit 10, before any block is read', async () => {
    for (const at of [dataEnd, dataEnd + 100, h.streams[0].rootOffset + 20]) {
      const { exit, r } = await code(flipped(signed, at, `index-${at}`));
      assert.equal(exit, 10, `index byte ${at}: ${JSON.stringify(r.error)}`);
      assert.deepEqual(r.checks.map((c) => [c.name, c.ok]), [['header', true], ['signature', false]]);
      assert.equal(r.error!.code, new BadSignatureError('x').code);
    }
  });

  test('the metadata / the last bytes before the signature block: exit 10', async () => {
    const targets = [sigAt - 1];
    if (h.metadata.length > 0) targets.push(h.metadata.offset, h.metadata.offset + h.metadata.length - 1);
    for (const at of targets) assert.equal((await code(flipped(signed, at, `tail-${at}`))).exit, 10, `byte ${at}`);
  });

  test('the signature block: public key, signature and time bytes exit 10; its magic exits 4', async () => {
    const r = hexz(['verify', flipped(signed, sigAt + 16, 'pubkey-byte'), '--pubkey', keyA.publicKey], 10);
    assert.ok(r.stderr.includes(`(expected ${keyA.fingerprint})`), r.stderr);
    // Without --pubkey the altered key is checked on its own, and the signature does not verify under it.
    hexz(['verify', flipped(signed, sigAt + 16, 'pubkey-byte2')], 10);
    for (const at of [sigAt + 48, sigAt + 111, sigAt + 8]) assert.equal((await code(flipped(signed, at, `sig-${at}`))).exit, 10, `byte ${at}`);
    assert.equal((await code(flipped(signed, sigAt, 'sig-magic'))).exit, 4);
    // Reserved bytes 112..128 of the block are not covered, like every reserved field.
    assert.equal((await code(flipped(signed, sigAt + 120, 'sig-reserved'))).exit, 0);
  });

  test('a data-region block: the signature stays valid, the block check fails (exit 4)', async () => {
    const path = flipped(signed, firstBlock + 5, 'data', 0x55);
    const { exit, r } = await code(path);
    assert.equal(exit, 4);
    assert.deepEqual(r.checks.map((c) => [c.name, c.ok]), [['header', true], ['signature', true], ['block', false]]);
    assert.equal(r.error!.stream, 'disk');
    // --signature-only does not read blocks, so it passes.
    hexz(['verify', path, '--pubkey', keyA.publicKey, '--signature-only']);
    hexz(['verify', path, '--pubkey', keyA.publicKey], 4);
  });

  test('bytes appended after the signature block: corrupt (exit 4), inspect reports it', async () => {
    const path = fresh('appended.hxz');
    copyFileSync(signedPath, path);
    appendFileSync(path, Buffer.from('trailing'));
    assert.equal((await code(path)).exit, 4);
    await assert.rejects(checkSignature(path), CorruptArchiveError);
    const r = hexz(['verify', path], 4);
    assert.match(r.stderr, /does not end at the end of the file/);
    assert.match(hexz(['inspect', path]).stdout.toString('utf8'), /signature: +damaged/);
  });

  test('a signature extent of another length: corrupt', async () => {
    const copy = Buffer.from(signed);
    copy.set(withSignatureExtent(copy, { offset: sigAt, length: 64 }, blake3), 0);
    assert.equal((await code(writeData(fresh('len64.hxz'), copy))).exit, 4);
  });

  test('re-signing makes a changed archive valid again', async () => {
    const path = flippedHeader(signed, 2000, 'resign');
    assert.equal((await code(path)).exit, 10);
    const before = statSync(path).size;
    const r = hexz(['sign', path, '--key', keyA.privateKey]);
    assert.match(r.stdout.toString('utf8'), /re-signed with key/);
    assert.equal(statSync(path).size, before);
    assert.equal((await code(path)).exit, 0);
  });
});

describe('re-signing and refusals', () => {
  test('re-signing with another key replaces the signature in place (same size)', async () => {
    const path = fresh('rekey.hxz');
    copyFileSync(signedPath, path);
    const r = await signArchive(path, { key: await loadPrivateKey(keyB.privateKey), now: () => 5 });
    assert.equal(r.replaced, true);
    assert.equal(r.signedAt, '1970-01-01T00:00:00.005Z');
    const after = readFileSync(path);
    assert.equal(after.length, signed.length);
    assert.deepEqual(after.subarray(HEADER_SIZE, u64(signed, 112)), signed.subarray(HEADER_SIZE, u64(signed, 112)));
    hexz(['verify', path, '--pubkey', keyB.publicKey]);
    const bad = hexz(['verify', path, '--pubkey', keyA.publicKey], 10);
    assert.ok(bad.stderr.includes(`signed by a different key ${keyB.fingerprint} (expected ${keyA.fingerprint})`), bad.stderr);
  });

  test('signing a version 3 golden vector is refused (exit 5), the file untouched', () => {
    const root = fileURLToPath(new URL('./vectors/', import.meta.url));
    const v3 = (readdirSync(root, { recursive: true }) as string[])
      .filter((p) => p.endsWith('.hxz'))
      .map((p) => join(root, p))
      .find((p) => readFileSync(p).readUInt16LE(4) === 3);
    assert.ok(v3, 'a version 3 vector exists under test/vectors');
    const path = fresh(basename(v3));
    copyFileSync(v3, path);
    const r = hexz(['sign', path, '--key', keyA.privateKey], 5);
    assertOneErrorLine(r.stderr, 'sign v3');
    assert.match(r.stderr, /signing needs a format version 4 archive; repack it with this hexz/);
    assert.deepEqual(readFileSync(path), readFileSync(v3));
    assert.deepEqual(leftovers(), []);
  });

  test('a failed sign leaves the archive untouched and no temporary file', async () => {
    const path = fresh('keep.hxz');
    copyFileSync(unsignedPath, path);
    const mtime = statSync(path).mtimeMs;
    assertOneErrorLine(hexz(['sign', path, '--key', tmp.path('missing.key')], 6).stderr, 'missing key');
    assertOneErrorLine(hexz(['sign', path, '--key', keyA.publicKey], 2).stderr, 'public key as --key');
    assertOneErrorLine(hexz(['sign', tmp.path('missing.hxz'), '--key', keyA.privateKey], 6).stderr, 'missing archive');
    const text = writeData(fresh('text.hxz'), Buffer.from('hello, not an archive\n'.repeat(300)));
    assertOneErrorLine(hexz(['sign', text, '--key', keyA.privateKey], 3).stderr, 'not an archive');
    // A truncated archive fails inside the rewrite, after the copy was made.
    const truncated = writeData(fresh('truncated.hxz'), unsigned.subarray(0, unsigned.length - 10));
    await assert.rejects(signArchive(truncated, { key: keyA.privateKey }), CorruptArchiveError);
    assert.equal(statSync(truncated).size, unsigned.length - 10);
    assert.deepEqual(readFileSync(path), unsigned);
    assert.equal(statSync(path).mtimeMs, mtime);
    assert.deepEqual(leftovers(), []);
  });

  test('sign keeps the file mode and follows a symlink', async () => {
    const path = fresh('mode.hxz');
    copyFileSync(unsignedPath, path);
    chmodSync(path, 0o640);
    const link = fresh('link.hxz');
    symlinkSync(path, link);
    await signArchive(link, { key: keyA.privateKey });
    assert.ok(lstatSync(link).isSymbolicLink(), 'the link is still a link');
    assert.equal(statSync(path).mode & 0o777, 0o640);
    assert.equal((await checkSignature(path)).valid, true);
  });
});

describe('rewriteFile', () => {
  test('patches a copy and renames it over the original', async () => {
    const path = writeData(fresh('rw.bin'), Buffer.from('hello world'));
    await rewriteFile(path, async (fh, size) => {
      assert.equal(size, 11);
      await fh.write(Buffer.from('J'), 0, 1, 0);
      await fh.truncate(5);
    });
    assert.equal(readFileSync(path, 'utf8'), 'Jello');
    assert.deepEqual(leftovers(), []);
  });

  test('an exception in the patch leaves the original untouched and removes the copy', async () => {
    const path = writeData(fresh('rw2.bin'), Buffer.from('original'));
    await assert.rejects(rewriteFile(path, async (fh) => {
      await fh.write(Buffer.from('XXXX'), 0, 4, 0);
      throw new UsageError('nope');
    }), UsageError);
    assert.equal(readFileSync(path, 'utf8'), 'original');
    assert.deepEqual(leftovers(), []);
    await assert.rejects(rewriteFile(fresh('absent.bin'), async () => {}), StoreError);
  });
});

describe('encrypted archives', () => {
  test('signed without the password; verify --signature-only needs none; a full verify needs it', async () => {
    const path = fresh('enc.hxz');
    await packSmall({
      disk: tmp.path('disk.raw'), output: path, blockSize: BLOCK,
      encrypt: { password: 'correct horse', kdf: { memoryKiB: 64, iterations: 1, lanes: 1 } },
    });
    hexz(['sign', path, '--key', keyA.privateKey]);
    const only = hexz(['verify', path, '--pubkey', keyA.publicKey, '--signature-only']).stdout.toString('utf8');
    assert.ok(only.includes(`signature valid (key ${keyA.fingerprint} matches --pubkey); blocks not checked (--signature-only)`), only);
    const env: NodeJS.ProcessEnv = { ...process.env, HEXZ_PASSWORD: 'correct horse' };
    delete env.HEXZ_DEBUG;
    const full = spawnSync(process.execPath, [HEXZ_BIN, 'verify', path, '--pubkey', keyA.publicKey], { env, encoding: 'utf8' });
    assert.equal(full.status, 0, full.stderr);
    assertNoNodeWarning(full.stderr, 'verify');
    assert.match(full.stdout, /: OK \(.*\); signature valid/);
    const r = await verify(path, { publicKey: await loadPublicKey(keyA.publicKey), password: 'correct horse' });
    assert.equal(r.ok, true, JSON.stringify(r.error));
    assert.ok(r.blocksChecked > 0);
    // passwd replaces only the key envelope (header 132..256), which the signature leaves out.
    const before = readFileSync(path);
    await changePassword(path, { oldPassword: 'correct horse', newPassword: 'battery staple', kdf: { memoryKiB: 64, iterations: 1, lanes: 1 } });
    assert.notDeepEqual(readFileSync(path).subarray(132, 256), before.subarray(132, 256));
    const again = await verify(path, { publicKey: await loadPublicKey(keyA.publicKey), password: 'battery staple' });
    assert.equal(again.ok, true, JSON.stringify(again.error));
    assert.equal(again.signature?.trusted, true);
  });
});

/** `s` with regular-expression metacharacters escaped. */
function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
