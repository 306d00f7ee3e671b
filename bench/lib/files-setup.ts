/**
 * The files bench's inputs, prepared untimed: the two archives (v2 thin against v1), the ext4
 * partition's place, a raw copy of that partition for debugfs, and the files to read with what
 * debugfs says they need.
 */
import { createHash } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import type { HexzLib } from './build-snapshot.js';
import { fileFootprint, type FileFootprint } from './debugfs.js';
import { log } from './log.js';
import { run } from './run.js';

const MiB = 1 << 20;

/** A file the bench reads. */
export interface Target {
  /** The path given to hexz. */
  path: string;
  size: number;
  /** Why this file: `small config file`, `largest 5-20 MiB file under /usr/lib or /usr/bin`. */
  why: string;
  /** Its real path, data and the metadata on the way to it, as debugfs sees them. */
  foot: FileFootprint;
}

/** The partition the files live in. */
export interface PartitionPlace { number: number; offset: number; size: number; source: string }

/** `hexz pack` of v1, then of v2 thin against v1 (the CLI of the measured build). */
export async function packBoth(bin: string, raw1: string, raw2: string, v1: string, v2: string): Promise<void> {
  log(`packing ${raw1} -> ${v1} ...`);
  await run(process.execPath, [bin, 'pack', '--disk', raw1, '-o', v1], { time: false });
  log(`packing ${raw2} -> ${v2} (thin, --parent ${v1}) ...`);
  await run(process.execPath, [bin, 'pack', '--disk', raw2, '-o', v2, '--parent', v1], { time: false });
}

/** A file to read: its path and its size (symlinks followed). */
export interface FileChoice { path: string; size: number }

/**
 * The ext4 partition hexz opens in `v1`, checked against `sfdisk --json` of the raw disk (the
 * peers' offsets come from the partition table, not from hexz), the size of the small file
 * `smallPath`, the large file to read, and how many entries the whole tree has.
 * @throws Error when sfdisk disagrees with hexz, or no file fits.
 */
export async function inspectV1(lib: HexzLib, v1: string, raw1: string, smallPath: string): Promise<{ partition: PartitionPlace; small: FileChoice; large: FileChoice; entries: number }> {
  const a = await lib.Archive.open(v1);
  try {
    const vol = await lib.openVolume(a);
    const p = vol.partition;
    const partition: PartitionPlace = { number: p.number, offset: p.offset, size: p.size, source: 'hexz (sfdisk not found)' };
    const sf = spawnSync('sfdisk', ['--json', raw1], { encoding: 'utf8' });
    if (sf.status === 0) {
      const t = (JSON.parse(sf.stdout) as { partitiontable: { sectorsize?: number; partitions: { start: number; size: number }[] } }).partitiontable;
      const sector = t.sectorsize ?? 512;
      const row = t.partitions[p.number - 1];
      if (!row || row.start * sector !== p.offset || row.size * sector !== p.size) {
        throw new Error(`sfdisk --json ${raw1} disagrees with hexz about partition ${p.number}: ${JSON.stringify(row)} vs offset ${p.offset} size ${p.size}`);
      }
      partition.source = 'sfdisk --json (agrees with hexz)';
    }
    // The largest file of 5-20 MiB under /usr/lib or /usr/bin, from the archive's own listing.
    const small = { path: smallPath, size: (await vol.fs.lookup(smallPath, { followFinal: true })).size };
    let large: FileChoice | undefined;
    let entries = 0;
    for await (const e of (await lib.listFiles(vol)).entries) {
      entries++;
      if (e.type === 'file' && /^\/usr\/(lib|bin)\//.test(e.path) && e.size >= 5 * MiB && e.size <= 20 * MiB && (!large || e.size > large.size)) large = { path: e.path, size: e.size };
    }
    if (!large) throw new Error('no regular file of 5-20 MiB under /usr/lib or /usr/bin');
    return { partition, small, large, entries };
  } finally {
    await a.close();
  }
}

/** A sparse raw copy of the partition (what debugfs reads: it has no offset option). */
export function extractPartition(raw: string, p: PartitionPlace, out: string): void {
  log(`copying partition ${p.number} of ${raw} to ${out} (sparse) ...`);
  execFileSync('dd', [`if=${raw}`, `of=${out}`, 'bs=4M', 'iflag=skip_bytes,count_bytes', `skip=${p.offset}`, `count=${p.size}`, 'conv=sparse', 'status=none']);
}

/**
 * The target at `path`: its debugfs footprint, after checking that `hexz cat --file` and
 * `debugfs cat` of its real path give the same bytes (so every measure reads the same file).
 * @throws Error when they differ.
 */
export function makeTarget(bin: string, v1: string, partRaw: string, path: string, size: number, why: string): Target {
  const foot = fileFootprint(partRaw, path);
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  const viaHexz = execFileSync(process.execPath, [bin, 'cat', v1, '--file', path], { maxBuffer: 64 * MiB });
  const viaDebugfs = execFileSync('debugfs', ['-R', `cat ${foot.realPath}`, partRaw], { maxBuffer: 64 * MiB, stdio: ['ignore', 'pipe', 'ignore'] });
  if (viaHexz.length !== size || sha(viaHexz) !== sha(viaDebugfs)) {
    throw new Error(`${path}: hexz cat (${viaHexz.length} bytes) and debugfs cat ${foot.realPath} (${viaDebugfs.length} bytes) differ`);
  }
  return { path, size, why, foot };
}
