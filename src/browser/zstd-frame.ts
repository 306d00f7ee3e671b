/** RFC 8878 §3.1.1: the magic number that opens a zstd frame. */
const ZSTD_MAGIC = 0xfd2fb528;

/**
 * The Frame_Content_Size a zstd frame's header declares (RFC 8878 §3.1.1.1), or undefined when
 * the header is too short, not a zstd frame, or declares none. Pure; reads at most 18 bytes.
 *
 * Why we parse it: the page's zstd (a WebAssembly build of libzstd behind a thin wrapper)
 * allocates its output from this field before decoding, and a failed allocation there is not
 * checked; a block is therefore decoded only when its frame declares exactly the length its
 * index entry says, so a crafted frame can never make it allocate more, or write to address 0.
 */
export function zstdFrameContentSize(frame: Uint8Array): number | undefined {
  if (frame.length < 6) return undefined;
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  if (view.getUint32(0, true) !== ZSTD_MAGIC) return undefined;
  const descriptor = frame[4];
  const fcsFlag = descriptor >> 6;
  const singleSegment = (descriptor >> 5) & 1;
  const dictIdBytes = [0, 1, 2, 4][descriptor & 3];
  const fcsBytes = [singleSegment ? 1 : 0, 2, 4, 8][fcsFlag];
  if (fcsBytes === 0) return undefined;
  const at = 5 + (singleSegment ? 0 : 1) + dictIdBytes;
  if (frame.length < at + fcsBytes) return undefined;
  switch (fcsBytes) {
    case 1: return view.getUint8(at);
    case 2: return view.getUint16(at, true) + 256;
    case 4: return view.getUint32(at, true);
    default: {
      const n = view.getBigUint64(at, true);
      return n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : undefined;
    }
  }
}
