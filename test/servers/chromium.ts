/**
 * Headless Chromium (Debian package `chromium`) for the browser tests, driven by puppeteer-core
 * with the system browser: nothing is downloaded at install. `HEXZ_CHROMIUM` overrides the path.
 */
import { spawnSync } from 'node:child_process';
import type { Browser } from 'puppeteer-core';

/** The Chromium binary the tests use. */
export const CHROMIUM = process.env.HEXZ_CHROMIUM ?? (spawnSync('sh', ['-c', 'command -v chromium || command -v chromium-browser']).stdout?.toString().trim() || '/usr/bin/chromium');

/** True when that binary runs here. */
export const hasChromium = spawnSync(CHROMIUM, ['--version']).status === 0;

/** A skip reason when Chromium is missing (never in CI, where a missing browser is a failure). */
export function chromiumSkip(): string | false {
  if (hasChromium || process.env.CI === 'true') return false;
  const reason = 'chromium not installed (Debian package chromium): browser tests skipped';
  console.log(`# ${reason}`);
  return reason;
}

/** Starts headless Chromium (no sandbox: the tests may run as root, which the sandbox refuses). */
export async function launchChromium(): Promise<Browser> {
  if (!hasChromium) throw new Error(`chromium not found (${CHROMIUM}): install the Debian package chromium (required with CI=true)`);
  const { default: puppeteer } = await import('puppeteer-core');
  return puppeteer.launch({
    executablePath: CHROMIUM, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--disable-background-networking'],
  });
}
