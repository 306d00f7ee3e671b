/**
 * ISO 8601 (UTC) of a time in milliseconds since the epoch. Times a Date cannot hold (past the
 * year 275760, which a damaged or hostile field can claim) come back as `N ms after the epoch`
 * instead of throwing.
 */
export function formatTime(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? `${ms} ms after the epoch` : d.toISOString();
}
