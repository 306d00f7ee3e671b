import type { SourceInode, SourceTree } from './types.js';

/** The counts of {@link SourceTree.stats}. */
export type TreeStats = SourceTree['stats'];

/**
 * Counts a tree: inodes by kind (each inode once, however many names it has), `hardLinks` =
 * names beyond the first of an inode, `fileBytes` = Σ size of the regular files, `dataBytes` =
 * Σ bytes of their data ranges (the whole size when a file has none). The root directory counts
 * as a directory.
 */
export function treeStats(root: SourceInode): TreeStats {
  const stats: TreeStats = { files: 0, dirs: 0, symlinks: 0, others: 0, hardLinks: 0, fileBytes: 0, dataBytes: 0 };
  const seen = new Set<SourceInode>();
  const count = (inode: SourceInode) => {
    switch (inode.kind) {
      case 'file': {
        stats.files++;
        stats.fileBytes += inode.size;
        const ranges = inode.content?.dataRanges;
        stats.dataBytes += ranges ? ranges.reduce((n, r) => n + r.length, 0) : inode.size;
        break;
      }
      case 'dir': stats.dirs++; break;
      case 'symlink': stats.symlinks++; break;
      default: stats.others++;
    }
  };
  count(root);
  const stack: SourceInode[] = [root];
  for (let dir = stack.pop(); dir; dir = stack.pop()) {
    for (const { inode } of dir.entries ?? []) {
      if (inode.kind === 'dir') {
        count(inode);
        stack.push(inode);
      } else if (seen.has(inode)) {
        stats.hardLinks++;
      } else {
        seen.add(inode);
        count(inode);
      }
    }
  }
  return stats;
}
