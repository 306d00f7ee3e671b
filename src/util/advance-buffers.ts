/**
 * The part of `buffers` (taken back to back) that remains after its first `bytes` bytes: used
 * to continue a readv/writev after a short transfer. Returns views, never copies.
 */
export function advanceBuffers(buffers: Uint8Array[], bytes: number): Uint8Array[] {
  let i = 0;
  let skip = bytes;
  while (i < buffers.length && skip >= buffers[i].length) skip -= buffers[i++].length;
  const rest = buffers.slice(i);
  if (skip > 0 && rest.length) rest[0] = rest[0].subarray(skip);
  return rest;
}
