/** Bytes per line of {@link hexDump}. */
export const HEX_LINE_BYTES = 16;

/**
 * `bytes` (read at stream offset `offset`) as `hexdump -C` shows them: the offset in hex, 16
 * bytes in two groups of 8, and the printable ASCII between bars.
 */
export function hexDump(bytes: Uint8Array, offset: number): string {
  const lines: string[] = [];
  // As wide as the last line's offset (hexdump -C's column), at least 8 digits.
  const last = offset + Math.max(0, bytes.length - 1) - (Math.max(0, bytes.length - 1) % HEX_LINE_BYTES);
  const width = Math.max(8, last.toString(16).length);
  for (let at = 0; at < bytes.length; at += HEX_LINE_BYTES) {
    const row = bytes.subarray(at, at + HEX_LINE_BYTES);
    let hex = '';
    let text = '';
    for (let i = 0; i < HEX_LINE_BYTES; i++) {
      if (i === 8) hex += ' ';
      hex += i < row.length ? `${row[i].toString(16).padStart(2, '0')} ` : '   ';
      if (i < row.length) text += row[i] >= 0x20 && row[i] < 0x7f ? String.fromCharCode(row[i]) : '.';
    }
    lines.push(`${(offset + at).toString(16).padStart(width, '0')}  ${hex} |${text}|`);
  }
  return lines.join('\n');
}
