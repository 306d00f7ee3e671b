/**
 * The browser bench's table: one column per reader (browser, Node) and their ratio, a target
 * where the issue sets one. Values are formatted with lib/table.ts's units, plus plain counts.
 */
import { formatValue, type Unit } from './table.js';

export interface BrowserRow {
  measure: string;
  browser: number | null;
  node: number | null;
  unit: Unit | 'count';
  /** browser / node, shown when the row has a target or `showRatio`. */
  target?: { text: string; met: (ratio: number) => boolean };
  showRatio?: boolean;
}

const fmt = (v: number | null, unit: BrowserRow['unit']) =>
  unit === 'count' ? (v === null || !Number.isFinite(v) ? '-' : Number.isInteger(v) ? String(v) : v.toFixed(2)) : formatValue(v, unit);

/** The rows as an aligned text table, a `[group]` line before each group. */
export function formatBrowserTable(groups: { title: string; rows: BrowserRow[] }[]): string {
  const head = ['measure', 'browser', 'Node', 'browser/Node', 'target', 'met?'];
  const cells = groups.map((g) => g.rows.map((r) => {
    const ratio = r.browser !== null && r.node !== null && r.node > 0 ? r.browser / r.node : null;
    const showRatio = ratio !== null && (r.target || r.showRatio);
    return [
      r.measure, fmt(r.browser, r.unit), fmt(r.node, r.unit), showRatio ? `${ratio.toFixed(2)}x` : '-',
      r.target?.text ?? '', r.target && ratio !== null ? (r.target.met(ratio) ? 'yes' : 'NO') : '',
    ];
  }));
  const widths = head.map((h, i) => Math.max(h.length, ...cells.flat().map((c) => c[i].length)));
  const line = (c: string[]) => c.map((s, i) => (i === 0 ? s.padEnd(widths[i]) : s.padStart(widths[i]))).join('  ').trimEnd();
  const out = [line(head), widths.map((w) => '-'.repeat(w)).join('  ')];
  groups.forEach((g, i) => {
    if (i) out.push('');
    out.push(`[${g.title}]`);
    for (const c of cells[i]) out.push(line(c));
  });
  return out.join('\n');
}
