/**
 * The identities a build writes — filesystem UUIDs and directory hash seeds, GPT GUIDs, the
 * archive id — derived from one seed, so that the same tree with the same SOURCE_DATE_EPOCH
 * gives the same bytes. The seed hashes the tree's names and metadata (not file contents: those
 * are read only while packing) and the spec; without SOURCE_DATE_EPOCH it is random, as mkfs's
 * UUIDs are.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { SourceInode } from './tree/types.js';

/** Returns 16 bytes for a purpose name, the same for the same seed and name. */
export type Derive = (purpose: string) => Uint8Array;

function feedTree(h: ReturnType<typeof createHash>, root: SourceInode): void {
  const seen = new Map<SourceInode, number>();
  // Depth first with an explicit stack: a tree may be deeper than the call stack.
  type Item = { inode: SourceInode } | { name: Uint8Array } | 'end';
  const stack: Item[] = [{ inode: root }];
  while (stack.length > 0) {
    const item = stack.pop()!;
    if (item === 'end') {
      h.update('end\n');
      continue;
    }
    if ('name' in item) {
      h.update(`${item.name.length}:`);
      h.update(item.name);
      continue;
    }
    const n = item.inode;
    const again = seen.get(n);
    if (again !== undefined) {
      h.update(`link ${again}\n`);
      continue;
    }
    seen.set(n, seen.size);
    h.update(`${n.kind} ${n.mode} ${n.uid} ${n.gid} ${n.mtime.sec}.${n.mtime.nsec} ${n.size} ${n.rdev?.major ?? ''},${n.rdev?.minor ?? ''}\n`);
    if (n.target) h.update(n.target);
    stack.push('end');
    const entries = n.entries ?? [];
    for (let i = entries.length - 1; i >= 0; i--) stack.push({ inode: entries[i].inode }, { name: entries[i].name });
  }
}

/**
 * The derivation for a build.
 * @param trees the source trees' roots in partition order.
 * @param settings everything else that shapes the output (spec, options), as a string.
 * @param epoch SOURCE_DATE_EPOCH in seconds; undefined gives a random seed.
 */
export function buildIds(trees: readonly SourceInode[], settings: string, epoch: number | undefined): Derive {
  let seed: Buffer;
  if (epoch === undefined) {
    seed = randomBytes(32);
  } else {
    const h = createHash('sha256');
    h.update(`hexz build\n${epoch}\n${settings}\n`);
    for (const t of trees) feedTree(h, t);
    seed = h.digest();
  }
  return (purpose) => new Uint8Array(createHash('sha256').update(seed).update(purpose).digest().subarray(0, 16));
}

/** `bytes` (16) as an RFC 4122 version 4 UUID's bytes (random-style, as mkfs's are). */
export function asUuidV4(bytes: Uint8Array): Uint8Array {
  const u = Uint8Array.from(bytes.subarray(0, 16));
  u[6] = (u[6] & 0x0f) | 0x40;
  u[8] = (u[8] & 0x3f) | 0x80;
  return u;
}

/** Parses "8-4-4-4-12" hex into 16 bytes (big-endian, as ext4 stores s_uuid). */
export function parseUuidText(text: string): Uint8Array {
  const hex = text.replace(/-/g, '');
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}
