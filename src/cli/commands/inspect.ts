import type { Command } from 'commander';
import type { InspectSignature } from '../../ops/inspect.js';
import type { InspectThin } from '../../ops/inspect-parents.js';
import type { CommandContext } from '../context.js';
import { RequiredFeature } from '../../format/constants.js';
import { bytesText, printFields, printJson, ratioText } from '../output.js';
import { readPassword } from '../password.js';
import { PARENT_DIR_FLAG, parentDirsFrom } from '../parent-dirs.js';

/** `hexz inspect`: registers the command on `program`. */
export function registerInspect(program: Command, run: (fn: (ctx: CommandContext) => Promise<number>) => Promise<void>): void {
  program
    .command('inspect')
    .description('show header fields, streams, block counts and sizes of an archive')
    .argument('<file>', 'archive')
    .option('--password-file <file>', 'encrypted archives: also read the metadata, with the password from the first line of FILE (or HEXZ_PASSWORD); never prompts')
    .option(...PARENT_DIR_FLAG)
    .option('--json', 'print the report as JSON')
    .action((file: string, flags: { json?: boolean; passwordFile?: string; parentDir?: string[] }) => run(async () => {
      // Inspect never prompts: without a password it shows what the header reveals.
      const password = flags.passwordFile !== undefined || process.env.HEXZ_PASSWORD !== undefined
        ? await readPassword({ passwordFile: flags.passwordFile }) : undefined;
      const { inspect } = await import('../../ops/inspect.js');
      // A missing parent is shown per slot, not an error: inspect is how one finds out which.
      const r = await inspect(file, { password, parentDirs: parentDirsFrom(flags) });
      if (flags.json) {
        printJson(r);
        return 0;
      }
      printFields([
        ['file', `${r.file} (${bytesText(r.fileBytes)})`],
        ['format version', r.version],
        ['archive id', r.archiveId],
        ['created', r.created],
        ['profile', r.profile],
        ['chunking', r.chunking.kind === 'fastcdc'
          ? `FastCDC (normalized), min ${bytesText(r.chunking.min)}, avg ${bytesText(r.chunking.avg)}, max ${bytesText(r.chunking.max)}`
          : 'fixed-size blocks'],
        ['block size', bytesText(r.blockSize)],
        ['compression', r.compression === 'zstd' ? `zstd level ${r.level}` : r.compression],
        ['dictionary', r.dictionary
          ? `${bytesText(r.dictionary.bytes)} (zstd id ${r.dictionary.id}), ${r.dictionary.gain.toFixed(2)}x smaller than without it on ${bytesText(r.dictionary.sampleBytes)} of held-out samples (measured when packed)`
          : 'none'],
        ['features', `required 0x${r.requiredFeatures.toString(16)}${featureNames(r.requiredFeatures)}, optional 0x${r.optionalFeatures.toString(16)}`],
        ['signature', signatureText(r.signature)],
        ['encryption', r.encryption
          ? `${r.encryption.cipher}, ${r.encryption.kdf} ${bytesText(r.encryption.memoryKiB * 1024)} × ${r.encryption.iterations} iterations × ${r.encryption.lanes} lanes${r.encryption.unlocked ? '' : ' (locked: give --password-file or HEXZ_PASSWORD to see the metadata)'}`
          : 'none'],
        ...metadataFields(r.metadata),
        ...thinFields(r.thin),
        ['logical size', bytesText(r.logicalBytes)],
        ['data region', bytesText(r.dataBytes)],
        ['index', bytesText(r.indexBytes)],
        ['ratio', `${ratioText(r.ratio)} (logical / file)`],
        ['dedup saved', bytesText(r.dedupSavedBytes)],
      ]);
      for (const s of r.streams) {
        process.stdout.write(`stream ${s.name}:\n`);
        printFields([
          ['size', bytesText(s.logicalBytes)],
          ['blocks', `${s.blocks.data} data (${s.blocks.raw} raw), ${s.blocks.zero} zero, ${s.blocks.dedup} dedup; ${s.entries} index entries`],
          ['stored', bytesText(s.storedBytes)],
          ['compression', `${ratioText(s.compressionRatio)} on stored blocks`],
          ['zero', bytesText(s.zeroBytes)],
          ['dedup', bytesText(s.dedupBytes)],
          ['index', bytesText(s.indexBytes)],
        ], '  ');
      }
      return 0;
    }));
}

/** The metadata's inputs, one line each (name, format, size); the tool that wrote the archive. */
function metadataFields(m: Record<string, unknown> | null): [string, string][] {
  if (!m) return [];
  const out: [string, string][] = [];
  if (typeof m.tool === 'string') out.push(['written by', m.tool]);
  const inputs = (m.inputs ?? {}) as Record<string, { name?: unknown; format?: unknown; bytes?: unknown }>;
  for (const [stream, i] of Object.entries(inputs)) {
    const size = typeof i?.bytes === 'number' ? `, ${bytesText(i.bytes)}` : '';
    out.push([`${stream} input`, `${String(i?.name ?? '?')} (${String(i?.format ?? '?')}${size})`]);
  }
  return out;
}

/**
 * A thin archive's parents, one line per slot (where it was found, or why not), and its own
 * stored bytes vs the content it refers to; nothing for a standalone archive.
 */
function thinFields(t: InspectThin | null): [string, string][] {
  if (!t) return [['parents', 'none (standalone)']];
  const missing = t.parents.filter((p) => p.status !== 'found').length;
  return [
    ['parents', `${t.parents.length} (thin snapshot${missing ? `; ${missing} not found: reading fails until they are back or found with --parent-dir / HEXZ_PATH` : ''})`],
    ...t.parents.map((p): [string, string] => {
      const state = p.status === 'found' ? `found at ${p.foundAt}` : `${p.status.toUpperCase()}: ${p.error}`;
      return [`  slot ${p.slot}${p.direct ? ' (direct)' : ''}`, `${p.archiveId} ${p.recordedPath}: ${state}`];
    }),
    ['own stored', `${bytesText(t.ownStoredBytes)} (this archive's data region)`],
    ['referenced', `${bytesText(t.referencedBytes)} of content read from its parents`],
  ];
}

/** `none`, or who signed and when, said to be unverified: inspect does not check signatures. */
function signatureText(s: InspectSignature | null): string {
  if (!s) return 'none';
  if (s.error) return `damaged (${s.error}); run hexz verify`;
  return `${s.algorithm}, key ${s.fingerprint}, signed ${s.signedAt} (not verified; run hexz verify --pubkey)`;
}

/** The names of the required feature bits set in `mask` (FORMAT.md §2), as " (cdc, thin)"; "" when none. */
function featureNames(mask: number): string {
  const names = Object.entries(RequiredFeature).filter(([, bit]) => (mask & bit) !== 0).map(([name]) => name.toLowerCase());
  return names.length ? ` (${names.join(', ')})` : '';
}
