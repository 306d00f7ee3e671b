import { readFile } from 'node:fs/promises';

/** One line of /proc/self/mountinfo (proc(5)), the fields hexz needs. */
export interface MountEntry {
  /** Absolute mount point, octal escapes (`\040` for a space) decoded. */
  mountPoint: string;
  /** File system type, e.g. `fuse.hexz`, `fuse.squashfuse`, `ext4`. */
  fsType: string;
  /** Mount source (`fsname=` for FUSE). */
  source: string;
}

/**
 * Parses the text of /proc/self/mountinfo. Pure; malformed lines are skipped.
 * @example parseMountInfo('36 35 0:40 / /mnt/x rw,nosuid - fuse.hexz hexz:vm.hxz ro\n')
 */
export function parseMountInfo(text: string): MountEntry[] {
  const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    const dash = fields.indexOf('-', 6);
    if (fields.length < 10 || dash < 0) continue;
    out.push({ mountPoint: unescape(fields[4]), fsType: fields[dash + 1], source: unescape(fields[dash + 2] ?? '') });
  }
  return out;
}

/**
 * The mounts of this process's namespace on `dir` (absolute, as the kernel spells it), the
 * topmost last.
 * @throws Error when /proc is not mounted.
 */
export async function mountsOn(dir: string): Promise<MountEntry[]> {
  return parseMountInfo(await readFile('/proc/self/mountinfo', 'utf8')).filter((m) => m.mountPoint === dir);
}
