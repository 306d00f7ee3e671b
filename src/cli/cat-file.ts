import { once } from 'node:events';
import type { StreamName } from '../format/constants.js';
import { parseSize } from '../util/size.js';
import { lazyPasswordFor } from './archive-password.js';
import type { CommandContext } from './context.js';
import { parentDirsFrom } from './parent-dirs.js';

/** The flags of `hexz cat` that `--file` uses. */
export interface CatFileFlags {
  file: string;
  partition?: number;
  stream?: StreamName;
  offset: string;
  length?: string;
  passwordFile?: string;
  parentDir?: string[];
}

/**
 * `hexz cat ARCHIVE --file PATH`: one file of the ext2/3/4 filesystem inside the archive's disk
 * to stdout (symlinks followed, holes as zeros); `--offset`/`--length` select a range of the
 * file, `--stream` names the stream holding the disk.
 * @throws UsageError when the path does not exist, is not a regular file, or the range is past
 *   its end; as `readFile`.
 */
export async function catFile(archive: string, flags: CatFileFlags, ctx: CommandContext): Promise<number> {
  const [{ Archive }, { readFile }] = await Promise.all([import('../node/archive.js'), import('../ops/files/read-file.js')]);
  const a = await Archive.open(archive, { password: lazyPasswordFor(archive, flags), parentDirs: parentDirsFrom(flags) });
  try {
    const { chunks } = await readFile(a, flags.file, {
      partition: flags.partition, stream: flags.stream, signal: ctx.signal,
      offset: parseSize(flags.offset), length: flags.length === undefined ? undefined : parseSize(flags.length),
      onWarning: (m) => process.stderr.write(`hexz: warning: ${m}\n`),
    });
    for await (const c of chunks) {
      if (!process.stdout.write(c)) await once(process.stdout, 'drain', { signal: ctx.signal });
    }
  } finally {
    await a.close();
  }
  return 0;
}
