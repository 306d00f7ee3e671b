import type { Command } from 'commander';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { StoreError, UsageError } from '../../errors.js';
import { parseSize } from '../../util/size.js';
import type { CommandContext } from '../context.js';
import { lazyPasswordFor, PASSWORD_FILE_FLAG } from '../archive-password.js';
import { PARENT_DIR_FLAG, parentDirsFrom } from '../parent-dirs.js';

interface MountFlags {
  overlay?: string;
  foreground?: boolean;
  allowOther?: boolean;
  cache?: string;
  passwordFile?: string;
  parentDir?: string[];
}

/** `hexz mount` and `hexz umount`: registers both commands on `program`. */
export function registerMount(program: Command, run: (fn: (ctx: CommandContext) => Promise<number>) => Promise<void>): void {
  program
    .command('mount')
    .description('mount an archive with FUSE: DIR shows one file per stream (disk, memory); read-only unless --overlay')
    .argument('<archive>', 'archive (path or http(s)://, s3:// URL)')
    .argument('<dir>', 'existing directory to mount on')
    .option('--overlay <file>', 'make the files writable: writes go to this overlay file (created if missing), never to the archive')
    .option('-f, --foreground', 'stay attached: serve until unmounted, SIGINT or SIGTERM (default: return once mounted, serve in the background)')
    .option('--allow-other', 'let other users read the files (FUSE allow_other; non-root users need user_allow_other in /etc/fuse.conf)')
    .option('--cache <size>', 'decoded-block cache (default 64M)')
    .option(...PASSWORD_FILE_FLAG)
    .option(...PARENT_DIR_FLAG)
    .addHelpText('after', `
Returns once DIR is mounted; the server keeps running in the background until
"hexz umount DIR" (or fusermount3 -u DIR). The files are fixed-size disks: reads at any offset,
SEEK_DATA/SEEK_HOLE report zero blocks as holes (cp --sparse=always keeps copies sparse), and
with --overlay writes land in the overlay (durable after fsync or close). If the server dies,
fusermount3's auto_unmount removes the mount; "hexz umount DIR" also cleans up a dead one.
An encrypted archive needs --password-file or HEXZ_PASSWORD in the background (a prompt only
works with --foreground). Needs /dev/fuse and fusermount3 (Debian: fuse3).

Examples:
  hexz mount vm.hxz /mnt/vm && losetup -r --find --show -o 1048576 /mnt/vm/disk
  hexz mount vm.hxz /mnt/vm --overlay vm.ovl      # writable; hexz commit vm.ovl -o vm2.hxz later
  hexz umount /mnt/vm`)
    .action((archive: string, dir: string, flags: MountFlags) => run((ctx) => mount(archive, dir, flags, ctx)));

  program
    .command('umount')
    .description('unmount a hexz mount (lazily if files are still open); also cleans up after a server that died')
    .argument('<dir>', 'mount point')
    .action((dir: string) => run(async () => {
      const { unmountDir } = await import('../../mount/unmount-dir.js');
      const r = await unmountDir(dir);
      if (r.wasDead) process.stderr.write(`hexz: ${dir}: the server had died (reads there failed with "Transport endpoint is not connected"); unmounted\n`);
      if (r.how === 'lazy') process.stderr.write(`hexz: ${dir} is busy: detached now, the server ends when the last open file is closed\n`);
      return 0;
    }));
}

async function mount(file: string, dir: string, flags: MountFlags, ctx: CommandContext): Promise<number> {
  const cacheBytes = flags.cache === undefined ? undefined : parseSize(flags.cache);
  const info = await stat(dir).catch(() => undefined);
  if (!info?.isDirectory()) throw new UsageError(`${dir}: not a directory (the mount point must exist)`);
  const { loadFuseBinding } = await import('../../mount/fuse-binding.js');
  const binding = loadFuseBinding();
  const { isMountDaemon, notifyDaemonReady, startMountDaemon } = await import('../../mount/mount-daemon.js');
  if (!flags.foreground) return daemonize(file, dir, flags, ctx, startMountDaemon);

  const daemon = isMountDaemon();
  // A background server has nobody to tell after it is ready: it keeps quiet then.
  let quiet = false;
  const log = (line: string) => void (quiet || process.stderr.write(`hexz: ${line}\n`));
  const { preferSteadyLatency, warmExports } = await import('../../serve/latency-tuning.js');
  preferSteadyLatency();
  const { Archive } = await import('../../node/archive.js');
  const archive = await Archive.open(file, { password: lazyPasswordFor(file, flags), parentDirs: parentDirsFrom(flags), cacheBytes, reserveCache: true });
  const closers: (() => Promise<void>)[] = [];
  try {
    const { openExports } = await import('../../serve/open-exports.js');
    const opened = await openExports([{ name: '', archive }], { overlay: flags.overlay, parentDirs: parentDirsFrom(flags) });
    closers.push(() => opened.close());
    const { exports } = opened;
    // Ready means ready: the decode threads have started, and the read path has run once.
    await Promise.all([opened.ready(), warmExports(exports)]);
    const { mountExports } = await import('../../mount/mount-exports.js');
    const { unmountDir } = await import('../../mount/unmount-dir.js');
    const fuse = mountExports({
      binding,
      dir,
      exports,
      writable: exports.every((e) => e.writer),
      allowOther: flags.allowOther,
      fsName: `hexz:${file}`,
      log,
    });
    // SIGINT/SIGTERM unmount; the session then ends like after `hexz umount`.
    const onAbort = () => void unmountDir(dir).catch((err: Error) => log(`unmount ${dir}: ${err.message}`));
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    try {
      const first = await Promise.race([fuse.ready.then(() => 'ready'), fuse.done.then(() => 'done')]);
      if (first === 'done') throw new StoreError(`the mount on ${dir} ended before it was ready`, { stage: 'mount' });
      const { setMountReadahead } = await import('../../mount/readahead.js');
      await setMountReadahead(dir);
      if (daemon) {
        notifyDaemonReady();
        quiet = true;
      } else {
        process.stderr.write(`hexz: mounted ${file} on ${dir} (${exports.map((e) => e.name).join(', ')}); Ctrl-C or hexz umount ${dir} to stop\n`);
      }
      if (ctx.signal.aborted) onAbort();
      await fuse.done;
    } finally {
      ctx.signal.removeEventListener('abort', onAbort);
    }
    return 0;
  } finally {
    // The overlay is flushed and closed here, after the last request was answered.
    for (const c of closers.reverse()) await c().catch((err: Error) => log(`closing: ${err.message}`));
    await archive.close().catch(() => {});
  }
}

/** Runs the mount as a background server and returns once it is ready (or reports its error). */
async function daemonize(file: string, dir: string, flags: MountFlags, ctx: CommandContext, start: typeof import('../../mount/mount-daemon.js').startMountDaemon): Promise<number> {
  // The server runs in `/`: every path it gets must be absolute. URLs stay as they are.
  const abs = (p: string) => (/^[a-z][a-z0-9+.-]*:\/\//i.test(p) ? p : resolve(p));
  const args = ['mount', abs(file), resolve(dir), '--foreground'];
  if (flags.overlay !== undefined) args.push('--overlay', resolve(flags.overlay));
  if (flags.allowOther) args.push('--allow-other');
  if (flags.cache !== undefined) args.push('--cache', flags.cache);
  if (flags.passwordFile !== undefined) args.push('--password-file', resolve(flags.passwordFile));
  for (const d of flags.parentDir ?? []) args.push('--parent-dir', abs(d));
  const result = await start(args, ctx.signal);
  if (result.ready) return 0;
  // The server's own one-line error (hexz: ...), as if it had run here.
  process.stderr.write(result.stderr || `hexz: the mount server exited with status ${result.exitCode} before the mount was ready\n`);
  return result.exitCode || 1;
}
