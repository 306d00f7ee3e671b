/**
 * Pure mapping of an export's extents to `base:allocation` block status descriptors
 * ("`base:allocation` metadata context" and "NBD_CMD_BLOCK_STATUS" in the NBD project's
 * doc/proto.md).
 */
import type { StreamExtent } from '../../archive/stream-view.js';
import { NBD_STATE_HOLE, NBD_STATE_ZERO } from './nbd-constants.js';
import type { StatusDescriptor } from './nbd-reply.js';

/**
 * Descriptors for a block status request at `offset` of `length` bytes: zero extents are
 * HOLE|ZERO, data extents 0. They run contiguously from `offset`; a reply may cover less than
 * asked (the client asks again from where it stops), so the list ends at the first gap or when
 * the extents end. When no extent starts at `offset`, one data descriptor covers the request:
 * status 0 is always a safe answer.
 */
export function statusDescriptors(offset: number, length: number, extents: readonly StreamExtent[]): StatusDescriptor[] {
  const out: StatusDescriptor[] = [];
  const end = offset + length;
  let at = offset;
  for (const e of extents) {
    if (e.offset !== at || e.length <= 0) break;
    const n = Math.min(e.length, end - at);
    if (n <= 0) break;
    const flags = e.zero ? NBD_STATE_HOLE | NBD_STATE_ZERO : 0;
    const last = out[out.length - 1];
    if (last && last.flags === flags) last.length += n;
    else out.push({ length: n, flags });
    at += n;
  }
  return out.length ? out : [{ length, flags: 0 }];
}
