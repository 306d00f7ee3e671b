/** Which peer programs this machine has, and their versions. */
import { spawnSync } from 'node:child_process';

/** Whether `prog` is on the PATH. */
export function have(prog: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${prog}`], { stdio: 'ignore' }).status === 0;
}

/** The first non-empty line `cmd args` prints (stdout, then stderr), e.g. its version; '?' if none. */
export function firstLine(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n').map((l) => l.trim()).find((l) => l) ?? '?';
}

/** The peers `npm run bench` compares with; a missing one skips its rows. */
export interface PeerTools { zstd: boolean; lz4: boolean; qemuImg: boolean; qemuIo: boolean; mksquashfs: boolean }

const PROGRAMS: Record<keyof PeerTools, string> = { zstd: 'zstd', lz4: 'lz4', qemuImg: 'qemu-img', qemuIo: 'qemu-io', mksquashfs: 'mksquashfs' };

export function findPeerTools(): { tools: PeerTools; missing: string[] } {
  const tools = Object.fromEntries(Object.entries(PROGRAMS).map(([k, prog]) => [k, have(prog)])) as unknown as PeerTools;
  const missing = Object.entries(PROGRAMS).filter(([k]) => !tools[k as keyof PeerTools]).map(([, prog]) => prog);
  return { tools, missing };
}

/** Version lines of the peers present (null for a missing one), for the results' machine record. */
export function peerVersions(tools: PeerTools): Record<string, string | null> {
  return {
    zstd: tools.zstd ? firstLine('zstd', ['--version']) : null,
    lz4: tools.lz4 ? firstLine('lz4', ['--version']) : null,
    qemuImg: tools.qemuImg ? firstLine('qemu-img', ['--version']) : null,
    mksquashfs: tools.mksquashfs ? firstLine('mksquashfs', ['-version']) : null,
  };
}
