import type { KeyObject } from 'node:crypto';
import { Archive, type PasswordOption } from '../node/archive.js';
import { fingerprint } from '../crypto/signing.js';
import { EntryKind } from '../format/constants.js';
import { isSigned } from '../format/signature.js';
import { openSource } from '../store/open-source.js';
import { parentOf } from '../store/locations.js';
import type { ByteSource } from '../store/types.js';
import { AbortedError, BadSignatureError, HexzError, exitCodeFor } from '../errors.js';
import { checkSignature } from './check-signature.js';
import { entryBatches } from './entry-batches.js';

/** Options of {@link verify}. */
export interface VerifyOptions {
  signal?: AbortSignal;
  /** Called as blocks are checked: logical bytes done and total. */
  onProgress?: (done: number, total: number) => void;
  /**
   * The public key the archive must be signed with (`--pubkey`). Without it a signature is
   * still checked, against the key embedded in it, and reported as valid but untrusted.
   */
  publicKey?: KeyObject;
  /** Check the header and the signature only; read no index node for blocks and no block (`--signature-only`). */
  signatureOnly?: boolean;
  /**
   * Password of an encrypted archive; not needed with `signatureOnly`. A function is called
   * only when the archive is encrypted; what it throws is thrown by verify (not reported).
   */
  password?: PasswordOption;
  /**
   * Directories to look in for the parents of a thin archive (docs/FORMAT.md §15.4). A full
   * verify reads the blocks a thin archive refers to in its parents, so a missing, replaced or
   * modified parent fails it (MissingParentError, exit 8); `signatureOnly` opens no parent.
   */
  parentDirs?: string[];
}

/** The signature part of a {@link VerifyReport}. */
export interface VerifySignatureReport {
  signed: boolean;
  /** `SHA256:…` of the key embedded in the signature, when signed. */
  fingerprint?: string;
  /** When it was signed (ISO 8601), when signed. */
  signedAt?: string;
  /** True when the signature verifies (and, with a public key, was made by it). */
  valid: boolean;
  /** True when valid and made by the public key the caller gave. */
  trusted: boolean;
}

/** The outcome of {@link verify}. */
export interface VerifyReport {
  file: string;
  ok: boolean;
  /** Checks that ran, in order, with their outcome. */
  checks: { name: string; ok: boolean; detail?: string }[];
  /** The archive's signature, once the header could be read. */
  signature?: VerifySignatureReport;
  /** True when blocks were not read (`signatureOnly`). */
  signatureOnly: boolean;
  /** Blocks whose content hash was checked, and the logical bytes they cover. */
  blocksChecked: number;
  bytesChecked: number;
  /** The first damage found, if any. */
  error?: { code: string; exitCode: number; message: string; stream?: string; offset?: number; fileOffset?: number; stage?: string };
  seconds: number;
}

/**
 * Checks an archive, in order: the header (checksum, fields, layout); the signature, when the
 * archive is signed or `publicKey` or `signatureOnly` is given (docs/FORMAT.md §14); then,
 * unless `signatureOnly`, every index node's hash, that the index tiles each stream exactly,
 * and every block's decoding and content hash. Stops at the first failure and reports where it
 * is; never throws for damage (only for cancellation, or when a `password` function fails). A
 * bad signature is reported as a BadSignatureError (exit 10): it does not verify, it was made
 * by another key than `publicKey`, or the archive is unsigned although `publicKey` or
 * `signatureOnly` asked for one.
 * @throws AbortedError when `signal` aborts.
 * @throws whatever a `password` function throws (no password available, Ctrl-C at a prompt):
 *   a failure to get the password says nothing about the archive.
 * @example
 * const r = await verify('vm.hxz', { publicKey: await loadPublicKey('release.pub') });
 * if (!r.ok) console.error(r.error);
 */
export async function verify(path: string, options: VerifyOptions = {}): Promise<VerifyReport> {
  const started = Date.now();
  const signatureOnly = options.signatureOnly ?? false;
  const report: VerifyReport = { file: path, ok: true, checks: [], signatureOnly, blocksChecked: 0, bytesChecked: 0, seconds: 0 };
  let source: ByteSource | undefined;
  let a: Archive | undefined;
  let passwordError: { err: unknown } | undefined;
  const ask = options.password;
  const password: PasswordOption | undefined = typeof ask !== 'function' ? ask : () => ask().catch((err: unknown) => {
    passwordError = { err };
    throw err;
  });
  try {
    source = await openSource(path);
    a = await Archive.open(source, {
      verify: true, cacheBytes: 0, readAheadBytes: 0, baseDir: parentOf(path),
      // The signature needs no key and no block: skip unlocking, workers and the index preload.
      // The signature covers the parents table but not the parents: --signature-only opens none.
      ...(signatureOnly ? { preloadIndexBytes: 0, openParents: false } : { password, parentDirs: options.parentDirs }),
    });
    report.checks.push({ name: 'header', ok: true, detail: 'magic, version, features and checksum' });
    report.signature = { signed: isSigned(a.header), valid: false, trusted: false };
    if (report.signature.signed || options.publicKey || signatureOnly) {
      report.checks.push(await checkSignatureStep(source, report, options));
    }
    if (!signatureOnly) await checkStreams(a, report, options);
  } catch (err) {
    if (err instanceof AbortedError || (passwordError && err === passwordError.err)) throw err;
    const e = err instanceof HexzError ? err : undefined;
    report.ok = false;
    report.error = {
      code: e?.code ?? 'INTERNAL', exitCode: exitCodeFor(err), message: (err as Error)?.message ?? String(err),
      stream: e?.location.stream, offset: e?.location.offset, fileOffset: e?.location.fileOffset, stage: e?.location.stage,
    };
    report.checks.push({ name: e?.location.stage ?? 'open', ok: false, detail: report.error.message });
  } finally {
    await a?.close();
    await source?.close?.();
  }
  report.seconds = (Date.now() - started) / 1000;
  return report;
}

/**
 * Checks the signature and fills `report.signature`.
 * @throws BadSignatureError when it does not vouch for the archive; as {@link checkSignature}.
 */
async function checkSignatureStep(source: ByteSource, report: VerifyReport, options: VerifyOptions): Promise<{ name: string; ok: boolean; detail: string }> {
  const s = await checkSignature(source, { publicKey: options.publicKey, signal: options.signal });
  report.signature = { signed: s.signed, fingerprint: s.fingerprint, signedAt: s.signedAt, valid: s.valid, trusted: s.keyTrusted };
  const where = { archive: report.file, stage: 'signature' };
  if (!s.signed) {
    throw new BadSignatureError(options.publicKey
      ? `not signed (--pubkey expects a signature by ${fingerprint(options.publicKey)})`
      : 'not signed (--signature-only has no signature to check)', where);
  }
  if (!s.valid) throw new BadSignatureError(s.reason ?? 'signature does not verify', where);
  const detail = s.keyTrusted
    ? `${s.algorithm} signature valid, key ${s.fingerprint} matches --pubkey, signed ${s.signedAt}`
    : `${s.algorithm} signature valid, key ${s.fingerprint} not checked: pass --pubkey; signed ${s.signedAt}`;
  return { name: 'signature', ok: true, detail };
}

/**
 * Walks every stream: node hashes, tiling, block decoding and content hashes.
 * @throws CorruptArchiveError at the first damage; WrongKeyError for a locked encrypted archive.
 */
async function checkStreams(a: Archive, report: VerifyReport, options: VerifyOptions): Promise<void> {
  const total = a.streams.reduce((n, s) => n + a.size(s), 0);
  let done = 0;
  for (const stream of a.streams) {
    // The bytes are checked by being decoded: each batch's buffer is reused at once.
    for await (const batch of entryBatches(a, stream, options.signal, { recycle: true })) {
      batch.release?.();
      for (const e of batch.entries) {
        if (e.kind !== EntryKind.ZERO) {
          report.blocksChecked++;
          report.bytesChecked += e.length;
        }
        done += e.length;
      }
      options.onProgress?.(done, total);
    }
    report.checks.push({ name: `${stream} stream`, ok: true, detail: 'index nodes, tiling, block decoding and content hashes' });
  }
}
