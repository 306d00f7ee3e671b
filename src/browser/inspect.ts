import { locateParent, parentLookupMessage } from '../archive/locate-parent.js';
import { toHex } from '../format/digest.js';
import { decodeSignatureBlock, isSigned, SIGNATURE_ALGORITHM_NAMES, SIGNATURE_BLOCK_SIZE } from '../format/signature.js';
import { formatTime } from '../util/format-time.js';
import { HexzError } from '../errors.js';
import type { InspectParent } from '../ops/inspect-parents.js';
import { headerReport, type InspectReport, type InspectSignature } from '../ops/inspect-report.js';
import { Archive } from './archive.js';
import { URL_PLACES, urlParentOf } from './url-places.js';

/**
 * What `hexz inspect` reports, for an archive open in a page: the header's summary, its
 * metadata (unless locked), its signature (unverified: the page shows who signed, it does not
 * vouch for it) and, for a thin archive, each parent's state as found by URL (headers only).
 * @throws CorruptArchiveError when the metadata fails its checks.
 */
export async function inspectArchive(a: Archive, options: { parentDirs?: string[] } = {}): Promise<InspectReport> {
  const report = headerReport(a);
  report.metadata = a.locked ? null : await a.metadata();
  report.signature = await inspectSignature(a);
  if (a.parentRecords.length > 0) {
    const parents: InspectParent[] = [];
    for (const record of a.parentRecords) {
      const base = { slot: record.slot, direct: record.slot === 1, archiveId: toHex(record.archiveId), recordedPath: record.path };
      const r = await locateParent(record, {
        baseDir: urlParentOf(a.name), searchDirs: options.parentDirs ?? [],
        open: (url) => Archive.open(url, { openParents: false, preloadIndexBytes: 0 }),
      }, URL_PLACES, a.platform.blake3);
      if (r.found) {
        await r.archive.close();
        parents.push({ ...base, status: 'found', foundAt: r.path });
      } else {
        parents.push({ ...base, status: r.reason === 'mismatch' ? 'modified' : 'missing', error: parentLookupMessage(record, r) });
      }
    }
    report.thin = { parents, ownStoredBytes: a.header.data.length, referencedBytes: a.header.parents.referencedBytes };
  }
  return report;
}

/** The signature block as `inspect` shows it: who signed and when, never verified here. */
async function inspectSignature(a: Archive): Promise<InspectSignature | null> {
  if (!isSigned(a.header)) return null;
  try {
    const bytes = await a.source.read(a.header.signature.offset, SIGNATURE_BLOCK_SIZE);
    const block = decodeSignatureBlock(bytes);
    // The OpenSSH form of the key's fingerprint, as `hexz inspect` prints it (crypto/signing.ts).
    const digest = globalThis.crypto?.subtle ? new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', block.publicKey as Uint8Array<ArrayBuffer>)) : undefined;
    return {
      algorithm: SIGNATURE_ALGORITHM_NAMES[block.algorithm], signedAt: formatTime(block.signedAtMs), verified: false,
      fingerprint: digest && `SHA256:${btoa(String.fromCharCode(...digest)).replace(/=+$/, '')}`,
    };
  } catch (err) {
    if (!(err instanceof HexzError)) throw err;
    return { verified: false, error: err.message };
  }
}
