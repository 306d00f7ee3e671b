import type { Timestamp } from './types.js';

const NS_PER_SEC = 1_000_000_000n;

/**
 * Converts nanoseconds since the epoch (as `lstat(..., { bigint: true })` gives them, e.g.
 * `mtimeNs`) to a {@link Timestamp}; times before 1970 get a negative `sec` and a positive
 * `nsec` (−0.25 s is `{ sec: -1, nsec: 750_000_000 }`).
 */
export function timestampFromNs(ns: bigint): Timestamp {
  let sec = ns / NS_PER_SEC;
  let nsec = ns % NS_PER_SEC;
  if (nsec < 0n) {
    sec -= 1n;
    nsec += NS_PER_SEC;
  }
  return { sec: Number(sec), nsec: Number(nsec) };
}

/**
 * Parses a pax time record value (POSIX.1-2008 pax `mtime`, `atime`, `ctime`): decimal seconds
 * with an optional sign and fraction, e.g. `1796209065.060040682` or `-1.5`. Digits past the
 * ninth of the fraction are dropped.
 * @returns undefined when `text` is not such a number or its seconds are not a safe integer.
 */
export function parsePaxTime(text: string): Timestamp | undefined {
  const m = /^([-+]?)([0-9]+)(?:\.([0-9]*))?$/.exec(text);
  if (!m) return undefined;
  const whole = Number(m[2]);
  if (!Number.isSafeInteger(whole)) return undefined;
  const nsec = Number(((m[3] ?? '') + '000000000').slice(0, 9));
  if (m[1] !== '-') return { sec: whole, nsec };
  // −(whole + frac): borrow a second so that nsec stays positive.
  if (nsec === 0) return { sec: -whole, nsec: 0 };
  // Borrowing must not leave the safe integers (−2^53 + 1 − 1 rounds).
  return Number.isSafeInteger(whole + 1) ? { sec: -whole - 1, nsec: 1_000_000_000 - nsec } : undefined;
}
