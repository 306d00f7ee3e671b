import type { CodecId } from '../format/constants.js';
import type { StoredRef } from './archive-writer.js';

/**
 * Content hash -> where the first copy is stored. Kept in flat typed arrays with open
 * addressing (about 50 bytes per unique block, no per-entry objects), so a 2 GiB image of
 * 64 KiB blocks needs ~1.6 MB and a 1 TiB one ~0.8 GiB.
 */
export class DedupTable {
  private slots = new Int32Array(1 << 12).fill(-1);
  private hashes = new Uint8Array(32 * 1024);
  private offsets = new Float64Array(1024);
  private lengths = new Uint32Array(1024);
  private encodings = new Uint8Array(1024);
  /** Which archive holds the copy: 0 = the one being written, k = parent slot k (thin snapshots). */
  private archiveSlots = new Uint8Array(1024);
  private count = 0;

  /** Number of unique blocks recorded. */
  get size(): number {
    return this.count;
  }

  /** The stored copy of content with hash `hash`, if any. */
  get(hash: Uint8Array): StoredRef | undefined {
    const mask = this.slots.length - 1;
    for (let s = slotOf(hash) & mask; ; s = (s + 1) & mask) {
      const i = this.slots[s];
      if (i < 0) return undefined;
      if (this.matches(i, hash)) return { slot: this.archiveSlots[i], storedOffset: this.offsets[i], storedLength: this.lengths[i], encoding: this.encodings[i] as CodecId };
    }
  }

  /** Records the first stored copy of `hash`. */
  set(hash: Uint8Array, ref: StoredRef): void {
    if ((this.count + 1) * 2 > this.slots.length) this.grow();
    const i = this.count++;
    if (i >= this.offsets.length) this.growArrays();
    this.hashes.set(hash.subarray(0, 32), i * 32);
    this.offsets[i] = ref.storedOffset;
    this.lengths[i] = ref.storedLength;
    this.encodings[i] = ref.encoding;
    this.archiveSlots[i] = ref.slot ?? 0;
    this.insert(i);
  }

  /** Every recorded hash (views into the table; valid until the next {@link set}). */
  *hashList(): Generator<Uint8Array> {
    for (let i = 0; i < this.count; i++) yield this.hashes.subarray(i * 32, i * 32 + 32);
  }

  private matches(i: number, hash: Uint8Array): boolean {
    const base = i * 32;
    for (let k = 0; k < 32; k++) if (this.hashes[base + k] !== hash[k]) return false;
    return true;
  }

  private insert(i: number): void {
    const mask = this.slots.length - 1;
    let s = slotOf(this.hashes.subarray(i * 32, i * 32 + 32)) & mask;
    while (this.slots[s] >= 0) s = (s + 1) & mask;
    this.slots[s] = i;
  }

  private grow(): void {
    this.slots = new Int32Array(this.slots.length * 2).fill(-1);
    for (let i = 0; i < this.count; i++) this.insert(i);
  }

  private growArrays(): void {
    const n = this.offsets.length * 2;
    const h = new Uint8Array(n * 32); h.set(this.hashes); this.hashes = h;
    const o = new Float64Array(n); o.set(this.offsets); this.offsets = o;
    const l = new Uint32Array(n); l.set(this.lengths); this.lengths = l;
    const e = new Uint8Array(n); e.set(this.encodings); this.encodings = e;
    const a = new Uint8Array(n); a.set(this.archiveSlots); this.archiveSlots = a;
  }
}

/** The hash is uniformly random, so its first 4 bytes are a good slot index. */
function slotOf(hash: Uint8Array): number {
  return (hash[0] | (hash[1] << 8) | (hash[2] << 16) | (hash[3] << 24)) >>> 0;
}
