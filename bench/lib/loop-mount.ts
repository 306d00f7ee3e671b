/**
 * The kernel's reading of a filesystem inside a disk image, as the files bench's peer for a whole
 * tree listing: a read-only loop device over the partition, mounted read-only. Needs root.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { run } from './run.js';
import type { Teardown } from './teardown.js';

/** A mounted partition; {@link LoopMount.unmount} undoes it. */
export interface LoopMount {
  device: string;
  unmount(): Promise<void>;
}

/**
 * `losetup -r -o OFFSET --sizelimit SIZE --show -f IMAGE` then `mount -o ro DEV DIR`. The
 * teardown steps are registered before each command runs, so a bench stopped while one runs
 * still undoes it: the mount if `dir` is mounted, any loop device over `image` that was not
 * there before.
 */
export async function loopMount(image: string, offset: number, size: number, dir: string, teardown: Teardown): Promise<LoopMount> {
  const before = new Set(loopsOver(image));
  const detached = teardown.add(`loop device over ${image}`, () => {
    for (const d of loopsOver(image)) if (!before.has(d)) execFileSync('losetup', ['-d', d]);
  });
  const device = (await run('losetup', ['-r', '-o', String(offset), '--sizelimit', String(size), '--show', '-f', image], { time: false })).stdout.trim();
  const unmounted = teardown.add(`mount ${dir}`, () => {
    if (mountedUnder(dir)) execFileSync('umount', [dir]);
  });
  await run('mount', ['-o', 'ro', device, dir], { time: false });
  return {
    device,
    unmount: async () => {
      await run('umount', [dir], { time: false });
      unmounted();
      await run('losetup', ['-d', device], { time: false });
      detached();
    },
  };
}

/** The loop devices backed by `image` (`losetup -j`). */
function loopsOver(image: string): string[] {
  const out = execFileSync('losetup', ['-j', image], { encoding: 'utf8' });
  return out.split('\n').map((l) => /^(\/dev\/loop\d+):/.exec(l)?.[1]).filter((d): d is string => d !== undefined);
}

/** Whether anything is mounted at or below `dir` (/proc/self/mountinfo): then it must not be removed. */
export function mountedUnder(dir: string): boolean {
  try {
    return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => {
      const at = l.split(' ')[4];
      return at !== undefined && (at === dir || at.startsWith(`${dir}/`));
    });
  } catch {
    return false;
  }
}
