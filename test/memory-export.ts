/**
 * A `ServeExport` over bytes in memory for the server tests: read-only or writable, zero runs
 * found at 4 KiB granularity, every call recorded (`calls`, `reads`, `flushes`), optionally a
 * delay per read or a CorruptArchiveError for reads covering `failAt`.
 */
import { CorruptArchiveError } from '../src/errors.ts';
import type { StreamExtent } from '../src/archive/stream-view.ts';
import type { ExportWriter, ServeExport } from '../src/serve/serve-export.ts';

export interface MemoryExportOptions {
  writable?: boolean;
  /** Advertised block size in bytes (default 65536). */
  blockSize?: number;
  /** Reads covering this offset fail with CorruptArchiveError. */
  failAt?: number;
  /** Milliseconds each read waits before answering. */
  readDelayMs?: number;
}

export type MemoryExport = ServeExport & { calls: string[]; reads: number; flushes: number };

export function memoryExport(name: string, bytes: Uint8Array, options: MemoryExportOptions = {}): MemoryExport {
  const writer: ExportWriter = {
    async write(offset, data) { exp.calls.push(`write ${offset} ${data.length}`); bytes.set(data, offset); },
    async writeZeroes(offset, length) { exp.calls.push(`zero ${offset} ${length}`); bytes.fill(0, offset, offset + length); },
    async trim(offset, length) { exp.calls.push(`trim ${offset} ${length}`); bytes.fill(0, offset, offset + length); },
    async flush() { exp.calls.push('flush'); exp.flushes++; },
  };
  const exp: MemoryExport = {
    name, description: `${name} in memory`, size: bytes.length, blockSize: options.blockSize ?? 65536,
    archiveId: '00', etag: '"m"', modified: new Date(0), calls: [], reads: 0, flushes: 0,
    async read(offset, length) {
      exp.calls.push(`read ${offset} ${length}`);
      exp.reads++;
      if (options.readDelayMs) await new Promise((r) => setTimeout(r, options.readDelayMs));
      if (options.failAt !== undefined && options.failAt >= offset && options.failAt < offset + length) {
        throw new CorruptArchiveError('block 3 fails its hash', { offset: options.failAt, stage: 'block' });
      }
      return bytes.slice(offset, offset + length);
    },
    async extents(offset, length, maxExtents) {
      exp.calls.push(`extents ${offset} ${length}`);
      const out: StreamExtent[] = [];
      for (let at = offset; at < offset + length;) {
        const to = Math.min(offset + length, (Math.floor(at / 4096) + 1) * 4096);
        const zero = bytes.subarray(at, to).every((b) => b === 0);
        const last = out[out.length - 1];
        if (last && last.zero === zero) last.length += to - at;
        else {
          if (out.length >= maxExtents) break;
          out.push({ offset: at, length: to - at, zero });
        }
        at = to;
      }
      return out;
    },
    writer: options.writable ? writer : undefined,
  };
  return exp;
}
