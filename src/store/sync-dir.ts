import { open } from 'node:fs/promises';

/**
 * fsyncs directory `dir` so a rename inside it survives a crash. Best effort: not every platform
 * lets a directory be opened or synced, and the rename itself has already succeeded; never throws.
 */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r').catch(() => undefined);
  if (!fh) return;
  await fh.sync().catch(() => {});
  await fh.close().catch(() => {});
}
