/** What the sections produce: table rows, notes under the table, and raw figures for the JSON. */
import type { Row } from './table.js';

/** A row as a section adds it: the ratio is derived unless given, `met` defaults to null. */
export type NewRow = Omit<Row, 'ratio' | 'met'> & { met?: boolean | null; ratio?: number | null };

export class Results {
  readonly rows: Row[] = [];
  readonly notes: string[] = [];
  /** Every run's figures, by measure (latest.json's `raw`). */
  readonly raw: Record<string, unknown> = {};

  add(r: NewRow): void {
    const ratio = r.ratio !== undefined ? r.ratio : r.hexz !== null && r.peerValue !== null && r.peerValue > 0 ? r.hexz / r.peerValue : null;
    this.rows.push({ ...r, ratio, met: r.met ?? null });
  }

  note(text: string): void {
    this.notes.push(text);
  }
}
