import { UsageError } from '../../errors.js';

/** ext4's longest name, in bytes (EXT4_NAME_LEN). */
export const NAME_MAX = 255;

/** Longest entry path accepted, in bytes: 16 times Linux's PATH_MAX. */
export const PATH_BYTES_MAX = 65536;

/**
 * Splits a path stored in a tar into the names leading to it, as tar extraction resolves it
 * below the target directory: leading `/` and `./` are dropped, as are empty and `.`
 * components (`a//./b` is `a/b`); no components at all is the root.
 * @param source names the tar in messages.
 * @throws UsageError for a `..` component (the entry would land outside the tree), a NUL
 *   byte, or a name longer than 255 bytes.
 */
export function tarPathComponents(path: Uint8Array, source: string): Uint8Array[] {
  if (path.length > PATH_BYTES_MAX) throw refuse(path.subarray(0, 64), source, `(${path.length} bytes) is longer than the ${PATH_BYTES_MAX} bytes hexz build takes (a tree that deep would hold its paths many times over in memory)`);
  const out: Uint8Array[] = [];
  let from = 0;
  for (let i = 0; i <= path.length; i++) {
    if (i < path.length && path[i] !== 0x2f) continue;
    const name = path.subarray(from, i);
    from = i + 1;
    if (name.length === 0 || (name.length === 1 && name[0] === 0x2e)) continue;
    if (name.length === 2 && name[0] === 0x2e && name[1] === 0x2e) throw refuse(path, source, "has a '..' component, which would leave the tree");
    if (name.includes(0)) throw refuse(path, source, 'contains a NUL byte');
    if (name.length > NAME_MAX) throw refuse(path, source, `has a name of ${name.length} bytes; ext4 allows at most ${NAME_MAX}`);
    out.push(name);
  }
  return out;
}

/** A path for messages (non-UTF-8 bytes shown as U+FFFD). */
export function pathText(path: Uint8Array): string {
  return Buffer.from(path).toString('utf8');
}

function refuse(path: Uint8Array, source: string, why: string): UsageError {
  return new UsageError(`${source}: entry '${pathText(path)}' ${why}`, { archive: source, stage: 'read tar' });
}
