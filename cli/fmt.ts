/**
 * `milec fmt [paths…]`: rewrite `.mile` files in the canonical layout (`grammar/format.ts`).
 *
 * - Folders are searched recursively for `.mile` files, skipping `node_modules` and hidden folders;
 *   no path means the current folder. `-` reads standard input and prints the result.
 * - A file is rewritten (atomically) only when its layout changes.
 * - `--check` writes nothing: it lists each file whose layout would change, with a short diff,
 *   and exits 1 if there is one (for CI).
 * - `--stdout` prints the formatted text instead of writing it.
 * - A file that does not parse is left as it is; its diagnostics are printed and the exit code is 1.
 * - A file whose first line is `# milec fmt: off` is left as written (grammar/format.ts : FORMAT_OFF).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { formatMile } from '../grammar/format.ts';
import { renderDiagnostics } from '../core/render.ts';
import { writeFileAtomic } from '../runtime/atomic.ts';
import { UserError } from './errors.ts';

export interface FmtOptions {
  check?: boolean;
  stdout?: boolean;
  /** Re-break lines longer than this (see `formatMile`); by default the author's line breaks are kept. */
  width?: number;
  /** Files and folders left out of a folder search (paths as given, or relative to the current folder). */
  exclude?: string[];
}

export interface FmtIo {
  out: (s: string) => void;
  err: (s: string) => void;
  readStdin: () => string;
}

const processIo: FmtIo = {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
  readStdin: () => readFileSync(0, 'utf8'),
};

/**
 * The `.mile` files named by `paths` (files as given; folders searched, sorted per folder),
 * without those under an `exclude` path.
 */
export function mileFiles(paths: readonly string[], exclude: readonly string[] = []): string[] {
  const out: string[] = [];
  const skipped = new Set(exclude.map((p) => resolve(p)));
  const walk = (dir: string): void => {
    const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name));
    for (const e of entries) {
      const p = join(dir, e.name);
      if (skipped.has(resolve(p))) continue;
      if (e.isDirectory()) {
        if (e.name !== 'node_modules' && !e.name.startsWith('.')) walk(p);
      } else if (e.isFile() && e.name.endsWith('.mile')) out.push(p);
    }
  };
  for (const p of paths) {
    if (!existsSync(p)) throw new UserError(`cannot read ${p}: no such file or folder`);
    if (statSync(p).isDirectory()) walk(p);
    else out.push(p);
  }
  return out;
}

export async function fmtCommand(paths: readonly string[], o: FmtOptions, io: FmtIo = processIo): Promise<number> {
  const options = o.width !== undefined ? { width: o.width } : {};
  if (paths.length === 1 && paths[0] === '-') {
    const text = io.readStdin();
    const r = formatMile(text, { ...options, file: '<stdin>' });
    if (r.diagnostics.length) {
      io.err(renderDiagnostics(r.diagnostics, new Map([['<stdin>', text]])) + '\n');
      return 1;
    }
    if (o.check) return r.text === text ? 0 : (io.err('<stdin>: not formatted\n' + diffHint(text, r.text)), 1);
    io.out(r.text);
    return 0;
  }
  const files = mileFiles(paths.length ? paths : ['.'], o.exclude);
  let unformatted = 0;
  let broken = 0;
  let written = 0;
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    const r = formatMile(text, { ...options, file });
    if (r.off) {
      if (o.stdout) io.out(text);
      continue;
    }
    if (r.diagnostics.length) {
      io.err(renderDiagnostics(r.diagnostics, new Map([[file, text]])) + '\n');
      io.err(`${file}: not formatted (it does not parse)\n`);
      broken++;
      continue;
    }
    if (o.stdout) {
      io.out(r.text);
      continue;
    }
    if (r.text === text) continue;
    if (o.check) {
      unformatted++;
      io.out(`${file}: not formatted\n${diffHint(text, r.text)}`);
    } else {
      await writeFileAtomic(file, r.text);
      written++;
      io.out(`formatted ${file}\n`);
    }
  }
  if (o.check && unformatted) io.err(`${unformatted} of ${files.length} .mile files not formatted: run \`milec fmt\` on them\n`);
  if (!o.check && !o.stdout && files.length > 1) io.err(`${files.length} .mile files, ${written} reformatted\n`);
  return unformatted || broken ? 1 : 0;
}

/** One line of a line diff: kept (' '), removed ('-') or added ('+'). */
type DiffLine = { op: ' ' | '-' | '+'; text: string; a: number; b: number };

/** A line diff by longest common subsequence; undefined when the files are too large for the table. */
function lineDiff(a: readonly string[], b: readonly string[]): DiffLine[] | undefined {
  if ((a.length + 1) * (b.length + 1) > 4_000_000) return undefined;
  const w = b.length + 1;
  const lcs = new Int32Array((a.length + 1) * w);
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i * w + j] = a[i] === b[j] ? lcs[(i + 1) * w + j + 1]! + 1 : Math.max(lcs[(i + 1) * w + j]!, lcs[i * w + j + 1]!);
    }
  }
  const out: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) out.push({ op: ' ', text: a[i]!, a: i++, b: j++ });
    else if (i < a.length && (j === b.length || lcs[(i + 1) * w + j]! >= lcs[i * w + j + 1]!))
      out.push({ op: '-', text: a[i]!, a: i++, b: j });
    else out.push({ op: '+', text: b[j]!, a: i, b: j++ });
  }
  return out;
}

/**
 * The first `hunks` changed stretches as unified-diff hunks with one line of context, and how
 * many more there are: enough to see what `milec fmt` would do without printing the whole file.
 */
export function diffHint(before: string, after: string, hunks = 2): string {
  const a = before.split('\n');
  const b = after.split('\n');
  const diff = lineDiff(a, b);
  if (!diff) return `  (${a.length} lines; too long for a diff here: run \`milec fmt --stdout\` and compare)\n`;
  const groups: DiffLine[][] = [];
  diff.forEach((d, k) => {
    if (d.op === ' ') return;
    const last = groups[groups.length - 1];
    const prev = diff[k - 1];
    if (last && prev && prev.op !== ' ') last.push(d);
    else groups.push([d]);
  });
  const lines: string[] = [];
  for (const g of groups.slice(0, hunks)) {
    const first = g[0]!;
    const removed = g.filter((d) => d.op === '-').length;
    const added = g.length - removed;
    const context = first.a > 0 ? a[first.a - 1] : undefined;
    const from = (n: number) => (context !== undefined ? n : n + 1);
    const span = (n: number) => n + (context !== undefined ? 1 : 0);
    lines.push(`@@ -${from(first.a)},${span(removed)} +${from(first.b)},${span(added)} @@`);
    if (context !== undefined) lines.push(` ${context}`);
    for (const d of g) lines.push(`${d.op}${d.text}`);
  }
  if (groups.length > hunks) lines.push(`… and ${groups.length - hunks} more changed places`);
  return lines.map((l) => `  ${l}`).join('\n') + '\n';
}
