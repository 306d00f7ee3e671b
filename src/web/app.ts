/**
 * The archive viewer page (dist/web/index.html): opens a .hxz archive by URL (the form, or
 * `?url=` in the address) and shows its header and streams as `hexz inspect` does, a picture of
 * each stream, a hex view at any offset, downloads of any range, the parents of a thin archive,
 * and a password prompt for encrypted ones. Every failure is a message on the page.
 * The library is also on `window.hexz` for the console (and the tests).
 */
import * as hexz from '../browser/index.js';
import { Archive, inspectArchive, MissingParentError, streamMap, type InspectReport, type StreamName } from '../browser/index.js';
import { formatBytes, parseSize } from '../util/size.js';
import { errorText } from './error-text.js';
import { hexDump } from './hex-dump.js';
import { drawStreamMap } from './stream-picture.js';

(globalThis as { hexz?: unknown }).hexz = hexz;

/** Bytes per page of the hex view. */
const HEX_PAGE = 512;
/** Largest range downloaded through memory when the browser cannot stream to a file. */
const MEMORY_DOWNLOAD_LIMIT = 1 << 30;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

let archive: Archive | undefined;
let archiveUrl = '';
let hexOffset = 0;
/** Why a thin archive's parent could not be opened: what reads needing it are told. */
let parentProblem: unknown;
/** Bumped on every open: a slow earlier open never overwrites a later one. */
let generation = 0;

function setState(state: 'idle' | 'loading' | 'locked' | 'ready' | 'error', status = ''): void {
  document.body.dataset.state = state;
  $('status').textContent = status;
}

function showError(err: unknown): void {
  const box = $('error');
  box.textContent = errorText(err);
  box.hidden = false;
  console.error(err);
}

function clearError(): void {
  $('error').hidden = true;
  $('error').textContent = '';
}

function cell(row: HTMLTableRowElement, text: string, className?: string): HTMLTableCellElement {
  const td = row.insertCell();
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

/** Opens `url` (with `password` for an encrypted archive) and shows it; errors become messages. */
async function openArchive(url: string, password?: string): Promise<void> {
  const mine = ++generation;
  clearError();
  for (const id of ['summary-section', 'parents-section', 'streams-section', 'hex-section', 'download-section', 'password-section']) $(id).hidden = true;
  setState('loading', `Opening ${url} …`);
  const previous = archive;
  archive = undefined;
  await previous?.close().catch(() => {});
  try {
    let a: Archive;
    let parentError: unknown;
    try {
      a = await Archive.open(url, { password });
    } catch (err) {
      // A thin archive whose parent is missing still shows its header, its own blocks and
      // which parent is missing; reads that need the parent fail with that message.
      if (!(err instanceof MissingParentError)) throw err;
      parentError = err;
      a = await Archive.open(url, { password, openParents: false });
    }
    if (mine !== generation) return void (await a.close());
    archive = a;
    parentProblem = parentError;
    archiveUrl = url;
    const report = await inspectArchive(a);
    if (mine !== generation) return;
    showSummary(report);
    showParents(report);
    if (a.locked) {
      $('password-section').hidden = false;
      $('password').focus();
      setState('locked', 'Encrypted: enter the password to read it.');
      return;
    }
    await showStreams(a, report);
    setupRangeForms(a);
    if (parentError) showError(parentError);
    setState('ready', '');
    await showHex(a.streams[0], 0);
  } catch (err) {
    if (mine !== generation) return;
    showError(err);
    setState('error', '');
  }
}

function showSummary(r: InspectReport): void {
  const t = $<HTMLTableElement>('summary');
  t.replaceChildren();
  const rows: [string, string][] = [
    ['URL', r.file], ['size', `${formatBytes(r.fileBytes)} (${r.fileBytes} bytes)`], ['format version', String(r.version)],
    ['archive id', r.archiveId], ['created', r.created], ['logical size', `${formatBytes(r.logicalBytes)} (ratio ${r.ratio.toFixed(2)}x)`],
    ['compression', `${r.compression}${r.compression === 'zstd' ? ` level ${r.level}` : ''}`],
    ['blocks', r.chunking.kind === 'fixed' ? `fixed, ${formatBytes(r.blockSize)}` : `FastCDC ${formatBytes(r.chunking.min)}–${formatBytes(r.chunking.avg)}–${formatBytes(r.chunking.max)}`],
    ['profile', r.profile],
    ['dictionary', r.dictionary ? `${formatBytes(r.dictionary.bytes)} (id ${r.dictionary.id})` : 'none'],
    ['deduplicated', formatBytes(r.dedupSavedBytes)],
    ['encryption', r.encryption ? `${r.encryption.cipher}, ${r.encryption.kdf} ${formatBytes(r.encryption.memoryKiB * 1024)} × ${r.encryption.iterations} (${r.encryption.unlocked ? 'unlocked' : 'locked'})` : 'none'],
    ['signature', r.signature ? (r.signature.error ?? `${r.signature.algorithm}, key ${r.signature.fingerprint ?? '?'}, signed ${r.signature.signedAt} (not verified here)`) : 'none'],
    ['thin', r.thin ? `${r.thin.parents.length} parent(s); ${formatBytes(r.thin.referencedBytes)} referenced` : 'no'],
  ];
  if (r.metadata) rows.push(['metadata', JSON.stringify(r.metadata)]);
  for (const [k, v] of rows) {
    const row = t.insertRow();
    const th = document.createElement('th');
    th.textContent = k;
    row.append(th);
    cell(row, v).dataset.field = k;
  }
  $('summary-section').hidden = false;
}

function showParents(r: InspectReport): void {
  if (!r.thin) return;
  const body = $<HTMLTableElement>('parents').tBodies[0];
  body.replaceChildren();
  for (const p of r.thin.parents) {
    const row = body.insertRow();
    row.dataset.status = p.status;
    cell(row, String(p.slot));
    cell(row, p.archiveId);
    cell(row, p.recordedPath);
    cell(row, p.status, `status-${p.status}`);
    cell(row, p.foundAt ?? p.error ?? '');
  }
  $('parents-section').hidden = false;
}

async function showStreams(a: Archive, r: InspectReport): Promise<void> {
  const box = $('streams');
  box.replaceChildren();
  $('streams-section').hidden = false;
  for (const s of r.streams) {
    const div = document.createElement('div');
    div.className = 'stream';
    div.dataset.stream = s.name;
    const title = document.createElement('h3');
    title.textContent = `${s.name}: ${formatBytes(s.logicalBytes)}, ${s.entries} entries — ${s.blocks.data} data, ${s.blocks.dedup} deduplicated, ${s.blocks.zero} zero blocks; ${formatBytes(s.storedBytes)} stored (${s.compressionRatio.toFixed(2)}x)`;
    const canvas = document.createElement('canvas');
    canvas.width = 1024;
    canvas.height = 48;
    canvas.title = 'click to show the bytes there';
    const axis = document.createElement('div');
    axis.className = 'axis';
    axis.innerHTML = '<span>0</span><span></span>';
    axis.lastElementChild!.textContent = formatBytes(s.logicalBytes);
    div.append(title, canvas, axis);
    box.append(div);
    const map = await streamMap(a, s.name, canvas.width);
    drawStreamMap(canvas, map);
    // A very large index is sampled (one leaf per column), never downloaded whole for a picture.
    if (map.sampled) title.textContent += ' — picture sampled';
    canvas.dataset.drawn = 'true';
    canvas.addEventListener('click', (ev) => {
      const x = Math.floor((ev.offsetX / canvas.clientWidth) * canvas.width);
      const offset = Math.min(s.logicalBytes - 1, Math.floor(x * map.bucketBytes));
      void showHex(s.name, Math.max(0, offset - (offset % HEX_PAGE)));
    });
  }
}

function setupRangeForms(a: Archive): void {
  for (const id of ['hex-stream', 'download-stream']) {
    const select = $<HTMLSelectElement>(id);
    select.replaceChildren(...a.streams.map((s) => new Option(`${s} (${formatBytes(a.size(s))})`, s)));
  }
  $('hex-section').hidden = false;
  $('download-section').hidden = false;
}

/** Parses an offset or length: decimal, 0x hex, or a size such as 4K or 1.5G. */
function parseOffset(text: string): number {
  const t = text.trim();
  if (/^0x[0-9a-f]+$/i.test(t)) return Number.parseInt(t.slice(2), 16);
  return parseSize(t);
}

async function showHex(stream: StreamName, offset: number): Promise<void> {
  const a = archive;
  if (!a) return;
  const size = a.size(stream);
  const at = Math.max(0, Math.min(offset, Math.max(0, size - 1)));
  hexOffset = at;
  $<HTMLSelectElement>('hex-stream').value = stream;
  $<HTMLInputElement>('hex-offset').value = `0x${at.toString(16)}`;
  const pre = $('hex');
  pre.dataset.offset = String(at);
  pre.dataset.loading = 'true';
  try {
    const bytes = await a.readAt(stream, at, Math.min(HEX_PAGE, size - at));
    if (archive !== a || hexOffset !== at) return;
    pre.textContent = hexDump(bytes, at);
    pre.dataset.error = '';
  } catch (err) {
    if (archive !== a || hexOffset !== at) return;
    pre.textContent = '';
    pre.dataset.error = 'true';
    // "Parent 1 was not opened" says less than why it could not be.
    showError(err instanceof MissingParentError && parentProblem ? parentProblem : err);
  } finally {
    if (hexOffset === at) pre.dataset.loading = 'false';
  }
}

async function download(stream: StreamName, start: number, length: number): Promise<void> {
  const a = archive!;
  const size = a.size(stream);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(length) || start < 0 || length <= 0 || start + length > size) {
    throw new hexz.UsageError(`the range ${start}+${length} is not inside ${stream} (${size} bytes)`);
  }
  const name = `${archiveUrl.split('/').pop()!.replace(/\.hxz$/, '')}-${stream}-${start}-${start + length}.bin`;
  const status = $('download-status');
  let done = 0;
  const counted = a.readableStream(stream, { start, end: start + length }).pipeThrough(new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      done += chunk.length;
      status.textContent = `${formatBytes(done)} of ${formatBytes(length)} …`;
      controller.enqueue(chunk);
    },
  }));
  const picker = (globalThis as { showSaveFilePicker?: (o: { suggestedName: string }) => Promise<FileSystemFileHandle> }).showSaveFilePicker;
  if (length > MEMORY_DOWNLOAD_LIMIT && picker) {
    // Streamed to the file the person picks: a large range is never held in memory.
    const file = await picker({ suggestedName: name });
    await counted.pipeTo(await file.createWritable());
  } else {
    if (length > MEMORY_DOWNLOAD_LIMIT) throw new hexz.UsageError(`this browser can only download ranges of up to ${formatBytes(MEMORY_DOWNLOAD_LIMIT)} (it cannot stream to a file); pick a smaller range`);
    const blob = await new Response(counted).blob();
    const link = document.createElement('a');
    link.href = URL.createObjectURL(blob);
    link.download = name;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
  }
  status.textContent = `Downloaded ${formatBytes(length)} as ${name}.`;
  status.dataset.done = 'true';
}

function wire(): void {
  $('open-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const url = $<HTMLInputElement>('url').value.trim();
    const address = new URL(location.href);
    address.searchParams.set('url', url);
    history.replaceState(null, '', address);
    void openArchive(url);
  });
  $('password-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const input = $<HTMLInputElement>('password');
    const pw = input.value;
    input.value = '';
    setState('loading', 'Deriving the key …');
    void openArchive(archiveUrl, pw).then(() => {
      // A wrong password leaves the prompt up, with the message.
      if (document.body.dataset.state === 'error' && $('error').textContent?.startsWith('wrong password')) {
        $('password-section').hidden = false;
        setState('locked', '');
      }
    });
  });
  $('hex-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    clearError();
    try {
      void showHex($<HTMLSelectElement>('hex-stream').value as StreamName, parseOffset($<HTMLInputElement>('hex-offset').value));
    } catch (err) {
      showError(err);
    }
  });
  $('hex-prev').addEventListener('click', () => void showHex($<HTMLSelectElement>('hex-stream').value as StreamName, Math.max(0, hexOffset - HEX_PAGE)));
  $('hex-next').addEventListener('click', () => void showHex($<HTMLSelectElement>('hex-stream').value as StreamName, hexOffset + HEX_PAGE));
  $('download-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    clearError();
    $('download-status').dataset.done = '';
    try {
      const stream = $<HTMLSelectElement>('download-stream').value as StreamName;
      void download(stream, parseOffset($<HTMLInputElement>('download-start').value), parseOffset($<HTMLInputElement>('download-length').value)).catch(showError);
    } catch (err) {
      showError(err);
    }
  });
  const url = new URLSearchParams(location.search).get('url');
  if (url) {
    $<HTMLInputElement>('url').value = url;
    void openArchive(url);
  }
}

wire();
