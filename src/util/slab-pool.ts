/** Smallest slab handed out, in bytes: smaller requests get a slab this size. */
const MIN_SLAB = 64 << 10;

/**
 * Reusable buffers of shared memory (SharedArrayBuffer) for a server's large reads: the stored
 * bytes read from the archive and the decoded bytes sent to the client. A worker decodes from and
 * into shared memory in place, so a read served from the pool allocates nothing: without it every
 * 256 KiB read of a whole-disk copy allocated its input and output afresh (new memory the kernel
 * zeroes and faults in page by page), and the garbage collector ran a full collection every few
 * dozen requests because of the external memory (nbdcopy of the corpus disk: 11 full collections
 * in 1.3 s on the serving thread).
 *
 * Slabs come in power-of-two sizes from 64 KiB to `maxSlabBytes`. A slab that is never given
 * back (the caller kept it, or failed) is simply collected: the pool holds only the free ones,
 * at most `maxFreeBytes` of them. A pool of ordinary memory (`shared` false: a network source's
 * scratch, copied out, never sent to another thread) works the same way; so does a shared one
 * where SharedArrayBuffer does not exist (a page that is not cross-origin isolated), with
 * ordinary memory.
 */
export class SlabPool {
  private readonly free = new Map<number, ArrayBufferLike[]>();
  /** Slabs handed out and not given back: only these are accepted by {@link give}. */
  private readonly lent = new WeakSet<ArrayBufferLike>();
  private freeBytes = 0;
  private readonly shared: boolean;

  /**
   * @param maxSlabBytes largest request served from the pool, in bytes; larger ones get plain memory.
   * @param maxFreeBytes bytes of free slabs kept for reuse; beyond it given-back slabs are dropped.
   * @param shared slabs of shared memory (default), which a worker thread reads and writes in
   *   place; false: ordinary memory, which copies into shared memory faster (util/copy-bytes.ts).
   */
  constructor(readonly maxSlabBytes = 32 << 20, readonly maxFreeBytes = 64 << 20, shared = true) {
    this.shared = shared && typeof SharedArrayBuffer === 'function';
  }

  /**
   * A buffer of exactly `length` bytes, not zeroed (it may hold an earlier read's bytes): a view
   * of a slab when `length` is at most `maxSlabBytes`, else of fresh (unshared) memory.
   */
  take(length: number): Uint8Array {
    if (length > this.maxSlabBytes) return new Uint8Array(length);
    const size = slabSize(length);
    const list = this.free.get(size);
    let slab = list?.pop();
    if (slab) this.freeBytes -= size;
    else slab = this.shared ? new SharedArrayBuffer(size) : new ArrayBuffer(size);
    this.lent.add(slab);
    return new Uint8Array(slab, 0, length);
  }

  /**
   * Gives back the slab `view` is part of, for a later {@link take}. The caller, and everything it
   * passed the view (or a view of the same memory) to, must be done with it: the next read
   * overwrites it. Does nothing for memory the pool did not lend or that was already given back.
   * Memory is known by its slab, not by the view: a borrower gives back once (several views of
   * one lending may be given back together), never after it could have been lent again.
   */
  give(view: Uint8Array): void {
    const slab = view.buffer;
    if (!this.lent.has(slab)) return;
    this.lent.delete(slab);
    if (slab.byteLength > this.maxFreeBytes) return;
    // Full: free slabs of other sizes make room (the largest size first), so a pool filled by one
    // kind of read (2 MiB from qemu) still recycles the next kind (256 KiB from nbdcopy).
    while (this.freeBytes + slab.byteLength > this.maxFreeBytes) {
      let victim: number | undefined;
      for (const [size, list] of this.free) if (list.length && size !== slab.byteLength && (victim === undefined || size > victim)) victim = size;
      if (victim === undefined) return;
      this.free.get(victim)!.pop();
      this.freeBytes -= victim;
    }
    let list = this.free.get(slab.byteLength);
    if (!list) this.free.set(slab.byteLength, (list = []));
    list.push(slab);
    this.freeBytes += slab.byteLength;
  }

  /** Bytes of free slabs held for reuse. */
  get heldBytes(): number {
    return this.freeBytes;
  }
}

/** The slab size for `length` bytes: the next power of two, at least {@link MIN_SLAB}. */
function slabSize(length: number): number {
  let size = MIN_SLAB;
  while (size < length) size *= 2;
  return size;
}
