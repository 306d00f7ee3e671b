/**
 * The real use of `hexz serve`: a VM boots straight from an archive. Packs the corpus disk
 * (a Debian image; ../shared/corpus/make-corpus.sh), serves it over NBD with the CLI, and boots
 * it with qemu-system-x86_64 (TCG, `snapshot=on` so the guest's writes stay in qemu) to the
 * login prompt on its serial console. Slow (a minute or more): only with HEXZ_CORPUS set.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pack } from '../src/pack/pack.js';
import { tempDir } from './helpers.js';
import { startHexzServe } from './servers/hexz-serve.js';

const corpus = process.env.HEXZ_CORPUS;
const bootDir = corpus ? join(corpus, '.build', 'rootfs-v1', 'boot') : '';
const hasQemu = spawnSync('sh', ['-c', 'command -v qemu-system-x86_64']).status === 0;
const skip = !corpus ? 'HEXZ_CORPUS not set: VM boot from hexz serve skipped'
  : !existsSync(bootDir) ? `${bootDir} missing (the corpus build keeps the kernel there): VM boot skipped`
    : !hasQemu && process.env.CI !== 'true' ? 'qemu-system-x86_64 not installed (Debian qemu-system-x86): VM boot skipped' : false;
if (skip) console.log(`# ${skip}`);

test('a VM boots from the NBD export of the corpus disk to its login prompt', { skip, timeout: 900_000 }, async () => {
  const tmp = tempDir();
  try {
    const archive = tmp.path('disk.hxz');
    await pack({ disk: join(corpus!, 'disk-v1.raw'), output: archive });
    const kernel = readdirSync(bootDir).find((f) => f.startsWith('vmlinuz-'));
    const initrd = readdirSync(bootDir).find((f) => f.startsWith('initrd.img-'));
    assert.ok(kernel && initrd, `kernel and initrd in ${bootDir}`);
    const s = await startHexzServe([archive, '--nbd', '0']);
    const serial = tmp.path('serial.log');
    try {
      const q = spawn('qemu-system-x86_64', [
        '-machine', 'q35,accel=tcg', '-m', '1024', '-smp', '2', '-display', 'none', '-no-reboot',
        '-kernel', join(bootDir, kernel), '-initrd', join(bootDir, initrd), '-append', 'root=/dev/vda1 rw console=ttyS0',
        '-drive', `driver=raw,file=${s.url('disk', 'nbd:')},if=virtio,snapshot=on`, '-nic', 'none', '-serial', `file:${serial}`,
      ], { stdio: ['ignore', 'ignore', 'pipe'] });
      let qemuErr = '';
      q.stderr!.setEncoding('utf8').on('data', (d: string) => (qemuErr += d));
      const exited = new Promise((r) => q.once('close', r));
      const t0 = Date.now();
      try {
        for (;;) {
          const console_ = existsSync(serial) ? readFileSync(serial, 'utf8') : '';
          if (console_.includes('login:')) break;
          if (q.exitCode !== null) assert.fail(`qemu exited (${q.exitCode}): ${qemuErr}\n${console_.slice(-800)}`);
          if (Date.now() - t0 > 600_000) assert.fail(`no login prompt after 600 s:\n${console_.slice(-800)}`);
          await new Promise((r) => setTimeout(r, 500));
        }
        console.log(`# booted to the login prompt in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
        // The guest read through the server without a single failed request.
        assert.doesNotMatch(readFileSync(serial, 'utf8'), /I\/O error|EXT4-fs error/);
        assert.equal(s.stderr(), '', 'the server logged nothing');
      } finally {
        q.kill('SIGKILL');
        await exited;
      }
    } finally {
      assert.equal(await s.stop(), 0);
    }
  } finally {
    tmp.cleanup();
  }
});
