/**
 * `hexz build`: a disk image made from directory trees or tar files, straight into an archive.
 * Each partition's tree is scanned, laid out as ext4/ext2 (no I/O), the partition table planned
 * around the filesystems' sizes, and the whole disk handed to the packer as a virtual image:
 * nothing is written but the archive, no root and no loop device are needed, and unused space
 * is a zero run the packer never reads.
 */
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { UsageError } from '../errors.js';
import { encodeGpt } from '../fs/partition/write-gpt.js';
import { encodeMbr } from '../fs/partition/write-mbr.js';
import { planPartitions, type PartitionRequest } from '../fs/partition/plan-partitions.js';
import type { Archive } from '../node/archive.js';
import type { PackOptions, PackResult } from '../pack/pack-options.js';
import { HEXZ_VERSION } from '../version.js';
import { asUuidV4, buildIds, parseUuidText } from './build-ids.js';
import { ComposedImage, type DiskPiece } from './composed-image.js';
import { Ext4Image } from './ext4/ext4-image.js';
import type { Ext4Layout } from './ext4/ext4-layout.js';
import { BLOCK_SIZE } from './ext4/ext4-geometry.js';
import { autoFilesystemSize, fitFilesystem } from './fit-filesystem.js';
import { parentIdentities, type FsIdentity } from './parent-identity.js';
import type { BuildSpec } from './spec.js';
import { openSourceTree } from './tree/open-source-tree.js';
import type { SourceInode, SourceTree } from './tree/types.js';

/** Options of {@link build}. */
export interface BuildOptions {
  /** The disk to make (the CLI turns `SOURCE --fs --size --table --label --uuid` into a one-partition spec). */
  spec: BuildSpec;
  output: string;
  /** Packing options (codec, level, block size, profile, encryption, parent, workers, force). */
  pack?: Omit<PackOptions, 'disk' | 'memory' | 'output' | 'archiveId' | 'createdMs' | 'metadata' | 'onProgress' | 'signal' | 'parent'> & { parent?: Archive };
  /** SOURCE_DATE_EPOCH (seconds): file times later than it are clamped, ids derived, the archive dated. */
  sourceDateEpoch?: number;
  /** Where a tar source's contents are spooled (default: the system temp directory). */
  tmpDir?: string;
  /** The stream a source of `-` reads (default process.stdin). */
  stdin?: Readable;
  onProgress?: PackOptions['onProgress'];
  /** Called once the layout is done, before packing starts. */
  onLayout?: (summary: BuildSummary) => void;
  signal?: AbortSignal;
}

/** What was laid out. Sizes in bytes. */
export interface BuildSummary {
  diskSize: number;
  table: BuildSpec['table'];
  partitions: {
    number: number; offset: number; size: number; type?: string; label?: string; fs: string;
    source?: string; fsUuid?: string; files?: number; dirs?: number; dataBytes?: number; usedBytes?: number; inodes?: number;
  }[];
}

/** Result of {@link build}. */
export interface BuildResult extends PackResult {
  build: BuildSummary;
}

function emptyTree(time: number): SourceTree {
  const t = { sec: time, nsec: 0 };
  const root: SourceInode = { kind: 'dir', mode: 0o755, uid: 0, gid: 0, atime: t, mtime: t, ctime: t, size: 0, entries: [] };
  return { root, name: '(empty)', stats: { files: 0, dirs: 1, symlinks: 0, others: 0, hardLinks: 0, fileBytes: 0, dataBytes: 0 }, close: async () => {} };
}

function uuidText(u: Uint8Array): string {
  const h = Buffer.from(u).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * Builds the disk of `options.spec` into the archive `options.output`.
 * @throws UsageError for a tree that does not fit the sizes given, bad spec values, an
 *   existing output; as openSourceTree (unreadable or bad sources) and pack throw. Nothing is
 *   left at `output` on failure.
 */
export async function build(options: BuildOptions): Promise<BuildResult> {
  const { spec } = options;
  // Checked again when the archive is created; here so a large tree is not scanned first for nothing.
  if (!options.pack?.force && !/^[a-z0-9]+:\/\//i.test(options.output) && (await stat(options.output).catch(() => undefined))) {
    throw new UsageError(`${options.output}: output exists (use --force to overwrite)`, { archive: options.output });
  }
  const epoch = options.sourceDateEpoch;
  const time = epoch ?? Math.floor(Date.now() / 1000);
  const trees: (SourceTree | undefined)[] = [];
  try {
    for (const p of spec.partitions) {
      if (p.fs === 'none') trees.push(undefined);
      else if (p.source === undefined) trees.push(emptyTree(time));
      else trees.push(await openSourceTree(p.source, { rootOwned: p.rootOwned, tmpDir: options.tmpDir, signal: options.signal, stdin: options.stdin }));
    }
    const parent = options.pack?.parent;
    const inherited: (FsIdentity | undefined)[] = parent ? await parentIdentities(parent) : [];
    const settings = JSON.stringify({ spec: { ...spec, partitions: spec.partitions.map((p) => ({ ...p, source: p.source ? 'source' : undefined })) }, parent: parent ? Buffer.from(parent.archiveId).toString('hex') : null });
    const derive = buildIds(trees.map((t) => t?.root ?? emptyTree(0).root), settings, epoch);
    const blockSize = typeof options.pack?.blockSize === 'number' ? options.pack.blockSize : 64 * 1024;
    const alignBlocks = Math.max(1, Math.min(256, Math.floor(blockSize / BLOCK_SIZE)));

    // Filesystem identities and sizes first: auto sizes feed the partition plan.
    const fsOptions = spec.partitions.map((p, i) => {
      if (p.fs === 'none') return undefined;
      const uuid = p.fsUuid ? parseUuidText(p.fsUuid) : inherited[i]?.uuid ?? asUuidV4(derive(`fs-uuid-${i}`));
      const hashSeed = inherited[i]?.hashSeed ?? asUuidV4(derive(`fs-hash-seed-${i}`));
      return { fs: p.fs, uuid, hashSeed, label: new TextEncoder().encode(p.fsLabel ?? ''), time, clamp: epoch, alignBlocks };
    });
    const requests: PartitionRequest[] = spec.partitions.map((p, i) => {
      const tree = trees[i];
      // A fill partition of an auto-sized disk is sized like `auto`; on a disk of a given size it gets what is left.
      const auto = p.size === 'auto' || (p.size === undefined && tree !== undefined && spec.size === undefined);
      const minSize = tree && auto ? autoFilesystemSize(tree, fsOptions[i]!) : undefined;
      return { size: auto ? minSize : (p.size as number | undefined), type: p.type, label: p.label, minSize };
    });
    const plan = planPartitions({ table: spec.table, diskSize: spec.size, partitions: requests, derive });

    const layouts: (Ext4Layout | undefined)[] = plan.partitions.map((pp, i) => {
      const tree = trees[i];
      if (!tree) return undefined;
      return fitFilesystem(tree, { ...fsOptions[i]!, sizeBytes: Math.floor(pp.size / BLOCK_SIZE) * BLOCK_SIZE });
    });
    const pieces: DiskPiece[] = [];
    if (plan.table === 'gpt') {
      const { head, tail } = encodeGpt(plan);
      pieces.push({ offset: 0, bytes: head }, { offset: tail.offset, bytes: tail.bytes });
    } else if (plan.table === 'mbr') {
      pieces.push({ offset: 0, bytes: encodeMbr(plan) });
    }
    plan.partitions.forEach((pp, i) => {
      const layout = layouts[i];
      if (layout) pieces.push({ offset: pp.offset, image: new Ext4Image(layout, `${trees[i]!.name} (${layout.fs})`) });
    });
    const summary: BuildSummary = {
      diskSize: plan.diskSize,
      table: plan.table,
      partitions: plan.partitions.map((pp, i) => {
        const sp = spec.partitions[i];
        const tree = trees[i];
        const layout = layouts[i];
        return {
          number: pp.number, offset: pp.offset, size: pp.size, type: sp.type, label: sp.label, fs: sp.fs,
          ...(tree ? { source: tree.name, files: tree.stats.files, dirs: tree.stats.dirs, dataBytes: tree.stats.dataBytes } : {}),
          ...(layout ? { fsUuid: uuidText(fsOptions[i]!.uuid), usedBytes: layout.usedBlocks * BLOCK_SIZE, inodes: layout.usedInodes } : {}),
        };
      }),
    };
    options.onLayout?.(summary);
    const disk = new ComposedImage(options.output, plan.diskSize, pieces);
    const { pack } = await import('../pack/pack.js');
    const archiveId = epoch === undefined ? undefined : derive('archive-id');
    const result = await pack({
      ...options.pack,
      disk,
      output: options.output,
      archiveId,
      createdMs: epoch === undefined ? undefined : epoch * 1000,
      metadata: { tool: `hexz ${HEXZ_VERSION}`, build: { table: summary.table, diskSize: summary.diskSize, partitions: summary.partitions.map(({ source: _s, ...rest }) => rest) } },
      onProgress: options.onProgress,
      signal: options.signal,
    });
    return { ...result, build: summary };
  } finally {
    for (const t of trees) await t?.close().catch(() => {});
  }
}
