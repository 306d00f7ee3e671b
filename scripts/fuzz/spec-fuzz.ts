/**
 * The spec kind: `hexz build --spec` files (src/build/spec.ts, parseBuildSpec). Seeds are valid
 * specs (the TSDoc example and variants: mbr, none, auto sizes, every size unit, inline tables,
 * quoted keys, labels at their limits). "raw" mutations work on the TOML text (values of other
 * types and sizes, renamed keys, lines deleted, duplicated, moved, [[partition]] blocks
 * repeated up to 10^5 times, nesting up to 10^5 deep, megabyte strings, bytes flipped,
 * control characters and unpaired surrogates); "crafted" ones on the parsed document (keys set
 * to values of every TOML type, removed, added; the partition array emptied, grown, filled with
 * non-tables), written back with smol-toml's stringify.
 *
 * Allowed: a spec, or a UsageError whose message starts `spec:` (the TSDoc's promise), within a
 * second. Findings: any other error; a spec that breaks BuildSpec's promises; a disagreement
 * with this module's own reading of the TSDoc (expectSpec, which parses with smol-toml and
 * applies the rules the TSDoc lists, independently of spec.ts); a spec that does not survive
 * being written out as TOML and read again.
 */
import { mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { parse as parseToml, stringify as stringifyToml } from 'smol-toml';
import { HexzError, UsageError } from '../../src/index.ts';
import { parseBuildSpec, type BuildSpec, type BuildSpecPartition } from '../../src/build/spec.ts';
import { GPT_NAME_LENGTH } from '../../src/fs/partition/write-gpt.ts';
import type { CorpusFile, CorpusItem } from './corpus.ts';
import type { Judge } from './judge.ts';
import type { Rng } from './rng.ts';
import type { CaseEnv, Flavour } from './run-case.ts';

/** Every case parses against this directory (sources resolve below it). */
export const SPEC_BASE = '/fuzz/specs';
/** Longer than this (milliseconds, plus a microsecond per character) for one parse is a finding. */
const SLOW_MS = 1000;

const SEEDS: Record<string, string> = {
  'documented.toml': `
table = "gpt"          # gpt | mbr | none
size = "4G"            # disk size; omit for auto (sum of partitions)
[[partition]]
type = "esp"           # name or GUID (gpt) / name or 0xNN (mbr)
size = "100M"          # omit on the last partition to fill the disk
label = "EFI"          # partition name (gpt)
fs = "none"            # ext4 | ext2 | none
[[partition]]
type = "linux"
fs = "ext4"
source = "rootfs/"     # directory or tar file, relative to the spec file
fs-label = "root"      # filesystem label (≤16 bytes)
fs-uuid = "3F2504E0-4F89-41D3-9A0C-0305E82C3301"
root-owned = true
`,
  'variants.toml': `
size = "auto"
[[partition]]
type = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
size = 1048576
[[partition]]
type = "linux-home"
size = "auto"
source = "/abs/home.tar"
[[partition]]
type = "swap"
fs = "ext2"
`,
  'mbr.toml': 'table = "mbr"\nsize = 17179869184\n[[partition]]\ntype = "0x83"\nsize = "1GiB"\nsource = "a.tar.zst"\nfs = "ext2"\n[[partition]]\ntype = "0x0c"\nsize = "64m"\n[[partition]]\ntype = "linux"\nsize = "2kb"\n[[partition]]\ntype = "swap"\n',
  'none.toml': 'table = "none"\n[[partition]]\nsource = "tree"\nsize = "auto"\nfs-label = "data"\n',
  'units.toml': [1, 2, 3, 4, 5, 6, 7, 8, 9].map((k) => `[[partition]]\ntype = "linux"\nsize = "${k}${['', 'b', 'K', 'kib', 'M', 'mb', 'g', 'GiB', 'T'][k - 1]}"\n`).join('') + '[[partition]]\ntype = "linux"\nsize = 4096\n',
  'inline.toml': `table = 'gpt'\n"size" = "  AUTO  "\npartition = [ { type = "esp", size = "1M", label = "${'😀'.repeat(18)}" }, { type = 'linux', source = '/srv/root', "fs-label" = "${'é'.repeat(8)}", root-owned = false } ]\n`,
  'many.toml': Array.from({ length: 40 }, (_, k) => `[[partition]]\ntype = "linux"\nsize = "${k + 1}M"\nlabel = "p${k}"\n${k % 3 === 0 ? `source = "src/${k}"\nfs = "ext4"\nfs-uuid = "00000000-0000-4000-8000-${String(k).padStart(12, '0')}"\n` : ''}`).join('') + '[[partition]]\ntype = "linux"\n',
};

/** Builds the spec kind into `dir`. */
export async function buildSpecSeeds(dir: string): Promise<{ item?: CorpusItem; skipped?: string }> {
  mkdirSync(dir, { recursive: true });
  const files: CorpusFile[] = [];
  for (const [name, text] of Object.entries(SEEDS)) {
    writeFileSync(join(dir, name), text);
    files.push({ file: name, original: {} });
  }
  return { item: { kind: 'spec', format: 'spec', dir, top: files[0].file, files } };
}

// ---------------------------------------------------------------------------------------------
// The oracle: the TSDoc of parseBuildSpec, read independently.

type Expect = { ok: BuildSpec } | { reject: string };

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1024, kib: 1024, m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3, t: 1024 ** 4, tb: 1024 ** 4, tib: 1024 ** 4 };

/** A size as the TSDoc (and util/size.ts's documented forms) reads it; 'auto' for auto; a string on error. */
function size(v: unknown): number | 'auto' | { bad: string } {
  if (typeof v === 'string' && v.trim().toLowerCase() === 'auto') return 'auto';
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? v : { bad: `size ${v}` };
  if (typeof v !== 'string') return { bad: `size of type ${typeof v}` };
  const m = /^\s*(\d+)\s*([a-z]*)\s*$/i.exec(v);
  const unit = m ? UNITS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) return { bad: `size '${v}'` };
  const n = Number(m[1]) * unit;
  return Number.isSafeInteger(n) ? n : { bad: `size '${v}' too large` };
}

const isTable = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);

export function expectSpec(text: string, baseDir: string): Expect {
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text) as Record<string, unknown>;
  } catch {
    return { reject: 'TOML syntax' };
  }
  return expectDoc(doc, baseDir);
}

function expectDoc(doc: Record<string, unknown>, baseDir: string): Expect {
  const no = (why: string): Expect => ({ reject: why });
  for (const k of Object.keys(doc)) if (!['table', 'size', 'partition'].includes(k)) return no(`unknown key ${k}`);
  const table = doc.table ?? 'gpt';
  if (table !== 'gpt' && table !== 'mbr' && table !== 'none') return no('table');
  let diskSize: number | undefined;
  if (doc.size !== undefined) {
    const s = size(doc.size);
    if (typeof s === 'object') return no(s.bad);
    if (s === 0) return no('size 0');
    diskSize = s === 'auto' ? undefined : s;
  }
  const list = doc.partition;
  if (list === undefined) return no('no partitions');
  if (!Array.isArray(list) || list.some((p) => !isTable(p))) return no('partition not an array of tables');
  if (list.length === 0) return no('no partitions'); // "@throws … no partitions"
  if (table === 'none' && list.length !== 1) return no('none takes one partition');
  if (table === 'mbr' && list.length > 4) return no('mbr holds 4');
  const partitions: BuildSpecPartition[] = [];
  for (let i = 0; i < list.length; i++) {
    const p = list[i] as Record<string, unknown>;
    for (const k of Object.keys(p)) if (!['type', 'size', 'label', 'fs', 'source', 'fs-label', 'fs-uuid', 'root-owned'].includes(k)) return no(`unknown key ${k}`);
    const str = (k: string) => p[k] === undefined || typeof p[k] === 'string';
    for (const k of ['type', 'label', 'source', 'fs', 'fs-label', 'fs-uuid']) if (!str(k)) return no(`${k} not a string`);
    if (p['root-owned'] !== undefined && typeof p['root-owned'] !== 'boolean') return no('root-owned not a boolean');
    const type = p.type as string | undefined;
    const label = p.label as string | undefined;
    const source = p.source as string | undefined;
    const fsLabel = p['fs-label'] as string | undefined;
    const fsUuid = p['fs-uuid'] as string | undefined;
    const rootOwned = p['root-owned'] as boolean | undefined;
    let psize: number | 'auto' | undefined;
    if (p.size !== undefined) {
      const s = size(p.size);
      if (typeof s === 'object') return no(s.bad);
      psize = s;
    }
    if (p.fs !== undefined && !['ext4', 'ext2', 'none'].includes(p.fs as string)) return no('fs');
    const fs = (p.fs as BuildSpecPartition['fs'] | undefined) ?? (source !== undefined ? 'ext4' : 'none');
    if (table === 'none' && (type !== undefined || label !== undefined)) return no('type/label with none');
    if (table !== 'none' && type === undefined) return no('no type');
    if (label !== undefined && table === 'mbr') return no('label on mbr');
    if (label !== undefined && label.length > GPT_NAME_LENGTH) return no('label too long');
    if (psize === 0) return no('size 0');
    if (psize === undefined && i !== list.length - 1) return no('no size on a non-last partition');
    if (psize === 'auto' && source === undefined) return no('auto without source');
    if (source === '') return no('empty source');
    if (fs === 'none' && (source !== undefined || fsLabel !== undefined || fsUuid !== undefined || rootOwned !== undefined)) return no('fs none with fs keys');
    if (fsLabel !== undefined && Buffer.byteLength(fsLabel, 'utf8') > 16) return no('fs-label too long');
    if (fsUuid !== undefined && !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(fsUuid)) return no('fs-uuid');
    const out: BuildSpecPartition = { fs };
    if (type !== undefined) out.type = type;
    if (psize !== undefined) out.size = psize;
    if (label !== undefined) out.label = label;
    if (source !== undefined) out.source = resolve(baseDir, source);
    if (fsLabel !== undefined) out.fsLabel = fsLabel;
    if (fsUuid !== undefined) out.fsUuid = fsUuid.toLowerCase();
    if (rootOwned !== undefined) out.rootOwned = rootOwned;
    partitions.push(out);
  }
  return { ok: diskSize === undefined ? { table, partitions } : { table, size: diskSize, partitions } };
}

/** BuildSpec's promises, whatever the input (types in spec.ts). */
function specProblem(spec: BuildSpec): string | undefined {
  if (!spec || typeof spec !== 'object') return 'not an object';
  if (!['gpt', 'mbr', 'none'].includes(spec.table)) return `table ${spec.table}`;
  if (spec.size !== undefined && !(Number.isSafeInteger(spec.size) && spec.size > 0)) return `size ${spec.size}`;
  if (!Array.isArray(spec.partitions) || spec.partitions.length === 0) return `${spec.partitions?.length ?? 'no'} partitions`;
  if (spec.table === 'none' && spec.partitions.length !== 1) return `table none with ${spec.partitions.length} partitions`;
  if (spec.table === 'mbr' && spec.partitions.length > 4) return `an MBR with ${spec.partitions.length} partitions`;
  for (const [i, p] of spec.partitions.entries()) {
    const at = `partition ${i + 1}`;
    if (!['ext4', 'ext2', 'none'].includes(p.fs)) return `${at}: fs ${p.fs}`;
    if ((spec.table === 'none') !== (p.type === undefined)) return `${at}: type ${p.type} with table ${spec.table}`;
    if (p.size !== undefined && p.size !== 'auto' && !(Number.isSafeInteger(p.size) && p.size > 0)) return `${at}: size ${p.size}`;
    if (p.size === undefined && i !== spec.partitions.length - 1) return `${at}: no size but not the last`;
    if (p.size === 'auto' && p.source === undefined) return `${at}: auto without a source`;
    if (p.source !== undefined && (typeof p.source !== 'string' || !isAbsolute(p.source))) return `${at}: source ${p.source}`;
    if (p.fs === 'none' && (p.source ?? p.fsLabel ?? p.fsUuid ?? p.rootOwned) !== undefined) return `${at}: fs none with a filesystem setting`;
    if (p.fsLabel !== undefined && Buffer.byteLength(p.fsLabel) > 16) return `${at}: fs-label of ${Buffer.byteLength(p.fsLabel)} bytes`;
    if (p.fsUuid !== undefined && !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(p.fsUuid)) return `${at}: fs-uuid ${p.fsUuid}`;
    if (p.label !== undefined && (spec.table !== 'gpt' || p.label.length > GPT_NAME_LENGTH)) return `${at}: label of ${p.label.length} units on ${spec.table}`;
    if (p.rootOwned !== undefined && typeof p.rootOwned !== 'boolean') return `${at}: root-owned ${p.rootOwned}`;
  }
  return undefined;
}

/** A spec written back as TOML. */
function renderSpec(spec: BuildSpec): string {
  const doc: Record<string, unknown> = { table: spec.table };
  if (spec.size !== undefined) doc.size = spec.size;
  doc.partition = spec.partitions.map((p) => {
    const o: Record<string, unknown> = { fs: p.fs };
    if (p.type !== undefined) o.type = p.type;
    if (p.size !== undefined) o.size = p.size;
    if (p.label !== undefined) o.label = p.label;
    if (p.source !== undefined) o.source = p.source;
    if (p.fsLabel !== undefined) o['fs-label'] = p.fsLabel;
    if (p.fsUuid !== undefined) o['fs-uuid'] = p.fsUuid;
    if (p.rootOwned !== undefined) o['root-owned'] = p.rootOwned;
    return o;
  });
  return stringifyToml(doc);
}

// ---------------------------------------------------------------------------------------------
// mutations

const STRINGS = [
  '""', '"auto"', '"AUTO "', '" 100M "', '"1e3"', '"0x10"', '"-1"', '"100Q"', '"9999999999999999999T"', '"8388608T"', '"8388607T"', '"4GiB"', '"0"', '"1.5M"', '"18446744073709551616"',
  '"\\u0000"', '"\\uD7FF"', '"\\U0001F600"', '"ü"', '"gpt"', '"mbr"', '"none"', '"ext4"', '"ext2"', '"none "', '"GPT"', '"../../etc"', '"/abs"', '"."', '"a\\u0000b"',
  '"3f2504e0-4f89-41d3-9a0c-0305e82c3301"', '"3F2504E0-4F89-41D3-9A0C-0305E82C330"', '"3f2504e04f8941d39a0c0305e82c3301"', '"{3f2504e0-4f89-41d3-9a0c-0305e82c3301}"',
  `"${'😀'.repeat(18)}"`, `"${'😀'.repeat(19)}"`, `"${'a'.repeat(36)}"`, `"${'a'.repeat(37)}"`, '"abcdefghijklmnop"', '"abcdefghijklmnopq"', `"${'é'.repeat(8)}"`, `"${'é'.repeat(9)}"`,
  "'literal\\n'", '"""multi\nline"""', "'''raw\nmulti'''", '"\\t"', '" "', '"0x83"', '"esp"', '"linux"', '"\\b\\f"',
];
const NUMBERS = ['0', '-1', '1', '1.5', '1e400', 'inf', '-inf', 'nan', '-0', '+0', '0x7fffffff', '0o17', '0b101', '9007199254740991', '9007199254740992', '1_000_000', '1048576.0', '1e3', '-9223372036854775808', '4294967296'];
const OTHERS = ['true', 'false', '1979-05-27T07:32:00Z', '07:32:00', '1979-05-27', '1979-05-27T07:32:00', '[]', '[1]', '[[]]', '["a", 1]', '{}', '{a = 1}', '{ type = "linux" }', '[{}]'];
const KEYS = ['table', 'size', 'partition', 'type', 'label', 'fs', 'source', 'fs-label', 'fs-uuid', 'root-owned', 'sise', 'Type', '"type"', "'size'", 'type.x', '__proto__', 'constructor',
  'toString', 'hasOwnProperty', 'valueOf', 'fs_label', 'rootOwned', 'fsLabel', '""', '" "', '"ключ"', '"\\u0000"', 'partition.type'];
const LINES = ['partition = []', '[partition]', 'table = "none"', 'table = "mbr"', '[[partition.x]]', 'x.y.z = 1', 'size = 1e400', '[[partition]]', '[[ partition ]]', '[table]',
  'partition = [1, 2]', 'partition = [{}]', 'partition = [[]]', '[["partition"]]', 'partition = "x"', '[[partition]]\n[[partition]]', 'fs = "ext4"', 'source = ""', '"partition" = [{type="linux"}]'];

const pickValue = (rng: Rng) => rng.pick([...STRINGS, ...STRINGS, ...NUMBERS, ...OTHERS]);

interface SpecMutation { text: string; region: string; description: string; attack?: string }

function rawSpec(rng: Rng, seed: string): SpecMutation {
  const lines = seed.split('\n');
  const op = rng.weighted([[5, 'value'], [3, 'key'], [3, 'line'], [2, 'insert'], [2, 'bytes'], [2, 'huge']] as const);
  const assignments = lines.map((l, i) => (/^\s*[^#[\s][^=]*=/.test(l) ? i : -1)).filter((i) => i >= 0);
  const at = assignments.length ? rng.pick(assignments) : 0;
  switch (op) {
    case 'value': {
      const v = pickValue(rng);
      lines[at] = lines[at].replace(/=.*$/, `= ${v}`);
      return { text: lines.join('\n'), region: `line ${at + 1}`, description: `line ${at + 1} value := ${v.slice(0, 60)}`, attack: 'spec-value' };
    }
    case 'key': {
      const k = rng.pick(KEYS);
      lines[at] = lines[at].replace(/^\s*[^=]*?(\s*=)/, `${k}$1`);
      return { text: lines.join('\n'), region: `line ${at + 1}`, description: `line ${at + 1} key := ${k}`, attack: 'spec-key' };
    }
    case 'line': {
      const i = rng.int(lines.length);
      const how = rng.pick(['delete', 'duplicate', 'move']);
      const [l] = how === 'duplicate' ? [lines[i]] : lines.splice(i, 1);
      if (how !== 'delete') lines.splice(rng.int(lines.length + 1), 0, l);
      return { text: lines.join('\n'), region: `line ${i + 1}`, description: `${how} line ${i + 1} (${JSON.stringify(l).slice(0, 50)})` };
    }
    case 'insert': {
      const l = rng.pick(LINES);
      lines.splice(rng.int(lines.length + 1), 0, l);
      return { text: lines.join('\n'), region: 'lines', description: `insert ${JSON.stringify(l)}`, attack: 'spec-structure' };
    }
    case 'bytes': {
      const chars = [...seed];
      const how = rng.pick(['flip', 'truncate', 'nul', 'bom', 'cr', 'surrogate', 'tab', 'delete-quote', 'unicode-space']);
      const i = rng.int(Math.max(1, chars.length));
      if (how === 'flip') chars[i] = String.fromCharCode(((chars[i] ?? ' ').charCodeAt(0) ^ (1 << rng.int(7))) || 1);
      else if (how === 'truncate') chars.length = i;
      else if (how === 'nul') chars.splice(i, 0, '\u0000');
      else if (how === 'bom') chars.unshift('\ufeff');
      else if (how === 'cr') chars.splice(i, 0, '\r');
      else if (how === 'surrogate') chars.splice(i, 0, rng.pick(['\ud800', '\udfff', '\ufffe', '\ufffd', '\u2028', '\u0085', '\u0000', '\u007f', '\u001b']));
      else if (how === 'tab') chars.splice(i, 0, '\t');
      else if (how === 'unicode-space') chars.splice(i, 0, '\u00a0');
      else { const q = chars.indexOf('"', i); if (q >= 0) chars.splice(q, 1); }
      return { text: chars.join(''), region: `char ${i}`, description: `${how} at char ${i}` };
    }
    default: {
      const what = rng.pick(['partitions', 'nest-array', 'nest-table', 'dotted', 'header-depth', 'long-string', 'many-keys']);
      const n = rng.pick([10, 999, 1001, 10_000, 100_000]);
      let text: string;
      if (what === 'partitions') text = `${seed}\n${'[[partition]]\ntype = "linux"\nsize = "1M"\n'.repeat(n)}`;
      else if (what === 'nest-array') text = `size = ${'['.repeat(n)}${']'.repeat(n)}\n${seed}`;
      else if (what === 'nest-table') text = `size = ${'{a='.repeat(n)}1${'}'.repeat(n)}\n${seed}`;
      else if (what === 'dotted') text = `${seed}\n${'a.'.repeat(n)}b = 1\n`;
      else if (what === 'header-depth') text = `${seed}\n[${'a.'.repeat(n)}b]\nc = 1\n`;
      else if (what === 'long-string') text = seed.replace(/(label|source|type|fs-label) = "[^"]*"/, `$1 = "${'x'.repeat(n * 10)}"`);
      else text = `${seed}\n${Array.from({ length: n }, (_, k) => `k${k} = ${k}`).join('\n')}\n`;
      return { text, region: 'document', description: `${what} ×${n}`, attack: `spec-huge-${what}` };
    }
  }
}

/** Values of every TOML type for the object-level mutations. */
function objectValue(rng: Rng): unknown {
  return rng.pick<() => unknown>([
    () => rng.pick(['auto', '', '1M', '0', 'gpt', 'mbr', 'none', 'ext4', 'ext2', 'linux', 'x'.repeat(37), '😀'.repeat(19), 'é'.repeat(9), '3F2504E0-4F89-41D3-9A0C-0305E82C3301', '/abs', 'rel/path', '\u0000']),
    () => rng.pick([0, -1, 1, 1.5, Infinity, -Infinity, NaN, 2 ** 53, 2 ** 53 - 1, 4096, 0.5]),
    () => rng.chance(0.5),
    () => new Date(Date.UTC(1979, 4, 27)),
    () => rng.pick([[], [1], ['a'], [{}], [[]]]),
    () => rng.pick([{}, { a: 1 }, { type: 'linux' }]),
  ])();
}

function craftedSpec(rng: Rng, seed: string): SpecMutation | undefined {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(JSON.stringify(parseToml(seed))) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const parts = Array.isArray(doc.partition) ? (doc.partition as Record<string, unknown>[]) : [];
  const keysTop = ['table', 'size', 'partition', 'extra', 'Table'];
  const keysPart = ['type', 'size', 'label', 'fs', 'source', 'fs-label', 'fs-uuid', 'root-owned', 'sise', 'fsLabel'];
  const changes: string[] = [];
  for (let k = 0; k < rng.range(1, 3); k++) {
    const op = rng.weighted([[3, 'set-part'], [2, 'delete-part'], [1, 'set-top'], [1, 'delete-top'], [1, 'partitions']] as const);
    if (op === 'set-part' && parts.length) {
      const p = rng.pick(parts);
      const key = rng.pick(keysPart);
      const v = objectValue(rng);
      p[key] = v;
      changes.push(`partition.${key} := ${JSON.stringify(v)}`);
    } else if (op === 'delete-part' && parts.length) {
      const p = rng.pick(parts);
      const key = rng.pick(Object.keys(p).length ? Object.keys(p) : keysPart);
      delete p[key];
      changes.push(`delete partition.${key}`);
    } else if (op === 'set-top') {
      const key = rng.pick(keysTop);
      const v = objectValue(rng);
      doc[key] = v;
      changes.push(`${key} := ${JSON.stringify(v)}`);
    } else if (op === 'delete-top') {
      const key = rng.pick(keysTop);
      delete doc[key];
      changes.push(`delete ${key}`);
    } else {
      const how = rng.pick(['empty', 'one', 'five', 'many', 'non-table']);
      if (how === 'empty') doc.partition = [];
      else if (how === 'one') doc.partition = parts.slice(-1);
      else if (how === 'five') doc.partition = [...parts, ...parts, ...parts, ...parts, ...parts].slice(0, 5);
      else if (how === 'many') doc.partition = Array.from({ length: rng.pick([129, 1000]) }, () => ({ type: 'linux', size: '1M' }));
      else doc.partition = [...parts, rng.pick([1, 'x', [], null])].filter((x) => x !== null);
      changes.push(`partition array: ${how}`);
    }
  }
  let text: string;
  try {
    text = stringifyToml(doc);
  } catch {
    return undefined;
  }
  return { text, region: 'document', description: `object-level: ${changes.join('; ')}`, attack: 'spec-object' };
}

// ---------------------------------------------------------------------------------------------
// the case

const seedCache = new Map<string, string>();

export async function specCase(j: Judge, item: CorpusItem, dir: string, mutRng: Rng, env: CaseEnv, flavour: Flavour): Promise<void> {
  const target = item.files[mutRng.int(item.files.length)];
  j.result.target = target.file;
  const path = join(item.dir, target.file);
  let seed = seedCache.get(path);
  if (seed === undefined) seedCache.set(path, (seed = readFileSync(path, 'utf8')));
  const m: SpecMutation = flavour === 'none' ? { text: seed, region: '-', description: 'unmutated (control)' }
    : (flavour === 'crafted' ? craftedSpec(mutRng, seed) : undefined) ?? rawSpec(mutRng, seed);
  j.result.region = m.region;
  j.result.description = `${target.file}: ${m.description}`;
  j.result.attack = m.attack;
  env.onMutation?.({ target: target.file, region: m.region, description: j.result.description, attack: m.attack });
  // What the CLI gives parseBuildSpec: the file read as UTF-8 (an unpaired surrogate written out
  // becomes U+FFFD, as invalid bytes do).
  m.text = Buffer.from(m.text, 'utf8').toString('utf8');
  const file = join(dir, 'case.toml');
  writeFileSync(file, m.text);
  j.result.mutatedPath = file;
  env.log(`case ${j.result.seed}: spec ${flavour} ${j.result.description} (${m.text.length} chars)`);

  const t0 = performance.now();
  let spec: BuildSpec | undefined;
  env.onOp?.('parseBuildSpec');
  try {
    spec = parseBuildSpec(m.text, SPEC_BASE);
    j.result.ops.push({ op: 'parseBuildSpec', outcome: 'ok' });
  } catch (err) {
    if (err instanceof UsageError) {
      j.result.ops.push({ op: 'parseBuildSpec', outcome: 'UsageError' });
      env.log(`  parseBuildSpec: ${err.message}`);
      if (!err.message.startsWith('spec:')) j.finding('bad-message', 'parseBuildSpec', `a UsageError whose message does not start "spec:": ${err.message.slice(0, 200)}`);
    } else if (err instanceof HexzError) {
      j.result.ops.push({ op: 'parseBuildSpec', outcome: err.name });
      j.finding('wrong-error-class', 'parseBuildSpec', `${err.name} (only UsageError is documented): ${err.message.slice(0, 200)}`);
    } else j.result.ops.push({ op: 'parseBuildSpec', outcome: j.judgeError('parseBuildSpec', err) });
  }
  const ms = performance.now() - t0;
  if (ms > SLOW_MS + m.text.length / 1000) j.finding('slow', 'parseBuildSpec', `took ${ms.toFixed(0)} ms for ${m.text.length} characters`);

  env.onOp?.('oracle');
  const want = expectSpec(m.text, SPEC_BASE);
  if (spec) {
    const problem = specProblem(spec);
    // (Messages lead with the rule, so that the run's summary groups them; the spec goes to the case log.)
    if (problem || 'reject' in want) env.log(`  returned ${JSON.stringify(spec).slice(0, 2000)}`);
    if (problem) j.finding('accepted-invalid', 'parseBuildSpec', `returned a spec that breaks BuildSpec's promises: ${problem.replace(/^partition \d+: /, '')}`);
    if ('reject' in want) j.finding('oracle-disagrees', 'parseBuildSpec', `accepted what the TSDoc says to refuse: ${want.reject}`);
    else if (JSON.stringify(want.ok) !== JSON.stringify(spec)) j.finding('oracle-disagrees', 'parseBuildSpec', `returned a spec other than the TSDoc gives: ${JSON.stringify(spec).slice(0, 300)}; the TSDoc gives ${JSON.stringify(want.ok).slice(0, 300)}`);
    // Written out as TOML and read again, it must be the same spec.
    env.onOp?.('round-trip');
    let again: BuildSpec | undefined;
    try {
      again = parseBuildSpec(renderSpec(spec), SPEC_BASE);
    } catch (err) {
      j.finding('round-trip', 'parseBuildSpec(rendered)', `the spec written back as TOML is refused: ${(err as Error).message?.slice(0, 200)}`);
    }
    if (again && JSON.stringify(again) !== JSON.stringify(spec)) j.finding('round-trip', 'parseBuildSpec(rendered)', `read back as ${JSON.stringify(again).slice(0, 300)}`);
  } else if ('ok' in want && !j.result.findings.length) {
    j.finding('oracle-disagrees', 'parseBuildSpec', `refused a spec the TSDoc allows: ${JSON.stringify(want.ok).slice(0, 300)}`);
  }
  if (flavour === 'none' && !spec) j.finding('wrong-spec', 'control', 'the unmutated seed was refused');
}
