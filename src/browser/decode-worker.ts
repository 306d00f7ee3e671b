/**
 * The Web Worker entry of the page's decode pool (`worker-run-decoder.ts`): opens, decodes and
 * hash-checks runs of blocks off the page's thread, with the same code as the page
 * (`archive/decode-run.ts`, the WebAssembly codecs, BLAKE3, WebCrypto). Messages:
 * `{ type: 'setup', token, slots }` once per archive, then `{ type: 'run', id, token, stored,
 * fields, hashes, length }`, answered `{ id, out }` (transferred) or `{ id, error, kind, block }`.
 */
import { decodeRun, RunBlockError, unpackRunBlocks, type RunSlotTools } from '../archive/decode-run.js';
import type { CodecId } from '../format/constants.js';
import { loadBlake3 } from './blake3.js';
import { browserCodecs, loadCodecFor } from './codecs.js';
import { webCryptoOpener } from './web-crypto.js';
import type { WorkerSlot } from './worker-run-decoder.js';

const archives = new Map<number, Promise<RunSlotTools[]>>();

async function toolsOf(slot: WorkerSlot | null): Promise<RunSlotTools> {
  if (!slot) return undefined as unknown as RunSlotTools;
  const opener = slot.keys ? await webCryptoOpener(slot.keys, slot.archiveId!) : undefined;
  return {
    codecs: browserCodecs(slot.dictionary),
    digest: slot.verify ? (opener?.contentHash ?? await loadBlake3()) : undefined,
    open: opener && ((sealed, b) => opener.openBlock(sealed, b.storedOffset, b.length, b.encoding, b.hash)),
  };
}

interface RunMessage { type: 'run'; id: number; token: number; stored: Uint8Array; fields: Float64Array; hashes: Uint8Array; length: number }
interface SetupMessage { type: 'setup'; token: number; slots: (WorkerSlot | null)[] }

self.onmessage = async (ev: MessageEvent<RunMessage | SetupMessage>) => {
  const m = ev.data;
  if (m.type === 'setup') {
    archives.set(m.token, Promise.all(m.slots.map(toolsOf)));
    return;
  }
  try {
    const blocks = unpackRunBlocks(m.fields, m.hashes);
    for (const e of new Set(blocks.map((b) => b.encoding))) await loadCodecFor(e as CodecId);
    const out = await decodeRun({ stored: m.stored, blocks, length: m.length }, await archives.get(m.token)!);
    (self as unknown as Worker).postMessage({ id: m.id, out }, [out.buffer]);
  } catch (err) {
    const e = err instanceof RunBlockError ? err : new RunBlockError((err as Error)?.message ?? String(err), 'internal', -1);
    (self as unknown as Worker).postMessage({ id: m.id, error: e.message, kind: e.kind, block: e.block });
  }
};

// Tells the pool this module loaded: runs are sent only then (a worker that cannot load leaves
// the page decoding in its own thread instead).
(self as unknown as Worker).postMessage({ ready: true });
