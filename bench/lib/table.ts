/** The result rows of `npm run bench` and the plain-text table they print as. */

const MiB = 1 << 20;

/** `B`: a byte count shown in KiB below 1 MiB (figures of a few KiB would round to 0.0 MiB). */
export type Unit = 's' | 'ms' | 'bytes' | 'B' | 'us' | 'MiB/s' | 'KiB';

/** One line of the table and of latest.json's `rows`. */
export interface Row {
  group: string;
  measure: string;
  hexz: number | null;
  unit: Unit;
  peer: string;
  peerValue: number | null;
  /** hexz / peer */
  ratio: number | null;
  better: 'lower' | 'higher';
  target: string;
  met: boolean | null;
  note?: string;
}

export function formatValue(v: number | null, unit: Unit): string {
  if (v === null || !Number.isFinite(v)) return '-';
  switch (unit) {
    case 's': return `${v.toFixed(2)} s`;
    case 'ms': return `${v.toFixed(1)} ms`;
    case 'bytes': return `${(v / MiB).toFixed(1)} MiB`;
    case 'B': return v < MiB ? `${(v / 1024).toFixed(1)} KiB` : `${(v / MiB).toFixed(2)} MiB`;
    case 'us': return v >= 10000 ? `${(v / 1000).toFixed(1)} ms` : `${v.toFixed(v < 100 ? 1 : 0)} us`;
    case 'MiB/s': return `${v.toFixed(0)} MiB/s`;
    case 'KiB': return `${(v / 1024).toFixed(0)} MiB`;
  }
}

/** The rows as an aligned text table, a `[group]` line before each group. */
export function formatTable(rows: Row[]): string {
  const head = ['measure', 'hexz', 'peer', 'peer value', 'ratio hexz/peer', 'better', 'target', 'met?'];
  const cells = rows.map((r) => [
    r.measure, formatValue(r.hexz, r.unit), r.peer, formatValue(r.peerValue, r.unit),
    r.ratio === null || !Number.isFinite(r.ratio) ? '-' : `${r.ratio.toFixed(2)}x`,
    r.better, r.target || '-', r.met === null ? (r.target ? 'n/a' : '') : r.met ? 'yes' : 'NO',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => c.map((s, i) => (i === 0 || i === 2 ? s.padEnd(widths[i]) : s.padStart(widths[i]))).join('  ');
  const out: string[] = [line(head), widths.map((w) => '-'.repeat(w)).join('  ')];
  let group = '';
  for (let i = 0; i < rows.length; i++) {
    if (rows[i].group !== group) {
      if (group) out.push('');
      group = rows[i].group;
      out.push(`[${group}]`);
    }
    out.push(line(cells[i]));
  }
  return out.join('\n');
}
