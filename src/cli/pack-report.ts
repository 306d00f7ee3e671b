import type { PackProgress, PackResult } from '../pack/pack.js';
import { formatBytes } from '../util/size.js';
import { bytesText, ratioText } from './output.js';
import type { ProgressView } from './progress.js';

/**
 * The progress callback of every command that packs (`pack`, `flatten`, `rebase`): bytes done
 * and total on the bar, with the dictionary phase, the bytes saved by dedup (for a thin pack,
 * mostly blocks found in the parent chain) and the compression so far.
 */
export function packProgressHandler(view: ProgressView): (p: PackProgress) => void {
  return (p) => view.update(p.bytesDone, p.bytesTotal, {
    ...(p.phase === 'train' ? { dictionary: 'training…' } : p.trainSeconds > 0 ? { 'dict trained in': `${p.trainSeconds.toFixed(1)} s` } : {}),
    dedup: formatBytes(p.dedupBytes),
    ratio: ratioText((p.bytesDone - p.zeroBytes - p.dedupBytes) / Math.max(1, p.storedBytes)),
  });
}

/** The `key: value` rows summarising a finished pack (archive, ratio, settings, thin parent, dedup, time). */
export function packSummaryFields(r: PackResult): [string, string][] {
  return [
    ['archive', `${r.output} (${bytesText(r.archiveBytes)})`],
    ['input', bytesText(r.logicalBytes)],
    ['ratio', ratioText(r.ratio)],
    ['settings', settingsText(r)],
    ...(r.dictionary ? [['dictionary', `${bytesText(r.dictionary.bytes)}, trained in ${r.dictionary.trainSeconds.toFixed(2)} s, ${r.dictionary.gain.toFixed(2)}x smaller on held-out samples`] as [string, string]] : []),
    ...(r.encryption ? [['encryption', `AES-256-GCM, Argon2id ${formatBytes(r.encryption.kdf.memoryKiB * 1024)} × ${r.encryption.kdf.iterations} iterations × ${r.encryption.kdf.lanes} lanes (${r.encryption.kdfSeconds.toFixed(2)} s)`] as [string, string]] : []),
    ...thinFields(r),
    ['dedup saved', bytesText(r.streams.reduce((n, s) => n + s.dedupBytes, 0))],
    ['zero', bytesText(r.streams.reduce((n, s) => n + s.zeroBytes, 0))],
    ['time', `${r.seconds.toFixed(2)} s (${formatBytes(Math.round(r.logicalBytes / Math.max(r.seconds, 0.001)))}/s)`],
  ];
}

/** A thin pack's parent (and id), the archives its table names, and the bytes read from them. */
function thinFields(r: PackResult): [string, string][] {
  if (!r.thin) return [];
  const t = r.thin;
  return [
    ['parent', `${t.parent} (archive ${t.parentId})`],
    ['slots', `${t.slots} (the parent${t.slots > 1 ? ` and ${t.slots - 1} archive${t.slots > 2 ? 's' : ''} of its chain` : ''}; all must stay reachable)`],
    ['referenced', `${bytesText(t.referencedBytes)} of content read from the chain, not stored here`],
  ];
}

/** One line naming the profile and the settings it resolved to. */
function settingsText(r: { profile: string; compression: string; level: number; blockSize: number; cdc: { min: number; avg: number; max: number } | null }): string {
  const codec = r.compression === 'zstd' ? `zstd ${r.level}` : r.compression;
  const chunks = r.cdc ? `FastCDC ${formatBytes(r.cdc.min)}/${formatBytes(r.cdc.avg)}/${formatBytes(r.cdc.max)}` : `fixed ${formatBytes(r.blockSize)} blocks`;
  return `profile ${r.profile}, ${codec}, ${chunks}`;
}
