/**
 * How `hexz files` shows a disk and its files: the partition table, `ls -l`-like lines, and
 * the JSON form of an entry (times as ISO 8601 with nanoseconds).
 */
import type { DiskLayout, FileEntry, FileType, PartitionSummary, Timestamp } from '../ops/files/types.js';
import { formatBytes } from '../util/size.js';

const TYPE_CHAR: Record<FileType, string> = { file: '-', dir: 'd', symlink: 'l', chardev: 'c', blockdev: 'b', fifo: 'p', socket: 's' };

/** `ls -l`'s mode column: type, then rwx triplets with setuid/setgid/sticky as s/S, s/S, t/T. */
export function modeString(type: FileType, mode: number): string {
  const bit = (mask: number, c: string) => (mode & mask ? c : '-');
  const special = (exec: boolean, set: boolean, on: string) => (set ? (exec ? on : on.toUpperCase()) : exec ? 'x' : '-');
  return TYPE_CHAR[type]
    + bit(0o400, 'r') + bit(0o200, 'w') + special((mode & 0o100) !== 0, (mode & 0o4000) !== 0, 's')
    + bit(0o040, 'r') + bit(0o020, 'w') + special((mode & 0o010) !== 0, (mode & 0o2000) !== 0, 's')
    + bit(0o004, 'r') + bit(0o002, 'w') + special((mode & 0o001) !== 0, (mode & 0o1000) !== 0, 't');
}

/**
 * ISO 8601 UTC of a filesystem time: to the second, or with all nine digits of nanoseconds.
 * A time a Date cannot hold comes back as `N s after the epoch`.
 */
export function timestampText(t: Timestamp, nanoseconds = false): string {
  const d = new Date(t.sec * 1000);
  if (Number.isNaN(d.getTime())) return `${t.sec} s after the epoch`;
  const iso = d.toISOString().replace(/\.\d{3}Z$/, '');
  return nanoseconds ? `${iso}.${String(t.nsec).padStart(9, '0')}Z` : `${iso}Z`;
}

/** One `--long` line: mode, links, uid, gid, size (or `major, minor`), mtime, path, `-> target`. */
export function longLine(e: FileEntry): string {
  const size = e.rdev ? `${e.rdev.major}, ${e.rdev.minor}` : String(e.size);
  const target = e.target !== undefined ? ` -> ${e.target}` : '';
  return `${modeString(e.type, e.mode)} ${String(e.nlink).padStart(3)} ${String(e.uid).padEnd(5)} ${String(e.gid).padEnd(5)} ${size.padStart(12)} ${timestampText(e.mtime)} ${e.path}${target}`;
}

/** An entry as `--json` prints it: the library's fields, mode also as `ls` shows it, times as text. */
export function entryJson(e: FileEntry): Record<string, unknown> {
  return {
    ...e, permissions: modeString(e.type, e.mode),
    atime: timestampText(e.atime, true), mtime: timestampText(e.mtime, true), ctime: timestampText(e.ctime, true),
  };
}

/** The partition table as text lines; the partition read is marked. */
export function layoutLines(layout: DiskLayout, chosen: PartitionSummary | undefined): string[] {
  const n = layout.partitions.length;
  const head = layout.table === 'none' ? 'disk: no partition table (a filesystem on the whole disk is partition 0)' : `disk: ${layout.table.toUpperCase()}, ${n} partition${n === 1 ? '' : 's'}`;
  const rows = layout.partitions.map((p) => [
    String(p.number), p.typeName ?? p.type, formatBytes(p.offset), formatBytes(p.size), p.extended ? 'extended' : p.filesystem,
    p.label ? `"${p.label}"` : '', p.uuid ?? '', p === chosen ? '<- listed' : '',
  ]);
  const widths = rows.reduce((w, r) => r.map((c, i) => Math.max(w[i] ?? 0, c.length)), [] as number[]);
  const header = ['#', 'type', 'offset', 'size', 'filesystem', 'label', 'uuid', ''];
  const line = (r: string[]) => `  ${r.map((c, i) => c.padEnd(Math.max(widths[i] ?? 0, header[i].length))).join('  ')}`.trimEnd();
  return [head, line(header), ...rows.map(line)];
}
