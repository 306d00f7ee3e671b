/**
 * Structure-aware mutations of a .hxz archive, in two flavours:
 *  - raw: bit flips, byte sets, field writes, truncation, extension and splices, with nothing
 *    recomputed (the checksum, hashes and seals should catch them);
 *  - crafted: a semantic change to the header, an entry, a child record, a node, the metadata,
 *    the dictionary, the parents table or a block, after which reseal.ts makes every hash,
 *    seal, signature and checksum consistent again, so only the reader's semantic checks can
 *    catch it (or the change is legal and the bytes must agree with the new index).
 */
import { HEADER_SIZE, MAX_BLOCK_SIZE, MIN_BLOCK_SIZE, NODE_HEADER_SIZE, RequiredFeature, STREAM_RECORD_SIZE, STREAM_TABLE_OFFSET, EntryKind } from '../../src/format/constants.ts';
import { blockAad, dictionaryAad, metadataAad } from '../../src/format/seal-aad.ts';
import { openSealed, seal } from '../../src/crypto/object-cipher.ts';
import { contentHasher } from '../../src/crypto/archive-keys.ts';
import { createCodec } from '../../src/codec/registry.ts';
import { neutralHeader } from '../../src/format/signature.ts';
import { blake3 } from '../../src/hash/blake3.ts';
import type { CodecId } from '../../src/format/constants.ts';
import { CHILD_FIELDS, ENTRY_FIELDS, entryFieldsOf, HEADER_FIELDS, NODE_FIELDS, recordAt, SLICE_ENTRY_FIELDS, slicesAllowed, streamFields, type Anatomy, type Field } from './anatomy.ts';
import type { Rng } from './rng.ts';

/** What a mutation did; `attack` names a known attack class when the mutation is one. */
export interface MutationResult {
  bytes: Uint8Array;
  region: string;
  description: string;
  attack?: string;
  /** True when the file must be re-sealed (crafted flavour). */
  reseal: boolean;
  /** Extra files the case must create beside the archive (a FIFO named as a parent). */
  fifo?: string;
}

/** Other files of the case directory, for retargeting parents and splicing. */
export interface MutationContext {
  /** Healthy bytes of other archives (any kind), for splices. */
  others: Uint8Array[];
  /** Files beside the target (thin chains): name and healthy bytes. */
  siblings: { name: string; bytes: Uint8Array }[];
  /** The target's own file name (a parent record naming the archive itself). */
  selfName: string;
  /** The target's healthy logical bytes per stream (a SLICE entry hashed over its own bytes). */
  originals?: Record<string, Uint8Array>;
}

const U53 = Number.MAX_SAFE_INTEGER;

/** Reads a field as a number (bigint fields above 2^53 come back approximate; only used for arithmetic hints). */
function getField(b: Uint8Array, base: number, f: Field): number {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  switch (f.size) {
    case 1: return v.getUint8(base + f.offset);
    case 2: return v.getUint16(base + f.offset, true);
    case 4: return v.getUint32(base + f.offset, true);
    case 8: return v.getUint32(base + f.offset, true) + v.getUint32(base + f.offset + 4, true) * 0x100000000;
    default: return 0;
  }
}

/** Writes `value` (wrapped to the field's width; bigint for the top of u64) into a field. */
function setField(b: Uint8Array, base: number, f: Field, value: number | bigint | Uint8Array): void {
  const at = base + f.offset;
  if (value instanceof Uint8Array) {
    b.set(value.subarray(0, f.size), at);
    return;
  }
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const big = BigInt.asUintN(f.size * 8, typeof value === 'bigint' ? value : BigInt(Math.max(0, Math.floor(value))));
  switch (f.size) {
    case 1: v.setUint8(at, Number(big)); break;
    case 2: v.setUint16(at, Number(big), true); break;
    case 4: v.setUint32(at, Number(big), true); break;
    case 8: v.setBigUint64(at, big, true); break;
    default: for (let i = 0; i < f.size; i++) b[at + i] = Number((big >> BigInt(8 * i)) & 0xffn);
  }
}

/** Interesting values for an integer field: boundaries, neighbours of the current value, extremes, file landmarks. */
function interesting(rng: Rng, f: Field, current: number, landmarks: number[]): number | bigint | Uint8Array {
  if (f.size > 8) {
    return rng.weighted([[2, rng.bytes(f.size)], [1, new Uint8Array(f.size)], [1, new Uint8Array(f.size).fill(0xff)]] as const);
  }
  const bits = f.size * 8;
  const max = (1n << BigInt(bits)) - 1n;
  const pool: (number | bigint)[] = [
    0, 1, 2, 7, 8, 16, 64, 255, current - 1, current + 1, current * 2, Math.floor(current / 2), current + 64, current - 64,
    max, max >> 1n, (max >> 1n) + 1n, rng.next(), current ^ (1 << rng.int(Math.min(bits, 31))),
  ];
  if (bits >= 32) pool.push(0x7fffffff, 0x80000000, 0xffffffff, 4096, 65536, 1 << 20, (1 << 20) + 1, 4 << 20, (4 << 20) + 1, 2 ** 31);
  if (bits === 64) pool.push(U53, U53 + 1, 2 ** 32, 2 ** 40, 2n ** 53n, 2n ** 63n);
  for (const l of landmarks) pool.push(l, l - 1, l + 1);
  const v = rng.pick(pool);
  return typeof v === 'number' && v < 0 ? 0 : v;
}

/** Offsets worth pointing at: region starts and ends, the file end. */
function landmarks(an: Anatomy): number[] {
  const out = [an.fileSize, HEADER_SIZE];
  for (const r of an.regions) out.push(r.offset, r.offset + r.length);
  return out;
}

function pickRegion(rng: Rng, an: Anatomy): { name: string; offset: number; length: number } {
  const weights: [number, { name: string; offset: number; length: number }][] = an.regions.map((r) => [
    r.name === 'header' ? 6 : r.name === 'data' ? 3 : r.name.startsWith('node') ? 4 / Math.max(1, an.nodes.length / 4) : 2, r,
  ]);
  return rng.weighted(weights);
}

// ---------------------------------------------------------------------------------------------
// Raw

/** One raw mutation of `an.bytes`. */
export function rawMutation(rng: Rng, an: Anatomy, ctx: MutationContext): MutationResult {
  const b = an.bytes.slice();
  const op = rng.weighted([[4, 'flip'], [3, 'set'], [4, 'field'], [2, 'truncate'], [1, 'extend'], [2, 'splice']] as const);
  const r = pickRegion(rng, an);
  const at = () => r.offset + rng.int(r.length);
  switch (op) {
    case 'flip': {
      const n = rng.pick([1, 1, 1, 2, 3, 8]);
      const where: number[] = [];
      for (let i = 0; i < n; i++) { const p = at(); b[p] ^= 1 << rng.int(8); where.push(p); }
      return { bytes: b, region: r.name, description: `flip ${n} bit(s) in ${r.name} at ${where.join(',')}`, reseal: false };
    }
    case 'set': {
      const p = at();
      const n = Math.min(rng.pick([1, 1, 2, 4, 8, 16]), b.length - p);
      const v = rng.pick([0, 0xff, rng.next() & 0xff]);
      b.fill(v, p, p + n);
      return { bytes: b, region: r.name, description: `set ${n} byte(s) at ${p} (${r.name}) to 0x${v.toString(16)}`, reseal: false };
    }
    case 'field': {
      const { base, field, where } = pickStructField(rng, an, b);
      const value = interesting(rng, field, getField(b, base, field), landmarks(an));
      setField(b, base, field, value);
      return { bytes: b, region: where, description: `raw write ${where}.${field.name} = ${fmt(value)}`, reseal: false };
    }
    case 'truncate': {
      const len = rng.pick([0, 3, 4, 100, 4095, 4096, 4097, r.offset, r.offset + 1, r.offset + r.length - 1, rng.int(b.length), b.length - 1, b.length - 128]);
      const n = Math.max(0, Math.min(b.length - 1, len));
      return { bytes: b.slice(0, n), region: r.name, description: `truncate to ${n} bytes (inside/at ${r.name})`, reseal: false };
    }
    case 'extend': {
      const n = rng.pick([1, 128, 4096, 65536]);
      const tail = rng.pick([new Uint8Array(n), rng.bytes(n), b.slice(0, Math.min(n, b.length))]);
      const out = new Uint8Array(b.length + tail.length);
      out.set(b);
      out.set(tail, b.length);
      return { bytes: out, region: 'end', description: `append ${tail.length} bytes`, reseal: false };
    }
    case 'splice': {
      const fromOther = ctx.others.length > 0 && rng.chance(0.4);
      const src = fromOther ? rng.pick(ctx.others) : an.bytes;
      const s = fromOther ? rng.int(Math.max(1, src.length - 1)) : pickRegion(rng, an).offset;
      const n = Math.min(rng.pick([16, 64, 1024, 4096, r.length]), src.length - s, b.length - r.offset);
      const dst = rng.chance(0.5) ? r.offset : at();
      const m = Math.min(n, b.length - dst);
      b.set(src.subarray(s, s + m), dst);
      return { bytes: b, region: r.name, description: `splice ${m} bytes from ${fromOther ? 'another archive' : 'this archive'} at ${s} over ${r.name} at ${dst}`, reseal: false };
    }
  }
}

/** A header, stream record, node header, entry or child record field of the stored bytes. */
function pickStructField(rng: Rng, an: Anatomy, b: Uint8Array): { base: number; field: Field; where: string } {
  const choice = rng.weighted([[4, 'header'], [3, 'stream'], [an.nodes.length ? 3 : 0, 'node']] as const);
  if (choice === 'header') return { base: 0, field: rng.pick(HEADER_FIELDS), where: 'header' };
  if (choice === 'stream') return { base: 0, field: rng.pick(streamFields(rng.int(2))), where: 'stream record' };
  const n = an.nodes[rng.int(an.nodes.length)];
  const rec = rng.int(n.count);
  // In an encrypted archive the offsets are those of the sealed plaintext (12-byte nonce first).
  const shift = an.cipher || an.header.encryption ? 12 : 0;
  void b;
  if (rng.chance(0.2)) return { base: n.offset + shift, field: rng.pick(NODE_FIELDS), where: `node@${n.offset}` };
  // A leaf record's fields are named by its kind (a SLICE's block size and skip, else reserved bytes).
  const fields = n.level === 0 ? entryFieldsOf(n.plain[recordAt(rec) + 12]) : CHILD_FIELDS;
  return { base: n.offset + shift + recordAt(rec), field: rng.pick(fields), where: `node@${n.offset}.record${rec}` };
}

// ---------------------------------------------------------------------------------------------
// Crafted

/** One crafted mutation: edits `an`'s node plaintexts in place and returns the edited file bytes (to be re-sealed). */
export function craftedMutation(rng: Rng, an: Anatomy, ctx: MutationContext): MutationResult | undefined {
  const b = an.bytes.slice();
  const two = an.header.streams.every((s) => s.present && s.entryCount > 0);
  const internal = an.nodes.filter((n) => n.level > 0);
  const thin = an.header.parents.count > 0;
  const op = rng.weighted([
    [5, 'header-field'], [4, 'stream-field'], [two ? 3 : 0, 'cross-stream-root'], [8, 'entry-field'], [3, 'entry-enlarge'],
    [3, 'zero-to-dedup'], [3, 'entry-retarget'], [2, 'entry-copy'], [2, 'entry-swap'], [2, 'slot'],
    [internal.length ? 4 : 0, 'child-field'], [internal.length && two ? 2 : 0, 'cross-stream-child'], [3, 'node-header'], [1, 'node-drop-record'],
    [an.header.metadata.length ? 2 : 0, 'metadata'], [an.header.dictionary.length ? 2 : 0, 'dictionary'],
    [thin ? 4 : 0, 'parents'], [2, 'kdf'], [2, 'huge-length'], [3, 'block'],
    [an.entries.some((e) => e.entry.kind === EntryKind.SLICE) ? 10 : 2, 'slice'],
  ] as const);
  const leafEntries = an.entries;
  const pickEntry = (pred: (e: Anatomy['entries'][number]) => boolean = () => true) => {
    const c = leafEntries.filter(pred);
    return c.length ? rng.pick(c) : undefined;
  };
  const entryBytes = (x: { node: number; record: number }) => an.nodes[x.node].plain.subarray(recordAt(x.record), recordAt(x.record) + 64);
  const ef = (name: string) => ENTRY_FIELDS.find((f) => f.name === name) ?? SLICE_ENTRY_FIELDS.find((f) => f.name === name)!;
  const cf = (name: string) => CHILD_FIELDS.find((f) => f.name === name)!;
  const done = (region: string, description: string, attack?: string, extra: Partial<MutationResult> = {}): MutationResult => ({ bytes: b, region, description, attack, reseal: true, ...extra });

  switch (op) {
    case 'header-field': {
      const f = rng.pick(HEADER_FIELDS.filter((x) => x.name !== 'checksum'));
      const value = interesting(rng, f, getField(b, 0, f), landmarks(an));
      setField(b, 0, f, value);
      return done('header', `header.${f.name} = ${fmt(value)}`, /kdf/.test(f.name) ? 'kdf-costs' : undefined);
    }
    case 'stream-field': {
      const s = an.header.streams[0].present && (!an.header.streams[1].present || rng.chance(0.5)) ? 0 : 1;
      const f = rng.pick(streamFields(s).filter((x) => !x.name.endsWith('rootHash')));
      const value = interesting(rng, f, getField(b, 0, f), landmarks(an));
      setField(b, 0, f, value);
      return done('stream record', `${f.name} = ${fmt(value)}`);
    }
    case 'cross-stream-root': {
      // Point stream s's root (offset, length, level, hash) at the other stream's root.
      const s = rng.int(2);
      const from = STREAM_TABLE_OFFSET + (1 - s) * STREAM_RECORD_SIZE;
      const to = STREAM_TABLE_OFFSET + s * STREAM_RECORD_SIZE;
      b.copyWithin(to + 16, from + 16, from + 29);
      b.copyWithin(to + 32, from + 32, from + 64);
      // Sometimes keep the sizes so the other stream's index covers this one exactly.
      if (rng.chance(0.5)) { b.copyWithin(to, from, from + 16); }
      return done('stream record', `${s === 0 ? 'disk' : 'memory'} root -> the other stream's root`, 'cross-stream-root');
    }
    case 'entry-field': {
      const x = pickEntry();
      if (!x) return undefined;
      const f = rng.pick(entryFieldsOf(x.entry.kind));
      const eb = entryBytes(x);
      const other = pickEntry()!;
      const ob = entryBytes(other);
      let value: number | bigint | Uint8Array;
      if (f.name === 'hash') value = rng.chance(0.5) ? ob.slice(32, 64) : rng.bytes(32);
      else if (f.name === 'blockLog2' && rng.chance(0.7)) value = rng.pick([0, 1, 11, 12, 13, 14, 15, 16, 20, 22, 23, 24, 31, 32, 255, Math.log2(x.entry.blockLength) - 1, Math.log2(x.entry.blockLength) + 1]);
      else if (f.name === 'skip' && rng.chance(0.7)) value = rng.pick(sliceSkips(x.entry));
      else if (f.name === 'storedOffset' && rng.chance(0.5)) value = getField(ob, 0, f);
      else if (f.name === 'kind' || f.name === 'encoding' || f.name === 'slot') value = rng.pick([0, 1, 2, 3, 255]);
      else value = interesting(rng, f, getField(eb, 0, f), landmarks(an));
      setField(eb, 0, f, value);
      return done('index entry', `${streamName(x.stream)} entry @${x.entry.offset}.${f.name} = ${fmt(value)}`, f.name === 'slot' ? 'slot-beyond-parents' : undefined);
    }
    case 'entry-enlarge': {
      const leaf = rng.pick(an.nodes.filter((n) => n.level === 0));
      const li = an.nodes.indexOf(leaf);
      const mine = leafEntries.filter((e) => e.node === li);
      const i = rng.int(mine.length);
      const k = rng.range(1, Math.min(5, mine.length - i));
      const endK = mine[Math.min(mine.length - 1, i + k)].entry;
      const newLen = endK.offset + endK.length - mine[i].entry.offset - (rng.chance(0.3) ? 1 : 0);
      setField(entryBytes(mine[i]), 0, ef('length'), newLen);
      return done('index entry', `${streamName(mine[i].stream)} entry @${mine[i].entry.offset} (${kindName(mine[i].entry.kind)}) length ${mine[i].entry.length} -> ${newLen} over ${k} following entries`, 'entry-overlap');
    }
    case 'zero-to-dedup': {
      const z = pickEntry((e) => e.entry.kind === EntryKind.ZERO);
      const d = pickEntry((e) => e.entry.kind !== EntryKind.ZERO && e.entry.slot === 0);
      if (!z || !d) return undefined;
      const zb = entryBytes(z);
      const db = entryBytes(d);
      zb.set(db.subarray(12, 64), 12);
      setField(zb, 0, ef('kind'), EntryKind.DEDUP);
      const grow = rng.pick([0, 1, 2]);
      const next = leafEntries.filter((e) => e.stream === z.stream && e.entry.offset > z.entry.offset).slice(0, grow);
      const len = rng.chance(0.5) ? d.entry.length : z.entry.length + next.reduce((n, e) => n + e.entry.length, 0);
      setField(zb, 0, ef('length'), len);
      return done('index entry', `${streamName(z.stream)} ZERO entry @${z.entry.offset} (len ${z.entry.length}) -> DEDUP of @${d.entry.offset}, length ${len}`, 'zero-dedup-overlap');
    }
    case 'entry-retarget': {
      // A legal change when lengths agree: the entry now names another block (with its hash).
      const x = pickEntry();
      if (!x) return undefined;
      const d = pickEntry((e) => e.entry.kind !== EntryKind.ZERO && (rng.chance(0.8) ? e.entry.length === x.entry.length : true));
      if (!d) return undefined;
      const xb = entryBytes(x);
      xb.set(entryBytes(d).subarray(12, 64), 12);
      if (rng.chance(0.8)) setField(xb, 0, ef('kind'), EntryKind.DEDUP);
      return done('index entry', `${streamName(x.stream)} entry @${x.entry.offset} -> stored bytes of ${streamName(d.stream)} @${d.entry.offset}`);
    }
    case 'entry-copy': {
      const x = pickEntry();
      const y = pickEntry();
      if (!x || !y) return undefined;
      const keepOffset = rng.chance(0.6);
      const xb = entryBytes(x);
      const off = xb.slice(0, 8);
      xb.set(entryBytes(y));
      if (keepOffset) xb.set(off, 0);
      return done('index entry', `${streamName(x.stream)} entry @${x.entry.offset} := copy of ${streamName(y.stream)} @${y.entry.offset}${keepOffset ? ' (offset kept)' : ''}`);
    }
    case 'entry-swap': {
      const x = pickEntry();
      if (!x) return undefined;
      const y = pickEntry((e) => e.node === x.node && e.record !== x.record);
      if (!y) return undefined;
      const xb = entryBytes(x);
      const yb = entryBytes(y);
      const whole = rng.chance(0.3);
      const from = whole ? 0 : 12;
      const t = xb.slice(from);
      xb.set(yb.subarray(from), from);
      yb.set(t, from);
      return done('index entry', `swap ${whole ? 'entries' : 'entry contents'} @${x.entry.offset} and @${y.entry.offset}`);
    }
    case 'slot': {
      const x = pickEntry((e) => e.entry.kind !== EntryKind.ZERO);
      if (!x) return undefined;
      const count = an.header.parents.count;
      const slot = rng.pick([count + 1, count + 2, 255, 1, count]);
      const xb = entryBytes(x);
      setField(xb, 0, ef('slot'), slot);
      if (rng.chance(0.7)) setField(xb, 0, ef('kind'), EntryKind.DEDUP);
      return done('index entry', `${streamName(x.stream)} entry @${x.entry.offset} slot = ${slot} (parent count ${count})`, 'slot-beyond-parents');
    }
    case 'child-field':
    case 'cross-stream-child': {
      const n = rng.pick(internal);
      const rec = rng.int(n.count);
      const base = recordAt(rec);
      const p = n.plain;
      if (op === 'cross-stream-child') {
        // Point a child record at a node of the other stream (same level when there is one).
        const cand = an.nodes.filter((m) => m.stream !== n.stream && m.level === n.level - 1);
        const m = cand.length ? rng.pick(cand) : rng.pick(an.nodes.filter((m) => m.stream !== n.stream));
        if (!m) return undefined;
        setField(p, base, cf('nodeOffset'), m.offset);
        setField(p, base, cf('nodeLength'), m.length);
        if (rng.chance(0.5)) setField(p, base, cf('firstOffset'), m.first);
        return done('child record', `${streamName(n.stream)} level-${n.level} record ${rec} -> ${streamName(m.stream)} node @${m.offset} (level ${m.level})`, 'cross-stream-root');
      }
      const f = rng.pick(CHILD_FIELDS.filter((x) => x.name !== 'hash'));
      let value: number | bigint | Uint8Array;
      if (f.name === 'nodeOffset' && rng.chance(0.6)) value = rng.pick(an.nodes).offset;
      else if (f.name === 'nodeLength' && rng.chance(0.5)) value = rng.pick(an.nodes).length;
      else value = interesting(rng, f, getField(p, base, f), landmarks(an));
      setField(p, base, f, value);
      return done('child record', `${streamName(n.stream)} level-${n.level} node @${n.offset} record ${rec}.${f.name} = ${fmt(value)}`);
    }
    case 'node-header': {
      const n = rng.pick(an.nodes);
      const f = rng.pick(NODE_FIELDS);
      const value = f.name === 'level' || f.name === 'stream' ? rng.pick([0, 1, 2, 255, n.level + 1]) : interesting(rng, f, getField(n.plain, 0, f), []);
      setField(n.plain, 0, f, value);
      return done('node header', `${streamName(n.stream)} level-${n.level} node @${n.offset}.${f.name} = ${fmt(value)}`);
    }
    case 'node-drop-record': {
      const n = rng.pick(an.nodes.filter((m) => m.count > 1));
      if (!n) return undefined;
      const drop = rng.pick(['last', 'first']);
      const count = n.count - 1;
      const plain = new Uint8Array(NODE_HEADER_SIZE + count * 64);
      plain.set(n.plain.subarray(0, NODE_HEADER_SIZE));
      plain.set(drop === 'last' ? n.plain.subarray(NODE_HEADER_SIZE, NODE_HEADER_SIZE + count * 64) : n.plain.subarray(NODE_HEADER_SIZE + 64), NODE_HEADER_SIZE);
      new DataView(plain.buffer).setUint32(8, count, true);
      n.plain = plain;
      n.resized = true;
      return done('node', `${streamName(n.stream)} level-${n.level} node @${n.offset}: drop ${drop} record (count ${count + 1} -> ${count})`, 'node-tiling');
    }
    case 'metadata': {
      const choices = [
        '{"tool":"crafted"}', '[]', 'null', '"string"', '{"a":', '\u00ff\u00fe', '1e400', '{"__proto__":{"polluted":1}}',
        '['.repeat(5000) + ']'.repeat(5000), JSON.stringify({ x: 'y'.repeat(1000) }), '{"inputs":{"disk":{"name":null,"bytes":"huge"}}}',
      ];
      const text = rng.pick(choices);
      const plain = text === '\u00ff\u00fe' ? Uint8Array.of(0xff, 0xfe, 0x7b) : new TextEncoder().encode(text);
      const stored = an.cipher ? seal(an.cipher.keys.objectKey, nonce(4, 77), plain, metadataAad(an.header.archiveId)) : plain;
      const { offset, length } = an.header.metadata;
      if (stored.length > length) return undefined;
      b.set(stored, offset);
      new DataView(b.buffer).setUint32(104, stored.length, true);
      return done('metadata', `metadata := ${JSON.stringify(text.slice(0, 40))} (${stored.length} bytes)`);
    }
    case 'dictionary': {
      const { offset, length } = an.header.dictionary;
      const dict = an.dictionary!;
      const plainLen = dict.length;
      const variant = rng.pick(['random', 'zeros', 'flip', 'truncate', 'magic-only']);
      let plain: Uint8Array = dict.slice();
      if (variant === 'random') plain = rng.bytes(plainLen);
      else if (variant === 'zeros') plain.fill(0);
      else if (variant === 'flip') { for (let i = 0; i < 8; i++) plain[rng.int(plainLen)] ^= 1 << rng.int(8); }
      else if (variant === 'truncate') plain = plain.slice(0, rng.int(plainLen));
      else plain = plain.slice(0, 8);
      const stored = an.cipher ? seal(an.cipher.keys.objectKey, nonce(3, 77), plain, dictionaryAad(an.header.archiveId)) : plain;
      b.set(stored.subarray(0, length), offset);
      new DataView(b.buffer).setUint32(88, Math.min(length, stored.length), true);
      return done('dictionary', `dictionary := ${variant} (${stored.length} bytes)`, 'dictionary');
    }
    case 'parents': return craftParents(rng, an, b, ctx, done);
    case 'kdf': {
      if (!an.header.encryption) {
        // Not encrypted: set the bit with garbage parameters.
        const v = new DataView(b.buffer);
        v.setUint32(8, v.getUint32(8, true) | 4, true);
        b[128] = 1; b[129] = 1;
        v.setUint32(132, 4194304, true); v.setUint32(136, 256, true); v.setUint32(140, 1, true);
        return done('encryption params', 'ENCRYPTED bit on a plain archive with maximal KDF costs', 'kdf-costs');
      }
      const v = new DataView(b.buffer);
      const memory = rng.pick([4194304, 2097152, 1048576, 1048577, 262144, 262145, 4194305, 0xffffffff, 8, 7]);
      const iterations = rng.pick([256, 64, 1, 257, 0xffffffff, 0]);
      const lanes = rng.pick([1, 64, 65, 0, 4]);
      v.setUint32(132, memory, true); v.setUint32(136, iterations, true); v.setUint32(140, lanes, true);
      return done('encryption params', `KDF memory ${memory} KiB, iterations ${iterations}, lanes ${lanes}`, 'kdf-costs');
    }
    case 'huge-length': {
      const v = new DataView(b.buffer);
      const which = rng.pick(['dictionary', 'metadata', 'parents', 'root', 'child', 'data']);
      const len = rng.pick([0xffffffff, 1 << 20, (1 << 20) + 1, 0x7fffffff, an.fileSize, an.fileSize + 1]);
      if (which === 'dictionary') { v.setUint32(88, len, true); v.setUint32(8, v.getUint32(8, true) | 2, true); if (v.getBigUint64(80, true) === 0n) v.setBigUint64(80, 4096n, true); }
      else if (which === 'metadata') v.setUint32(104, len, true);
      else if (which === 'parents') { v.setUint32(528, len, true); if (v.getUint16(512, true) === 0) { v.setUint16(512, 1, true); v.setUint32(8, v.getUint32(8, true) | 8, true); } }
      else if (which === 'root') v.setUint32(STREAM_TABLE_OFFSET + 24, len, true);
      else if (which === 'data') v.setBigUint64(72, BigInt(len), true);
      else {
        const n = internal.length ? rng.pick(internal) : undefined;
        if (!n) return undefined;
        setField(n.plain, recordAt(rng.int(n.count)), cf('nodeLength'), len);
      }
      return done('extent', `${which} length := ${len}`, 'huge-length');
    }
    case 'block': return craftBlock(rng, an, b, done);
    case 'slice': return craftSlice(rng, an, b, ctx, done, entryBytes);
  }
}

/** Skips worth trying in a SLICE entry: legal ones at the edges of its block, and just past them. */
function sliceSkips(e: { skip: number; length: number; blockLength: number }): number[] {
  const last = e.blockLength - e.length;
  return [0, 1, 4096, last, last + 1, last + 4096, e.blockLength, e.blockLength - 1, e.skip + 4096, Math.max(0, e.skip - 4096), e.skip + 1, 0x7fffffff, 0xffffffff, 0xffffffff - e.length + 1];
}

/** True when a stored block of `n` decoded bytes can be sliced (§5): a power of two from 2^12 to 2^22. */
function sliceableLength(n: number): boolean {
  return n >= MIN_BLOCK_SIZE && n <= MAX_BLOCK_SIZE && (n & (n - 1)) === 0;
}

/**
 * Crafted SLICE entries (§5, version 8), re-hashed and re-sealed by the case, so only the
 * reader's own checks stand between them and wrong bytes:
 *  - out of bounds: skip + length past the block (`skip-past`), b outside 12..22 (`log2-range`),
 *    b within range but not the block's (`log2-wrong`: the block decodes to another length);
 *  - the SLICES feature bit cleared in an archive with SLICE entries (`no-bit`);
 *  - a slice hashed over its own bytes instead of its whole block (`own-hash`), or turned into
 *    a DEDUP/DATA entry of its length over the larger block (`to-whole`);
 *  - slot 0 for a parent's block or slot 1 for its own (`slot-swap`);
 *  - legal ones, whose bytes must then read as the new entry says: another skip inside the
 *    block (`skip-shift`), a stored entry rewritten as the slice of all its block
 *    (`from-stored`), an entry rewritten as a slice of another entry's block at a random skip
 *    (`retarget`), the SLICES bit set on an archive without slices (`bit-only`). Without the
 *    SLICES bit they are rejected (`from-stored` and `retarget` leave it unset now and then).
 */
function craftSlice(
  rng: Rng, an: Anatomy, b: Uint8Array, ctx: MutationContext,
  done: (r: string, d: string, a?: string) => MutationResult,
  entryBytes: (x: { node: number; record: number }) => Uint8Array,
): MutationResult | undefined {
  const sf = (name: string) => SLICE_ENTRY_FIELDS.find((f) => f.name === name)!;
  const hv = new DataView(b.buffer, b.byteOffset, HEADER_SIZE);
  const features = hv.getUint32(8, true);
  const hasBit = slicesAllowed(an.header);
  /** Sets the SLICES bit when absent, mostly (so that the slice is legal); returns what was done, for the description. */
  const ensureBit = (): string => {
    if (hasBit) return '';
    if (rng.chance(0.15)) return ' (SLICES bit left unset)';
    hv.setUint32(8, features | RequiredFeature.SLICES, true);
    return ' (SLICES bit set)';
  };
  const slices = an.entries.filter((e) => e.entry.kind === EntryKind.SLICE);
  const stored = an.entries.filter((e) => e.entry.kind !== EntryKind.ZERO && sliceableLength(e.entry.blockLength));
  const variant = slices.length
    ? rng.weighted([
      [2, 'skip-past'], [2, 'log2-range'], [2, 'log2-wrong'], [2, 'no-bit'], [2, 'own-hash'], [2, 'to-whole'], [1, 'slot-swap'],
      [3, 'skip-shift'], [1, 'from-stored'], [3, 'retarget'],
    ] as const)
    : rng.weighted([[3, 'from-stored'], [3, 'retarget'], [1, 'bit-only']] as const);
  const x = slices.length ? rng.pick(slices) : undefined;
  const xb = x && entryBytes(x);
  const e = x?.entry;
  const at = e && `${streamName(x!.stream)} SLICE @${e.offset} (len ${e.length}, skip ${e.skip}, block 2^${Math.log2(e.blockLength)}, slot ${e.slot})`;
  switch (variant) {
    case 'skip-past': {
      const skip = rng.pick([e!.blockLength - e!.length + 1, e!.blockLength - e!.length + 4096, e!.blockLength, 0xffffffff, 0xffffffff - e!.length + 1, 0x80000000]);
      setField(xb!, 0, sf('skip'), skip);
      return done('index entry', `${at}: skip := ${skip} (past the block)`, 'slice-bounds');
    }
    case 'log2-range': {
      const log2 = rng.pick([0, 1, 11, 23, 24, 31, 32, 64, 255]);
      xb![15] = log2;
      return done('index entry', `${at}: b := ${log2} (outside 12..22)`, 'slice-bounds');
    }
    case 'log2-wrong': {
      const cur = Math.log2(e!.blockLength);
      const log2 = rng.pick([cur - 2, cur - 1, cur + 1, cur + 2, 12, 22].filter((v) => v !== cur && v >= 12 && v <= 22));
      xb![15] = log2;
      return done('index entry', `${at}: b := ${log2} (the block decodes to 2^${cur} bytes)`, 'slice-bounds');
    }
    case 'no-bit': {
      hv.setUint32(8, features & ~RequiredFeature.SLICES, true);
      return done('header', `SLICES bit cleared (requiredFeatures ${features} -> ${features & ~RequiredFeature.SLICES}) in an archive with ${slices.length} SLICE entries`, 'slice-feature');
    }
    case 'own-hash': {
      const own = ctx.originals?.[streamName(x!.stream)];
      const hash = own && e!.offset + e!.length <= own.length ? contentHasher(an.cipher?.keys)(own.subarray(e!.offset, e!.offset + e!.length)) : rng.bytes(32);
      xb!.set(hash, 32);
      return done('index entry', `${at}: hash := ${own ? 'the hash of the slice\'s own bytes' : 'random'} (not its block's)`, 'slice-hash');
    }
    case 'to-whole': {
      // A DEDUP (or slot-0 DATA) entry of the slice's length over its larger block, skip and b cleared or kept.
      const kind = e!.slot !== 0 || rng.chance(0.5) ? EntryKind.DEDUP : EntryKind.DATA;
      xb![12] = kind;
      const clear = rng.chance(0.6);
      if (clear) { xb![15] = 0; setField(xb!, 0, sf('skip'), 0); }
      const own = ctx.originals?.[streamName(x!.stream)];
      const ownHash = own && rng.chance(0.5) && e!.offset + e!.length <= own.length;
      if (ownHash) xb!.set(contentHasher(an.cipher?.keys)(own.subarray(e!.offset, e!.offset + e!.length)), 32);
      return done('index entry', `${at} -> ${kindName(kind)} of ${e!.length} bytes over its ${e!.blockLength}-byte block${clear ? ', b and skip cleared' : ''}${ownHash ? ', hash of its own bytes' : ''}`, 'slice-hash');
    }
    case 'slot-swap': {
      const slot = e!.slot === 0 ? 1 : 0;
      xb![14] = slot;
      return done('index entry', `${at}: slot := ${slot}`, 'slot-beyond-parents');
    }
    case 'skip-shift': {
      const last = e!.blockLength - e!.length;
      const skip = rng.pick([0, last, rng.int(last + 1), Math.min(last, e!.skip + 4096), Math.max(0, e!.skip - 4096), Math.min(last, e!.skip + 1)]);
      setField(xb!, 0, sf('skip'), skip);
      return done('index entry', `${at}: skip := ${skip} (inside the block: legal)`);
    }
    case 'from-stored': {
      const y = stored.length ? rng.pick(stored.filter((z) => z.entry.kind !== EntryKind.SLICE).length ? stored.filter((z) => z.entry.kind !== EntryKind.SLICE) : stored) : undefined;
      if (!y) return undefined;
      const yb = entryBytes(y);
      const bit = ensureBit();
      yb[12] = EntryKind.SLICE;
      yb[15] = Math.log2(y.entry.blockLength);
      setField(yb, 0, sf('skip'), y.entry.skip);
      return done('index entry', `${streamName(y.stream)} ${kindName(y.entry.kind)} @${y.entry.offset} (len ${y.entry.length}) -> SLICE of all its block${bit}`);
    }
    case 'retarget': {
      // Entry z (any kind) becomes a slice of y's block at a random skip: legal when it fits.
      const z = rng.chance(0.5) && x ? x : rng.pick(an.entries);
      const ys = stored.filter((y) => y.entry.blockLength >= z.entry.length);
      if (!ys.length) return undefined;
      const y = rng.pick(ys);
      const zb = entryBytes(z);
      const yb = entryBytes(y);
      const bit = ensureBit();
      const last = y.entry.blockLength - z.entry.length;
      const skip = rng.chance(0.5) ? Math.min(last, rng.int(y.entry.blockLength / 4096) * 4096) : rng.int(last + 1);
      zb.set(yb.subarray(13, 15), 13); // encoding, slot
      zb.set(yb.subarray(16, 28), 16); // stored offset and length
      zb.set(yb.subarray(32, 64), 32); // the block's hash
      zb[12] = EntryKind.SLICE;
      zb[15] = Math.log2(y.entry.blockLength);
      setField(zb, 0, sf('skip'), skip);
      return done('index entry', `${streamName(z.stream)} ${kindName(z.entry.kind)} @${z.entry.offset} (len ${z.entry.length}) -> SLICE of the block of ${streamName(y.stream)} @${y.entry.offset} (slot ${y.entry.slot}, ${y.entry.blockLength} bytes) at skip ${skip}${bit}`);
    }
    case 'bit-only': {
      hv.setUint32(8, features | RequiredFeature.SLICES, true);
      return done('header', `SLICES bit set (requiredFeatures ${features} -> ${features | RequiredFeature.SLICES}) in an archive without SLICE entries (legal)`);
    }
  }
}

/** Crafted edits of the parents table (and of the header's parent count). */
function craftParents(rng: Rng, an: Anatomy, b: Uint8Array, ctx: MutationContext, done: (r: string, d: string, a?: string, extra?: Partial<MutationResult>) => MutationResult): MutationResult | undefined {
  const { offset, length } = an.header.parents.table;
  const table = b.subarray(offset, offset + length);
  const v = new DataView(table.buffer, table.byteOffset, table.byteLength);
  const hv = new DataView(b.buffer);
  // Record boundaries.
  const recs: number[] = [];
  for (let at = 0; at + 56 <= length; at += 56 + v.getUint16(at + 2, true)) recs.push(at);
  const r = rng.pick(recs);
  const variant = rng.pick(['count', 'slot', 'flags', 'pathLength', 'path', 'retarget', 'fifo', 'identity', 'self']);
  const writePath = (path: string) => {
    // Rebuild the table with this record's path replaced; the table moves to the end of the file when it grows.
    const p = new TextEncoder().encode(path);
    const oldLen = v.getUint16(r + 2, true);
    const rebuilt = new Uint8Array(length - oldLen + p.length);
    rebuilt.set(table.subarray(0, r + 56));
    new DataView(rebuilt.buffer).setUint16(r + 2, p.length, true);
    rebuilt.set(p, r + 56);
    rebuilt.set(table.subarray(r + 56 + oldLen), r + 56 + p.length);
    return rebuilt;
  };
  const placeTable = (t: Uint8Array): Uint8Array => {
    if (t.length <= length) {
      b.set(t, offset);
      hv.setUint32(528, t.length, true);
      return b;
    }
    // Append (a signed archive's signature then no longer ends the file: that is caught, not our concern).
    const out = new Uint8Array(b.length + t.length);
    out.set(b);
    out.set(t, b.length);
    const ov = new DataView(out.buffer);
    ov.setBigUint64(520, BigInt(b.length), true);
    ov.setUint32(528, t.length, true);
    return out;
  };
  let bytes = b;
  let desc = '';
  let attack: string | undefined;
  let fifo: string | undefined;
  switch (variant) {
    case 'count': { const c = rng.pick([0, an.header.parents.count + 1, 255, 256, 0xffff]); hv.setUint16(512, c, true); desc = `parent count := ${c}`; break; }
    case 'slot': { const s = rng.pick([0, 2, 3, 255]); table[r] = s; desc = `record @${r} slot := ${s}`; break; }
    case 'flags': { table[r + 1] ^= rng.pick([1, 2, 0x80]); desc = `record @${r} flags ^= ...`; break; }
    case 'pathLength': { const l = rng.pick([0, 1, 4096, 4097, 0xffff, v.getUint16(r + 2, true) + 1]); v.setUint16(r + 2, l, true); desc = `record @${r} path length := ${l}`; break; }
    case 'path': {
      const p = rng.pick(['../../../../etc/passwd', '/etc/passwd', '/dev/zero', '/dev/urandom', '.', '..', 'x/../base.hxz', 'no-such-file.hxz', '\u0000', 'a'.repeat(4096), '/proc/self/mem']);
      bytes = placeTable(writePath(p));
      desc = `record @${r} path := ${JSON.stringify(p.slice(0, 40))}`;
      attack = p.startsWith('/dev/') || p.startsWith('/proc') ? 'special-file-parent' : undefined;
      break;
    }
    case 'fifo': {
      bytes = placeTable(writePath('fifo.hxz'));
      fifo = 'fifo.hxz';
      desc = `record @${r} path := fifo.hxz (a FIFO)`;
      attack = 'fifo-parent';
      break;
    }
    case 'retarget':
    case 'self': {
      // Name another archive of the chain (or this one), with its true id and identity: a consistent but wrong parent.
      const sib = variant === 'self' ? undefined : ctx.siblings.length ? rng.pick(ctx.siblings) : undefined;
      const hdr = sib ? sib.bytes.subarray(0, HEADER_SIZE) : an.bytes.subarray(0, HEADER_SIZE);
      table.set(hdr.subarray(16, 32), r + 8);
      table.set(blake3(neutralHeader(hdr)), r + 24);
      if (variant === 'self' || rng.chance(0.5)) bytes = placeTable(writePath(sib ? sib.name : ctx.selfName));
      desc = `record @${r} -> ${sib ? sib.name : 'this archive itself'} (its id and identity)`;
      attack = variant === 'self' ? 'parent-cycle' : undefined;
      break;
    }
    case 'identity': { table.set(an.bytes.subarray(16, 32), r + 8); desc = `record @${r} archive id := this archive's id`; break; }
  }
  return done('parents table', desc, attack, { bytes, fifo });
}

/** Crafted edits of a stored block, re-sealed and re-hashed where that keeps the archive consistent. */
function craftBlock(rng: Rng, an: Anatomy, b: Uint8Array, done: (r: string, d: string, a?: string) => MutationResult): MutationResult | undefined {
  const stored = an.entries.filter((e) => e.entry.kind === EntryKind.DATA && e.entry.slot === 0);
  if (!stored.length) return undefined;
  const x = rng.pick(stored);
  const e = x.entry;
  const keys = an.cipher?.keys;
  let encoded: Uint8Array = b.slice(e.storedOffset, e.storedOffset + e.storedLength);
  if (keys) encoded = openSealed(keys.objectKey, encoded, blockAad(an.header.archiveId, e.storedOffset, e.length, e.encoding, e.hash));
  const variant = rng.pick(['flip', 'flip-fix-hash', 'zero', 'random-fix-hash']);
  if (variant === 'zero') encoded.fill(0);
  else if (variant === 'random-fix-hash') encoded = rng.bytes(encoded.length);
  else for (let i = 0; i < rng.range(1, 4); i++) encoded[rng.int(encoded.length)] ^= 1 << rng.int(8);
  let hash = e.hash;
  if (variant.endsWith('fix-hash')) {
    // Decode the damaged block ourselves; when it still decodes to `length` bytes, make the entry (and every entry sharing it) name that content.
    try {
      const data = createCodec(e.encoding as CodecId, an.dictionary).decompress(encoded, e.length);
      if (data.length === e.length) hash = contentHasher(keys)(data);
    } catch { /* stays a damaged block */ }
    if (hash !== e.hash) {
      for (const y of an.entries) {
        if (y.entry.slot === 0 && y.entry.kind !== EntryKind.ZERO && y.entry.storedOffset === e.storedOffset) {
          an.nodes[y.node].plain.set(hash, recordAt(y.record) + 32);
        }
      }
    }
  }
  const out = keys ? seal(keys.objectKey, nonce(1, 0x7777), encoded, blockAad(an.header.archiveId, e.storedOffset, e.length, e.encoding, hash)) : encoded;
  b.set(out, e.storedOffset);
  return done('data', `${streamName(x.stream)} block @${e.offset} (${e.encoding === 0 ? 'raw' : e.encoding === 1 ? 'lz4' : 'zstd'}) ${variant}${hash !== e.hash ? ' (entry hash updated)' : ''}`);
}

function nonce(cls: number, n: number): Uint8Array {
  const out = new Uint8Array(12);
  const v = new DataView(out.buffer);
  v.setUint32(0, cls, true);
  v.setUint32(4, n, true);
  return out;
}

function streamName(i: number): string {
  return i === 0 ? 'disk' : 'memory';
}

function kindName(k: number): string {
  return ['ZERO', 'DATA', 'DEDUP', 'SLICE'][k] ?? `kind${k}`;
}

function fmt(v: number | bigint | Uint8Array): string {
  return v instanceof Uint8Array ? `<${v.length} bytes ${Buffer.from(v.subarray(0, 4)).toString('hex')}…>` : String(v);
}
