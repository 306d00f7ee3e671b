/**
 * The `hexz build --spec image.toml` file: a partition table and, per partition, the filesystem
 * to make and the tree to fill it from. Parsing is strict (an unknown or mistyped key is an
 * error naming the key and its table) because a typo in a disk layout should stop the build,
 * not silently produce a different disk. Sizes and offsets are laid out later by planPartitions.
 */
import { resolve } from 'node:path';
import { parse, TomlError } from 'smol-toml';
import { UsageError } from '../errors.js';
import type { PartitionTableKind } from '../fs/partition/types.js';
import { GPT_NAME_LENGTH } from '../fs/partition/write-gpt.js';
import { parseSize } from '../util/size.js';

/** Filesystems a spec partition can hold; `none` writes nothing (the space stays zero). */
export type SpecFilesystem = 'ext4' | 'ext2' | 'none';

/** One `[[partition]]` of a spec, validated. Sizes in bytes. */
export interface BuildSpecPartition {
  /** Type name or GUID (gpt) / name or `0xNN` (mbr), as written; absent only with table `none`. */
  type?: string;
  /** Bytes; `auto` fits the source tree; absent fills the rest of the disk (last partition only). */
  size?: number | 'auto';
  /** GPT partition name. */
  label?: string;
  /** Default `ext4` when there is a source, else `none`. */
  fs: SpecFilesystem;
  /** Absolute path of the directory or tar file to copy in (resolved against the spec's directory). */
  source?: string;
  /** Filesystem label, at most 16 bytes of UTF-8. */
  fsLabel?: string;
  /** Filesystem UUID, lower-case 8-4-4-4-12. */
  fsUuid?: string;
  /** Make every file owned by root (uid and gid 0) whatever the source says. */
  rootOwned?: boolean;
}

/** A validated spec. */
export interface BuildSpec {
  table: PartitionTableKind;
  /** Disk size in bytes; absent: auto (the partitions' sizes plus the table's overhead). */
  size?: number;
  partitions: BuildSpecPartition[];
}

const TOP_KEYS = ['table', 'size', 'partition'] as const;
const PARTITION_KEYS = ['type', 'size', 'label', 'fs', 'source', 'fs-label', 'fs-uuid', 'root-owned'] as const;
const FILESYSTEMS: readonly SpecFilesystem[] = ['ext4', 'ext2', 'none'];
/** ext2/3/4 keep the volume label in a 16-byte superblock field (s_volume_name). */
const FS_LABEL_BYTES = 16;

/**
 * Parses and validates a build spec. The format (TOML):
 * ```toml
 * table = "gpt"          # gpt | mbr | none  (default gpt)
 * size = "4G"            # disk size; omit (or "auto") for auto (sum of partitions)
 * [[partition]]
 * type = "esp"           # name or GUID (gpt) / name or 0xNN (mbr)
 * size = "100M"          # omit on the last partition to fill the disk ('auto' allowed on a partition with a source: fit the tree)
 * label = "EFI"          # partition name (gpt)
 * fs = "none"            # ext4 | ext2 | none (no filesystem written; space left zero)
 * [[partition]]
 * type = "linux"
 * fs = "ext4"
 * source = "rootfs/"     # directory or tar file, relative to the spec file
 * fs-label = "root"      # filesystem label (≤16 bytes)
 * fs-uuid = "…"          # optional filesystem UUID
 * root-owned = true      # optional
 * ```
 * Sizes are byte counts or strings with a binary K/M/G/T suffix (`100M`, `4GiB`). `fs` defaults
 * to `ext4` with a source and `none` without; a filesystem without a source is made empty.
 * With `table = "none"` there is exactly one partition, the whole disk, without `type` or `label`.
 * `source` paths are resolved against `baseDir` (the spec file's directory); they are not opened here.
 * @throws UsageError, every message starting `spec:`: TOML syntax (with line and column), an
 *   unknown key (`spec: unknown key "sise" in [[partition]] 2`), a value of the wrong type, a
 *   bad size, table or fs, no partitions, a non-last partition without a size, `auto` without
 *   a source, a source/fs-label/fs-uuid/root-owned on `fs = "none"`, a label on an MBR, a
 *   name or label too long, a malformed fs-uuid, or not one partition with table `none`.
 * @example
 * const spec = parseBuildSpec(await readFile('image.toml', 'utf8'), dirname(resolve('image.toml')));
 */
export function parseBuildSpec(text: string, baseDir: string): BuildSpec {
  let doc: Record<string, unknown>;
  try {
    doc = parse(text);
  } catch (err) {
    if (!(err instanceof TomlError)) throw err;
    const reason = err.message.split('\n')[0].replace(/^Invalid TOML document: /, '');
    throw new UsageError(`spec: line ${err.line}, column ${err.column}: ${reason}`, { stage: 'spec' }, { cause: err });
  }
  const top = new Table(doc, 'at the top level');
  top.checkKeys(TOP_KEYS);
  const table = top.oneOf('table', ['gpt', 'mbr', 'none'] as const) ?? 'gpt';
  const size = top.size('size');
  if (size === 0) throw fail('"size" at the top level must be more than 0');
  const list = doc.partition;
  if (list === undefined) throw fail('no [[partition]]: a spec needs at least one');
  if (!Array.isArray(list) || list.some((p) => !isTable(p))) throw fail('"partition" must be an array of tables, written [[partition]]');
  if (list.length === 0) throw fail('no [[partition]]: a spec needs at least one');
  if (table === 'none' && list.length !== 1) throw fail(`table = "none" takes exactly one [[partition]] (the whole disk), not ${list.length}`);
  if (table === 'mbr' && list.length > 4) throw fail(`an MBR holds at most 4 partitions, not ${list.length}`);
  const partitions = list.map((p, i) => parsePartition(new Table(p as Record<string, unknown>, `in [[partition]] ${i + 1}`), table, baseDir, i === list.length - 1));
  return size === undefined ? { table, partitions } : { table, size, partitions };
}

function parsePartition(t: Table, table: PartitionTableKind, baseDir: string, last: boolean): BuildSpecPartition {
  t.checkKeys(PARTITION_KEYS);
  const type = t.string('type');
  const label = t.string('label');
  const source = t.string('source');
  const size = t.size('size', true);
  const fs = t.oneOf('fs', FILESYSTEMS) ?? (source !== undefined ? 'ext4' : 'none');
  const fsLabel = t.string('fs-label');
  const fsUuid = t.string('fs-uuid');
  const rootOwned = t.boolean('root-owned');

  if (table === 'none') {
    if (type !== undefined || label !== undefined) throw t.fail(`"${type !== undefined ? 'type' : 'label'}" has no meaning with table = "none" (no partition table)`);
  } else if (type === undefined) {
    throw t.fail('"type" is missing (a name like linux or esp, or a GUID / 0xNN)');
  }
  if (label !== undefined && table === 'mbr') throw t.fail('"label" is a GPT partition name; an MBR has none');
  if (label !== undefined && label.length > GPT_NAME_LENGTH) throw t.fail(`"label" is longer than the ${GPT_NAME_LENGTH} UTF-16 code units a GPT name holds`);
  if (size === 0) throw t.fail('"size" must be more than 0');
  if (size === undefined && !last) throw t.fail('no "size"; only the last partition may omit it (to fill the disk)');
  if (size === 'auto' && source === undefined) throw t.fail('size = "auto" fits a source tree, and there is no "source"');
  if (source === '') throw t.fail('"source" is empty');
  if (fs === 'none') {
    const needsFs = ([['source', source], ['fs-label', fsLabel], ['fs-uuid', fsUuid], ['root-owned', rootOwned]] as const).find(([, v]) => v !== undefined);
    if (needsFs) throw t.fail(`"${needsFs[0]}" needs a filesystem, and fs = "none"`);
  }
  if (fsLabel !== undefined && new TextEncoder().encode(fsLabel).length > FS_LABEL_BYTES) throw t.fail(`"fs-label" is longer than ${FS_LABEL_BYTES} bytes`);
  if (fsUuid !== undefined && !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(fsUuid)) {
    throw t.fail(`"fs-uuid" '${fsUuid}' is not a UUID (8-4-4-4-12 hex digits)`);
  }

  const out: BuildSpecPartition = { fs };
  if (type !== undefined) out.type = type;
  if (size !== undefined) out.size = size;
  if (label !== undefined) out.label = label;
  if (source !== undefined) out.source = resolve(baseDir, source);
  if (fsLabel !== undefined) out.fsLabel = fsLabel;
  if (fsUuid !== undefined) out.fsUuid = fsUuid.toLowerCase();
  if (rootOwned !== undefined) out.rootOwned = rootOwned;
  return out;
}

/** Typed access to one TOML table; every error names the key and `where` (the table). */
class Table {
  constructor(private readonly values: Record<string, unknown>, private readonly where: string) {}

  /** A rule broken inside this table: `spec: [[partition]] 2: <what>`. */
  fail(what: string): UsageError {
    return fail(`${this.where.replace(/^in /, '')}: ${what}`);
  }

  checkKeys(known: readonly string[]): void {
    for (const key of Object.keys(this.values)) {
      if (!known.includes(key)) throw fail(`unknown key "${key}" ${this.where} (known: ${known.join(', ')})`);
    }
  }

  string(key: string): string | undefined {
    const v = this.values[key];
    if (v === undefined || typeof v === 'string') return v;
    throw this.wrongType(key, 'a string', v);
  }

  boolean(key: string): boolean | undefined {
    const v = this.values[key];
    if (v === undefined || typeof v === 'boolean') return v;
    throw this.wrongType(key, 'true or false', v);
  }

  oneOf<T extends string>(key: string, choices: readonly T[]): T | undefined {
    const v = this.string(key);
    if (v === undefined || (choices as readonly string[]).includes(v)) return v as T | undefined;
    throw fail(`"${key}" ${this.where} must be ${choices.map((c) => `"${c}"`).join(', ')}, not "${v}"`);
  }

  /** A size: bytes as a number, or a string with a K/M/G/T suffix; `auto` only when `auto`, else auto is absent. */
  size(key: string, auto: true): number | 'auto' | undefined;
  size(key: string): number | undefined;
  size(key: string, auto = false): number | 'auto' | undefined {
    const v = this.values[key];
    if (v === undefined) return undefined;
    if (typeof v === 'string' && v.trim().toLowerCase() === 'auto') return auto ? 'auto' : undefined;
    if (typeof v !== 'number' && typeof v !== 'string') throw this.wrongType(key, 'a size (bytes, or a string like "100M")', v);
    try {
      return parseSize(v);
    } catch (err) {
      if (err instanceof UsageError) throw new UsageError(`spec: "${key}" ${this.where}: ${err.message}`, { stage: 'spec' }, { cause: err });
      throw err;
    }
  }

  private wrongType(key: string, expected: string, v: unknown): UsageError {
    const got = Array.isArray(v) ? 'an array' : v instanceof Date ? 'a date' : isTable(v) ? 'a table' : `${typeof v} ${JSON.stringify(v)}`;
    return fail(`"${key}" ${this.where} must be ${expected}, not ${got}`);
  }
}

function isTable(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

function fail(message: string): UsageError {
  return new UsageError(`spec: ${message}`, { stage: 'spec' });
}
