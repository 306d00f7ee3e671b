/**
 * Re-seals a crafted archive so that only semantic checks can catch the change: every index
 * node is re-sealed (encrypted archives, with the data key the fuzzer knows) and re-hashed
 * into its referrer up to the root hash in the header; the dictionary, metadata and parents
 * table hashes are recomputed; a signed archive is re-signed with the corpus key; then the
 * header MAC (format 6, when src/crypto/header-mac.ts provides it) and the header checksum.
 */
import type { KeyObject } from 'node:crypto';
import { createPublicKey } from 'node:crypto';
import { HEADER_SIZE, NODE_HEADER_SIZE, STREAM_RECORD_SIZE, STREAM_TABLE_OFFSET } from '../../src/format/constants.ts';
import { resealHeader } from '../../src/format/header.ts';
import { nodeAad } from '../../src/format/seal-aad.ts';
import { seal } from '../../src/crypto/object-cipher.ts';
import { blake3 } from '../../src/hash/blake3.ts';
import { neutralHeader, signatureMessage, encodeSignatureBlock } from '../../src/format/signature.ts';
import { rawPublicKey, signMessage } from '../../src/crypto/signing.ts';
import type { Anatomy } from './anatomy.ts';
import { deriveKeys } from './keys.ts';

/** The optional format-6 header MAC (another engineer's work in progress; used when present). */
export type HeaderMacFn = (header: Uint8Array, dataKey: Uint8Array) => Uint8Array;

/**
 * Loads the header authentication of encrypted archives when this tree has it: `resealHeaderMac`
 * from src/crypto/header-mac.ts (the name the work was announced under), else `sealHeaderTag`
 * from src/crypto/header-tag.ts (format 6, §12.5: keyed BLAKE3 under the header key, then the
 * checksum). Undefined when neither exists: then only the checksum is resealed.
 */
export async function loadHeaderMac(): Promise<HeaderMacFn | undefined> {
  // Variable specifiers: the modules may not exist (typecheck must not require them).
  const tryImport = async (specifier: string): Promise<Record<string, unknown> | undefined> => {
    try {
      return await import(specifier) as Record<string, unknown>;
    } catch {
      return undefined;
    }
  };
  const mac = await tryImport('../../src/crypto/header-mac.ts');
  if (typeof mac?.resealHeaderMac === 'function') return mac.resealHeaderMac as HeaderMacFn;
  const tag = await tryImport('../../src/crypto/header-tag.ts');
  if (typeof tag?.sealHeaderTag === 'function') {
    const sealHeaderTag = tag.sealHeaderTag as (h: Uint8Array, keys: unknown) => Uint8Array;
    return (h, dataKey) => sealHeaderTag(h, deriveKeys(dataKey, h.subarray(16, 32), new DataView(h.buffer, h.byteOffset).getUint16(4, true)));
  }
  return undefined;
}

export interface ResealOptions {
  /** Signs a signed archive again with this key (the corpus key). */
  signingKey?: KeyObject;
  headerMac?: HeaderMacFn;
  dataKey?: Uint8Array;
}

const u64 = (v: DataView, at: number) => v.getUint32(at, true) + v.getUint32(at + 4, true) * 0x100000000;

/** A fixed nonce per node (class 2, counter 0x10000 + index) so repeated passes converge. */
function nodeNonce(i: number): Uint8Array {
  const n = new Uint8Array(12);
  const v = new DataView(n.buffer);
  v.setUint32(0, 2, true);
  v.setUint32(4, 0x10000 + i, true);
  return n;
}

/** Hash of `out[offset, offset+length)`, or undefined when the range is not inside the file. */
function hashRange(out: Uint8Array, offset: number, length: number): Uint8Array | undefined {
  if (!Number.isSafeInteger(offset) || offset < 0 || offset + length > out.length) return undefined;
  return blake3(out.subarray(offset, offset + length));
}

/**
 * Writes every (possibly edited) node plaintext of `an` back into `out`, sealed and hashed,
 * and re-seals the header. `out` is the crafted file (other edits already applied); returns it.
 */
export function reseal(an: Anatomy, out: Uint8Array, options: ResealOptions = {}): Uint8Array {
  const order = an.nodes.map((_, i) => i).sort((a, b) => an.nodes[a].level - an.nodes[b].level);
  const keys = an.cipher?.keys;
  // Passes until pointers to nodes sealed later (a retargeted child record) see final bytes.
  for (let pass = 0; pass < 3; pass++) {
    for (const i of order) {
      const n = an.nodes[i];
      const p = n.plain;
      const pv = new DataView(p.buffer, p.byteOffset, p.byteLength);
      if (n.level > 0) {
        const count = Math.min(pv.getUint32(8, true), Math.floor((p.length - NODE_HEADER_SIZE) / 64));
        for (let r = 0; r < count; r++) {
          const at = NODE_HEADER_SIZE + r * 64;
          const h = hashRange(out, u64(pv, at + 8), pv.getUint32(at + 16, true));
          if (h) p.set(h, at + 32);
        }
      }
      // The referrer's recorded first offset is what the seal is bound to (§12.3).
      let first = 0;
      if (n.referrer.kind === 'child' && NODE_HEADER_SIZE + n.referrer.record * 64 + 8 <= an.nodes[n.referrer.node].plain.length) {
        const parent = an.nodes[n.referrer.node].plain;
        first = u64(new DataView(parent.buffer, parent.byteOffset, parent.byteLength), NODE_HEADER_SIZE + n.referrer.record * 64);
      }
      const stored = keys ? seal(keys.objectKey, nodeNonce(i), p, nodeAad(an.header.archiveId, n.stream, n.level, first)) : p;
      if (n.offset + stored.length <= out.length) out.set(stored, n.offset);
      if (n.resized) {
        if (n.referrer.kind === 'root') new DataView(out.buffer, out.byteOffset).setUint32(STREAM_TABLE_OFFSET + n.referrer.stream * STREAM_RECORD_SIZE + 24, stored.length, true);
        else if (NODE_HEADER_SIZE + n.referrer.record * 64 + 20 <= an.nodes[n.referrer.node].plain.length) {
          const parent = an.nodes[n.referrer.node].plain;
          new DataView(parent.buffer, parent.byteOffset, parent.byteLength).setUint32(NODE_HEADER_SIZE + n.referrer.record * 64 + 16, stored.length, true);
        }
      }
    }
  }
  const hv = new DataView(out.buffer, out.byteOffset, HEADER_SIZE);
  for (let s = 0; s < 2; s++) {
    const at = STREAM_TABLE_OFFSET + s * STREAM_RECORD_SIZE;
    const h = hashRange(out, u64(hv, at + 16), hv.getUint32(at + 24, true));
    if (h && hv.getUint32(at + 24, true) > 0) out.set(h, at + 32);
  }
  const fix = (offsetAt: number, lengthAt: number, hashAt: number) => {
    const len = hv.getUint32(lengthAt, true);
    const h = len > 0 ? hashRange(out, u64(hv, offsetAt), len) : undefined;
    if (h) out.set(h, hashAt);
  };
  fix(80, 88, 1024); // dictionary
  fix(96, 104, 1088); // metadata
  fix(520, 528, 536); // parents table
  const finish = () => (options.headerMac && options.dataKey && an.header.encryption
    ? out.set(options.headerMac(out.subarray(0, HEADER_SIZE), options.dataKey).subarray(0, HEADER_SIZE), 0)
    : resealHeader(out.subarray(0, HEADER_SIZE), blake3));
  finish();
  const sigOffset = u64(hv, 112);
  const sigLength = hv.getUint32(120, true);
  if (options.signingKey && sigLength === 128 && sigOffset + 128 <= out.length && sigOffset >= HEADER_SIZE) {
    signInPlace(out, sigOffset, options.signingKey);
    finish();
  }
  return out;
}

/** Computes §14's digest D over `out` (signature at `sigOffset`) and writes a fresh signature block. */
function signInPlace(out: Uint8Array, sigOffset: number, key: KeyObject): void {
  const hv = new DataView(out.buffer, out.byteOffset, HEADER_SIZE);
  const dataOffset = u64(hv, 64);
  const dataEnd = dataOffset + u64(hv, 72);
  const parts = [neutralHeader(out.subarray(0, HEADER_SIZE))];
  if (dataOffset > HEADER_SIZE && dataOffset <= out.length) parts.push(out.subarray(HEADER_SIZE, dataOffset));
  if (dataEnd < sigOffset) parts.push(out.subarray(dataEnd, sigOffset));
  const d = blake3(Buffer.concat(parts));
  const signedAtMs = Date.UTC(2026, 0, 3);
  const block = encodeSignatureBlock({
    version: 1, algorithm: 1, signedAtMs, publicKey: rawPublicKey(createPublicKey(key)),
    signature: signMessage(key, signatureMessage(out.slice(16, 32), signedAtMs, d)),
  });
  out.set(block, sigOffset);
}
