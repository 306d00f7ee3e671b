/**
 * The oracle's own view of a (possibly crafted) archive: an independent walk of each stream's
 * index from the header, with the checks of FORMAT.md §6/§8.2 and the entry rules of §5, done
 * with the pure decoders of src/format and the data key the fuzzer knows. It never trusts the
 * reader under test. Bytes the reader returns are then judged against it (see checkRead in
 * run-case.ts): they must be the original bytes, or agree with every entry this walk finds
 * covering them (ZERO → zeros, stored → content hashing to the entry's hash; a SLICE → bytes
 * [skip, skip + length) of a block of its 2^b bytes hashing to the entry's hash).
 */
import { EntryKind, HEADER_SIZE, RequiredFeature, SEAL_OVERHEAD } from '../../src/format/constants.ts';
import { bytesEqual } from '../../src/format/digest.ts';
import type { IndexEntry } from '../../src/format/entry.ts';
import { decodeHeader, type Header } from '../../src/format/header.ts';
import { childRecord, decodeNode, leafEntry } from '../../src/format/index-node.ts';
import { ArchiveCipher } from '../../src/crypto/archive-cipher.ts';
import { deriveKeys } from './keys.ts';
import { blake3 } from '../../src/hash/blake3.ts';

/** One stream as the oracle sees it. */
export interface StreamModel {
  present: boolean;
  size: number;
  /** Entries found, in tree order (also from a damaged tree: every node that checks out). */
  entries: IndexEntry[];
  /** Undefined when the whole index checks out and tiles [0, size); else the first problem. */
  problem?: string;
}

export interface ArchiveModel {
  header?: Header;
  /** Why the header does not decode (then no stream has a model). */
  headerProblem?: string;
  streams: StreamModel[];
}

const MAX_NODES = 20000;

/** Walks `bytes` (the whole archive file). `dataKey` opens the nodes of an encrypted archive. */
export function modelArchive(bytes: Uint8Array, dataKey?: Uint8Array): ArchiveModel {
  let header: Header;
  try {
    if (bytes.length < HEADER_SIZE) throw new Error('shorter than a header');
    header = decodeHeader(bytes.subarray(0, HEADER_SIZE), blake3);
  } catch (err) {
    return { headerProblem: (err as Error).message, streams: [] };
  }
  const cipher = header.encryption && dataKey ? new ArchiveCipher(deriveKeys(dataKey, header.archiveId, header.version), header.archiveId) : undefined;
  const streams = header.streams.map((s, i): StreamModel => {
    const m: StreamModel = { present: s.present, size: s.logicalSize, entries: [] };
    if (!s.present) return m;
    if (s.entryCount === 0) {
      if (s.logicalSize !== 0) m.problem = 'entry count 0 with a non-zero size';
      return m;
    }
    let visited = 0;
    const fail = (why: string) => { m.problem ??= why; };
    const walk = (offset: number, length: number, hash: Uint8Array, level: number, first: number) => {
      if (++visited > MAX_NODES) return fail('too many nodes');
      if (offset + length > bytes.length) return fail(`node @${offset} beyond the file`);
      const stored = bytes.subarray(offset, offset + length);
      if (!bytesEqual(blake3(stored), hash)) return fail(`node @${offset} hash mismatch`);
      let plain = stored;
      if (header.encryption) {
        if (!cipher) return fail('encrypted and no key');
        try {
          plain = cipher.openNode(stored, i, level, first);
        } catch {
          return fail(`node @${offset} seal does not open`);
        }
      }
      let node;
      try {
        node = decodeNode(plain, level, i);
      } catch (err) {
        return fail(`node @${offset}: ${(err as Error).message}`);
      }
      if (node.firsts[0] !== first) return fail(`node @${offset} starts at ${node.firsts[0]}, referrer says ${first}`);
      for (let r = 0; r < node.count; r++) {
        if (level === 0) {
          let e: IndexEntry;
          try {
            // SLICE entries only where the header sets the SLICES feature (§5, version 8).
            e = leafEntry(node, r, header.encryption ? SEAL_OVERHEAD : 0, (header.requiredFeatures & RequiredFeature.SLICES) !== 0);
          } catch (err) {
            fail(`entry ${r} of node @${offset}: ${(err as Error).message}`);
            continue;
          }
          // Only DEDUP and SLICE entries may name a parent's block (§15.3).
          if (e.kind !== EntryKind.ZERO && e.slot !== 0 && ((e.kind !== EntryKind.DEDUP && e.kind !== EntryKind.SLICE) || e.slot > header.parents.count)) {
            fail(`entry @${e.offset} names slot ${e.slot}`);
            continue;
          }
          m.entries.push(e);
        } else {
          let c;
          try {
            c = childRecord(node, r);
          } catch (err) {
            fail(`child ${r} of node @${offset}: ${(err as Error).message}`);
            continue;
          }
          walk(c.nodeOffset, c.nodeLength, c.hash, level - 1, c.firstOffset);
        }
      }
    };
    walk(s.rootOffset, s.rootLength, s.rootHash, s.rootLevel, 0);
    let expect = 0;
    for (const e of m.entries) {
      if (e.offset !== expect) { fail(`entries do not tile at ${expect} (next entry at ${e.offset})`); break; }
      expect = e.offset + e.length;
    }
    if (!m.problem && expect !== s.logicalSize) fail(`entries cover ${expect} bytes, the stream has ${s.logicalSize}`);
    return m;
  });
  return { header, streams };
}

/**
 * The model entries covering [from, to) as one contiguous run, or a reason why there is none
 * (a gap, an overlap, or a range outside what the walk found).
 */
export function coveringEntries(m: StreamModel, from: number, to: number): IndexEntry[] | string {
  const out = m.entries.filter((e) => e.offset < to && e.offset + e.length > from);
  if (!out.length) return 'no entry covers the range';
  if (out[0].offset > from) return `range starts at ${from}, first covering entry at ${out[0].offset}`;
  for (let k = 1; k < out.length; k++) {
    if (out[k].offset !== out[k - 1].offset + out[k - 1].length) return `covering entries overlap or leave a gap at ${out[k].offset}`;
  }
  const last = out[out.length - 1];
  if (last.offset + last.length < to) return `covering entries end at ${last.offset + last.length}, before ${to}`;
  return out;
}
