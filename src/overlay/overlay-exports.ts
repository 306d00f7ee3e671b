import { toHex } from '../format/digest.js';
import type { ServeExport } from '../serve/serve-export.js';
import type { Overlay } from './overlay.js';

/**
 * The exports of an overlay for `hexz serve --overlay`: one per stream of its base, reading the
 * merged content, writable unless the overlay was opened read-only. Names follow `archiveExports`: the stream name, or `PREFIX/stream`
 * when a prefix is given (several archives served).
 *
 * The base comes from the overlay itself (`overlay.base`), so an export can never pair an
 * overlay with the wrong archive.
 *
 * `etag` and `modified` are getters that change with the content: the ETag is
 * `"ovl-<overlay id>-<session>-<sequence>-<stream>"`, where the sequence advances with every
 * write and the session is random per open (a sequence number torn off by a crash and reused
 * after it can then never name other bytes). A server must read them per response, not once.
 *
 * @param prefix the NAME of `NAME/disk` (omit with a single archive).
 */
export function overlayExports(overlay: Overlay, prefix?: string): ServeExport[] {
  const archive = overlay.base;
  const archiveId = toHex(archive.archiveId);
  const id = overlay.overlayId.slice(0, 16);
  return overlay.streams.map((stream): ServeExport => ({
    name: prefix === undefined ? stream : `${prefix}/${stream}`,
    description: `${stream} stream of ${archive.name} with overlay ${overlay.path}`,
    size: overlay.size(stream),
    blockSize: archive.header.blockSize,
    archiveId,
    get etag() {
      return `"ovl-${id}-${overlay.session}-${overlay.sequence}-${stream}"`;
    },
    get modified() {
      return new Date(Math.max(overlay.modifiedMs, archive.header.createdMs));
    },
    read: (offset, length, signal) => overlay.read(stream, offset, length, { signal }),
    extents: (offset, length, maxExtents, signal) => overlay.extents(stream, offset, length, { maxExtents, signal }),
    // A read-only overlay serves the merged content without a writer.
    ...(overlay.readOnly ? {} : {
      writer: {
        write: (offset: number, data: Uint8Array) => overlay.write(stream, offset, data),
        writeZeroes: (offset: number, length: number) => overlay.writeZeroes(stream, offset, length),
        trim: (offset: number, length: number) => overlay.trim(stream, offset, length),
        flush: () => overlay.flush(),
      },
    }),
  }));
}
