import { formatBytes } from '../util/size.js';

/** Prints `value` as pretty JSON on stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Prints aligned `key: value` lines on stdout. */
export function printFields(rows: [string, string | number][], indent = ''): void {
  const width = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) process.stdout.write(`${indent}${`${k}:`.padEnd(width + 2)}${v}\n`);
}

/** `1.50 GiB (1610612736 bytes)`. */
export function bytesText(n: number): string {
  return n < 1024 ? `${n} B` : `${formatBytes(n)} (${n} bytes)`;
}

/** A ratio such as `7.41x`. */
export function ratioText(r: number): string {
  return `${r.toFixed(2)}x`;
}
