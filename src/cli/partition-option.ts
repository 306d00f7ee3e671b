import { InvalidArgumentError } from 'commander';

/**
 * The `--partition N` option of the commands that read files inside a disk archive (`files`,
 * `get`, `cat --file`, `diff --files`): spread into `.option(...PARTITION_FLAG)`.
 */
export const PARTITION_FLAG = [
  '--partition <n>',
  'partition number as Linux numbers them (GPT 1.., MBR 1-4 and 5.. for logical ones, 0 for a disk without a table); default: the only one holding ext2/3/4',
  parsePartition,
] as const;

/** Commander parser for `--partition`: a whole number from 0. */
export function parsePartition(value: string): number {
  if (!/^\d{1,6}$/.test(value)) throw new InvalidArgumentError('must be a partition number (0, 1, 2, ...)');
  return Number(value);
}
