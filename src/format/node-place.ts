/**
 * The place an index node is loaded for, and the structural checks that bind a node to it
 * (docs/FORMAT.md §8.2 steps 4–6). Pure: a decoded node in, an error or nothing out.
 *
 * A hash tree proves only that a node is the one its referrer names; a crafted archive whose
 * hashes were all recomputed is still self-consistent. What makes reads trustworthy is that
 * every node covers exactly the logical range its referrer gives it and, in a leaf, that the
 * entries tile that range: then every byte a read returns belongs to exactly one entry, whose
 * hash covers it.
 */
import { ENTRY_SIZE, EntryKind, NODE_HEADER_SIZE } from './constants.js';
import { checkEntryFields } from './entry.js';
import { childRecord, type ChildRecord, type IndexNode } from './index-node.js';
import { CorruptArchiveError } from '../errors.js';

/** Where a node sits: its stream, level and the half-open logical range `[first, end)` it covers. */
export interface NodePlace {
  stream: number;
  level: number;
  /** Logical offset of the node's first byte: its referrer's first offset (0 for a root). */
  first: number;
  /** Logical offset just past its last byte: the next sibling's first offset, else the referrer's end (the stream size for a root). */
  end: number;
}

/** What the leaf check needs to know about the archive. */
export interface LeafRules {
  /** Bytes a seal adds to a stored extent: 28 when encrypted, else 0 (§12.4). */
  sealOverhead: number;
  /** Parent slots a DEDUP entry may name (§15.3): the parents table's count; 0 when not thin. */
  parentCount: number;
  /** The archive sets the SLICES feature (version 8): SLICE entries are allowed (§5). */
  slices?: boolean;
}

/**
 * Checks that `node` (already decoded with its magic, level, stream, count, size and record
 * order checked) covers exactly `place`: its first record starts at `place.first`, its records
 * stay below `place.end`, and, for a leaf, every entry is valid (§5), names an existing slot and
 * ends exactly where the next begins, the last at `place.end`.
 * @param nodeOffset where the node is in the file, for the error message.
 * @throws CorruptArchiveError naming the node and the record that breaks a rule.
 */
export function checkNodePlace(node: IndexNode, place: NodePlace, rules: LeafRules, nodeOffset?: number): void {
  const at = nodeOffset === undefined ? '' : ` at file offset ${nodeOffset}`;
  const bad = (why: string, offset?: number) => new CorruptArchiveError(`index node${at} (level ${place.level}, covering [${place.first}, ${place.end})): ${why}`, { stage: 'index', offset, fileOffset: nodeOffset });
  if (node.firsts[0] !== place.first) throw bad(`starts at ${node.firsts[0]}, its referrer says ${place.first}`, place.first);
  const lastFirst = node.firsts[node.count - 1];
  if (!(lastFirst < place.end)) throw bad(`record ${node.count - 1} starts at ${lastFirst}, at or past the node's end`, lastFirst);
  if (node.level > 0) return;
  for (let i = 0; i < node.count; i++) {
    let e;
    try {
      e = checkEntryFields(node.view, NODE_HEADER_SIZE + i * ENTRY_SIZE, rules.sealOverhead, rules.slices);
    } catch (err) {
      throw bad(`entry ${i}: ${(err as Error).message}`, node.firsts[i]);
    }
    const next = i + 1 < node.count ? node.firsts[i + 1] : place.end;
    if (e.offset + e.length !== next) {
      throw bad(`entry ${i} covers [${e.offset}, ${e.offset + e.length}) but the next byte belongs at ${next}: entries do not tile the stream`, e.offset);
    }
    if (e.kind !== EntryKind.ZERO && e.slot !== 0 && ((e.kind !== EntryKind.DEDUP && e.kind !== EntryKind.SLICE) || e.slot > rules.parentCount)) {
      throw bad(`entry ${i} refers to archive slot ${e.slot}, which this archive does not have`, e.offset);
    }
  }
}

/** The place of child `i` of internal node `node` loaded for `place`. */
export function childPlace(node: IndexNode, i: number, place: NodePlace): NodePlace {
  return { stream: place.stream, level: place.level - 1, first: node.firsts[i], end: i + 1 < node.count ? node.firsts[i + 1] : place.end };
}

/** Child record `i` of `node` with its place, in one step. */
export function childAt(node: IndexNode, i: number, place: NodePlace): { ref: ChildRecord; place: NodePlace } {
  return { ref: childRecord(node, i), place: childPlace(node, i, place) };
}
