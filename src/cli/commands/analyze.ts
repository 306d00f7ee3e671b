import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import { parseSize, formatBytes } from '../../util/size.js';
import type { CommandContext } from '../context.js';
import { bytesText, printFields, printJson } from '../output.js';

/** `hexz analyze`: registers the command on `program`. */
export function registerAnalyze(program: Command, run: (fn: (ctx: CommandContext) => Promise<number>) => Promise<void>): void {
  program
    .command('analyze')
    .description('estimate from a bounded sample how a raw image would pack: zeros, entropy, ratios, dedup, predicted sizes and recommended flags')
    .argument('<file>', 'raw disk image or memory dump')
    .option('--json', 'print the report as JSON')
    .option('--sample <size>', 'most bytes to read (default 256M; smaller files are read whole)')
    .option('--time-budget <seconds>', 'stop reading after this many seconds (default 20)')
    .action((file: string, flags: { json?: boolean; sample?: string; timeBudget?: string }) => run(async (ctx) => {
      const timeBudget = flags.timeBudget === undefined ? undefined : Number(flags.timeBudget);
      if (timeBudget !== undefined && !(timeBudget > 0)) throw new UsageError(`--time-budget must be a positive number of seconds, got ${flags.timeBudget}`);
      const { analyze } = await import('../../ops/analyze.js');
      const r = await analyze(file, {
        signal: ctx.signal,
        maxSampleBytes: flags.sample === undefined ? undefined : parseSize(flags.sample),
        timeBudgetMs: timeBudget === undefined ? undefined : timeBudget * 1000,
      });
      if (flags.json) {
        printJson(r);
        return 0;
      }
      const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
      printFields([
        ['file', `${r.file} (${bytesText(r.sizeBytes)})`],
        ['sampled', r.extrapolated
          ? `${bytesText(r.sampledBytes)} in ${r.regions} regions of ${formatBytes(r.regionBytes)} (${pct(r.sampledFraction)} of the data); figures below are EXTRAPOLATED${r.timeLimited ? ', time budget reached' : ''}`
          : `whole file (${bytesText(r.sampledBytes)} read)`],
        ['holes', bytesText(r.holeBytes)],
        ['zero share', pct(r.zeroShare)],
        ['entropy', r.entropyHistogram.map((s, i) => `${i}-${i + 1}:${(s * 100).toFixed(0)}%`).join(' ') + ' (bits/byte, non-zero 4K blocks)'],
        ['change rate', r.changeRate === null ? 'not identifiable' : `${(r.changeRate * 1e6).toFixed(2)} per MB of data (DCAM model)`],
        ['time', `${r.seconds.toFixed(1)} s`],
      ]);
      process.stdout.write('\ncandidate            dedup  mean chunk  lz4    zstd-3  predicted zstd-3  predicted lz4\n');
      for (const c of r.candidates) {
        process.stdout.write(`${c.name.padEnd(20)} ${pct(c.dedupShare).padStart(6)}  ${formatBytes(c.meanChunkBytes).padStart(10)}  ${c.lz4Ratio.toFixed(3)}  ${c.zstd3Ratio.toFixed(3)}   ${formatBytes(c.predictedZstd3Bytes).padStart(15)}  ${formatBytes(c.predictedLz4Bytes).padStart(13)}\n`);
      }
      process.stdout.write(`\n(ratios are stored/raw on unique non-zero blocks)\nrecommended: hexz pack ${r.recommendation.flags.join(' ')}${r.recommendation.flags.length ? ' ' : ''}--disk ${file} -o OUT.hxz\n  ${r.recommendation.candidate}, ${r.recommendation.compression}: about ${formatBytes(r.recommendation.predictedBytes)} (${r.recommendation.reason})\n`);
      for (const n of r.notes) process.stdout.write(`note: ${n}\n`);
      return 0;
    }));
}
