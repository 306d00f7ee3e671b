import { Archive, type PasswordOption } from '../node/archive.js';
import { bytesEqual, toHex } from '../format/digest.js';
import { EntryKind, STREAM_NAMES, type StreamName } from '../format/constants.js';
import { sameBytes, type IndexEntry } from '../format/entry.js';
import { throwIfAborted, UsageError, WrongKeyError } from '../errors.js';
import { ByteRanges, type ByteRange } from '../util/byte-ranges.js';
import { DigestTally } from '../util/digest-tally.js';

/** Options for {@link diffArchives}. */
export interface DiffOptions {
  /** Password of A when it is encrypted (docs/FORMAT.md §12); a function is called only then. */
  passwordA?: PasswordOption;
  /** Password of B when it is encrypted; a function is called only then. */
  passwordB?: PasswordOption;
  /** Where to look for the parents of thin archives not found at their recorded paths (§15.4). */
  parentDirs?: string[];
  signal?: AbortSignal;
}

/**
 * One archive's content measured against the other's, by content hash (any stream, any offset).
 * "Blocks" are distinct non-zero content hashes; bytes are logical bytes of the index entries.
 */
export interface DiffSide {
  file: string;
  /** Hex archive id. */
  archiveId: string;
  /** Σ logical size of the archive's streams, in bytes. */
  logicalBytes: number;
  /** Distinct non-zero contents (content hashes) in the archive. */
  blocks: number;
  /** Of those, the ones the other archive also holds somewhere. */
  sharedBlocks: number;
  /** Of those, the ones the other archive does not hold. */
  uniqueBlocks: number;
  /** Logical bytes of non-zero entries whose content the other archive also holds. */
  sharedBytes: number;
  /** Logical bytes of non-zero entries whose content the other archive does not hold. */
  uniqueBytes: number;
  /** Logical bytes of zero runs (ZERO entries), counted apart from blocks. */
  zeroBytes: number;
}

/** How one stream of B differs from the same stream of A. */
export interface StreamDiff {
  stream: StreamName;
  /** Which archives hold the stream. */
  presentIn: 'both' | 'a' | 'b';
  /** Logical size in A, in bytes; null when A has no such stream. */
  sizeA: number | null;
  /** Logical size in B, in bytes; null when B has no such stream. */
  sizeB: number | null;
  /**
   * Changed regions, merged, ascending, half-open byte offsets. A stream held by one archive
   * only is changed over its whole length; a size difference makes the tail changed.
   */
  ranges: ByteRange[];
  /** Σ length of {@link ranges}, in bytes. */
  changedBytes: number;
}

/** What {@link diffArchives} reports. */
export interface DiffReport {
  a: DiffSide;
  b: DiffSide;
  /** Every stream present in A or B, in stream order (disk, memory). */
  streams: StreamDiff[];
  /** Σ changed bytes over all streams. */
  changedBytes: number;
  /** True when both hold the same streams and no range changed. */
  sameContent: boolean;
}

/**
 * Compares two archives by their index entries alone (no block is read): what content each
 * shares with the other, and which byte ranges of each stream changed from A to B. A byte is
 * unchanged when its B entry has an A entry at the same offset with the same length and content
 * hash, or when it is zero in both; so changes are found at block granularity. Both entry lists
 * are walked once, side by side; memory is the changed ranges plus one compact hash table per
 * archive. Encrypted archives compare only when both are unlocked with the same data key (a thin
 * lineage shares one, §12.1), since their content hashes are keyed with it.
 *
 * @param a path of archive A (the "before"), or an open Archive (not closed here).
 * @param b path of archive B (the "after"), or an open Archive (not closed here).
 * @throws UsageError when one archive is encrypted and the other is not, or both are encrypted
 *   with different data keys.
 * @throws WrongKeyError when an encrypted archive has no password, or a wrong one.
 * @throws MissingParentError when a thin archive's parent cannot be found.
 * @throws NotAnArchiveError, CorruptArchiveError, UnsupportedError, StoreError as {@link Archive.open}.
 * @throws AbortedError when `signal` is aborted.
 * @example
 * const r = await diffArchives('monday.hxz', 'tuesday.hxz');
 * for (const s of r.streams) console.log(s.stream, s.changedBytes, s.ranges);
 */
export async function diffArchives(a: string | Archive, b: string | Archive, options: DiffOptions = {}): Promise<DiffReport> {
  // The default index preload suits a diff: the whole index is walked, so one request beats many.
  const open = (from: string | Archive, password: PasswordOption | undefined) =>
    typeof from === 'string' ? Archive.open(from, { password, parentDirs: options.parentDirs }) : Promise.resolve(from);
  const archiveA = await open(a, options.passwordA);
  let archiveB: Archive | undefined;
  try {
    archiveB = await open(b, options.passwordB);
    checkComparable(archiveA, archiveB);
    return await compare(archiveA, archiveB, options.signal);
  } finally {
    if (typeof a === 'string') await archiveA.close();
    if (typeof b === 'string') await archiveB?.close();
  }
}

/**
 * Refuses pairs whose content hashes are not comparable: plain BLAKE3 against keyed BLAKE3, or
 * keyed BLAKE3 under two different hash keys (§12.4). Equal hashes would then mean nothing.
 */
function checkComparable(a: Archive, b: Archive): void {
  if (a.encrypted !== b.encrypted) {
    const [enc, plain] = a.encrypted ? [a, b] : [b, a];
    throw new UsageError(`cannot compare ${enc.name}, which is encrypted, with ${plain.name}, which is not: an encrypted archive's content hashes are keyed (docs/FORMAT.md §12.4), so no block would match`);
  }
  if (!a.encrypted) return;
  for (const x of [a, b]) {
    if (x.locked) throw new WrongKeyError('archive is encrypted: a password is needed to read its index', { archive: x.name, stage: 'key' });
  }
  if (!bytesEqual(a.dataKey!, b.dataKey!)) {
    throw new UsageError(`cannot compare ${a.name} with ${b.name}: they are encrypted with different data keys, so their content hashes are keyed differently and no block would match (only archives of one thin lineage share a data key)`);
  }
}

async function compare(a: Archive, b: Archive, signal: AbortSignal | undefined): Promise<DiffReport> {
  const tallyA = new DigestTally();
  const tallyB = new DigestTally();
  const zeros = { a: 0, b: 0 };
  // Every entry walked is counted once, on the side it belongs to, for the shared/unique tallies.
  const counted = (tally: DigestTally, side: 'a' | 'b') => (e: IndexEntry) => {
    if (e.kind === EntryKind.ZERO) zeros[side] += e.length;
    else tally.add(e.hash, e.length);
  };
  const countA = counted(tallyA, 'a');
  const countB = counted(tallyB, 'b');
  const streams: StreamDiff[] = [];
  for (const stream of STREAM_NAMES) {
    const inA = a.hasStream(stream);
    const inB = b.hasStream(stream);
    if (!inA && !inB) continue;
    const ranges = new ByteRanges();
    if (inA && inB) await sweep(a.entries(stream, signal), b.entries(stream, signal), ranges, countA, countB);
    else {
      const only = inA ? a : b;
      for await (const e of only.entries(stream, signal)) (inA ? countA : countB)(e);
      ranges.add(0, only.size(stream));
    }
    throwIfAborted(signal, 'diff');
    streams.push({
      stream, presentIn: inA && inB ? 'both' : inA ? 'a' : 'b',
      sizeA: inA ? a.size(stream) : null, sizeB: inB ? b.size(stream) : null,
      ranges: ranges.ranges, changedBytes: ranges.bytes,
    });
  }
  const changedBytes = streams.reduce((n, s) => n + s.changedBytes, 0);
  return {
    a: side(a, tallyA, tallyB, zeros.a),
    b: side(b, tallyB, tallyA, zeros.b),
    streams, changedBytes,
    sameContent: changedBytes === 0 && streams.every((s) => s.presentIn === 'both'),
  };
}

/**
 * The merge-like sweep over one stream's entries in A and B (both tile the stream in offset
 * order, which the index walk checks): B drives, A's cursor follows. Changed ranges come out in
 * ascending order, so they merge as they are added.
 */
async function sweep(entriesA: AsyncIterable<IndexEntry>, entriesB: AsyncIterable<IndexEntry>, ranges: ByteRanges, countA: (e: IndexEntry) => void, countB: (e: IndexEntry) => void): Promise<void> {
  const itA = entriesA[Symbol.asyncIterator]();
  const nextA = async (): Promise<IndexEntry | undefined> => {
    const r = await itA.next();
    if (r.done) return undefined;
    countA(r.value);
    return r.value;
  };
  let cur = await nextA();
  let endB = 0;
  for await (const e of entriesB) {
    countB(e);
    const end = e.offset + e.length;
    endB = end;
    while (cur && cur.offset + cur.length <= e.offset) cur = await nextA();
    // Piece by piece against A's entries over [e.offset, end): unchanged where both are zero, or
    // both hold the same byte of the same block (a SLICE refers to a part of one, §5).
    let pos = e.offset;
    while (cur && cur.offset < end) {
      const to = Math.min(end, cur.offset + cur.length);
      if (!sameBytes(cur, e, pos)) ranges.add(pos, to);
      pos = to;
      if (cur.offset + cur.length > end) break; // it reaches into B's next entry: keep it
      cur = await nextA();
    }
    if (pos < end) ranges.add(pos, end); // past A's end
  }
  // What A holds beyond B's end is changed (B is shorter); its entries still count in A's tally.
  while (cur) {
    ranges.add(Math.max(endB, cur.offset), cur.offset + cur.length);
    cur = await nextA();
  }
}

function side(x: Archive, own: DigestTally, other: DigestTally, zeroBytes: number): DiffSide {
  let sharedBlocks = 0;
  let sharedBytes = 0;
  let uniqueBytes = 0;
  own.forEach((hash, bytes) => {
    if (other.has(hash)) {
      sharedBlocks++;
      sharedBytes += bytes;
    } else uniqueBytes += bytes;
  });
  return {
    file: x.name, archiveId: toHex(x.archiveId),
    logicalBytes: x.streams.reduce((n, s) => n + x.size(s), 0),
    blocks: own.size, sharedBlocks, uniqueBlocks: own.size - sharedBlocks, sharedBytes, uniqueBytes, zeroBytes,
  };
}
