import type { Command } from 'commander';
import { inspect } from '../../ops/inspect.js';
import type { CommandContext } from '../context.js';
import { bytesText, printFields, printJson, ratioText } from '../output.js';

/** `hexz inspect`: registers the command on `program`. */
export function registerInspect(program: Command, run: (fn: (ctx: CommandContext) => Promise<number>) => Promise<void>): void {
  program
    .command('inspect')
    .description('show header fields, streams, block counts and sizes of an archive')
    .argument('<file>', 'archive')
    .option('--json', 'print the report as JSON')
    .action((file: string, flags: { json?: boolean }) => run(async () => {
      const r = await inspect(file);
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
        ['features', `required 0x${r.requiredFeatures.toString(16)}, optional 0x${r.optionalFeatures.toString(16)}`],
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
