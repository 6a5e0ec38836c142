/**
 * The layers point one way: core → grammar → compiler → runtime → cli. Inside compiler/ and
 * runtime/, the stage folders form no import cycle either. Type-only imports count: a cycle
 * of types is still a cycle of concepts. The test reads the import statements of every
 * source file, so it fails the moment someone adds an arrow that runs back up.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
// editor/ (the language server) sits on the compiler and below the runtime: it reads no files
// itself (cli/lsp.ts gives it the disk), so it is tested on in-memory documents alone.
const LAYERS = ['core', 'grammar', 'compiler', 'editor', 'runtime', 'cli'] as const;

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(ROOT, dir))) {
    const rel = join(dir, name);
    if (statSync(join(ROOT, rel)).isDirectory()) out.push(...sourceFiles(rel));
    else if (rel.endsWith('.ts')) out.push(rel);
  }
  return out;
}

/** Relative import and re-export targets of a file (static and dynamic), as root-relative paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const specs = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^;'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)].map(
    (m) => m[1] ?? m[2]!,
  );
  return specs.filter((s) => s.startsWith('.')).map((s) => normalize(join(dirname(file), s)));
}

/** Packages a file imports by name (`webgpu`, `node:fs`). */
function packagesOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  return [...text.matchAll(/(?:^|\n)\s*import\b[^;'"]*?['"]([^'".][^'"]*)['"]|import\(\s*['"]([^'".][^'"]*)['"]\s*\)/g)].map(
    (m) => m[1] ?? m[2]!,
  );
}

const layerOf = (file: string) => LAYERS.indexOf(file.split('/')[0] as (typeof LAYERS)[number]);
/** The stage folder of a file: `compiler/fuse`, `runtime/data`, or the layer itself for files at its top. */
const folderOf = (file: string) => {
  const parts = file.split('/');
  return parts.length > 2 ? `${parts[0]}/${parts[1]}` : parts[0]!;
};

const files = LAYERS.flatMap((l) => sourceFiles(l));
const edges = files.flatMap((from) => importsOf(from).map((to) => ({ from, to })));

/** Strongly connected components of more than one folder (Tarjan). */
function folderCycles(): string[][] {
  const graph = new Map<string, Set<string>>();
  for (const { from, to } of edges) {
    const a = folderOf(from);
    const b = folderOf(to);
    if (a === b) continue;
    if (!graph.has(a)) graph.set(a, new Set());
    graph.get(a)!.add(b);
  }
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string) => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1) cycles.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return cycles;
}

describe('layers', () => {
  it('finds the sources and their imports (the scan itself works)', () => {
    expect(files.length).toBeGreaterThan(50);
    expect(edges.length).toBeGreaterThan(100);
    expect(edges.some((e) => e.from.startsWith('cli/') && e.to.startsWith('compiler/'))).toBe(true);
  });

  it('no file imports from a layer above its own (core → grammar → compiler → editor → runtime → cli)', () => {
    const upward = edges.filter((e) => layerOf(e.to) > layerOf(e.from)).map((e) => `${e.from} imports ${relative('.', e.to)}`);
    expect(upward).toEqual([]);
  });

  it('the stage folders form no import cycle', () => {
    expect(folderCycles()).toEqual([]);
  });

  it('only runtime/device.ts imports Dawn, and core, grammar, compiler and editor read no files', () => {
    const dawn = files.filter((f) => packagesOf(f).includes('webgpu'));
    expect(dawn).toEqual(['runtime/device.ts']);
    // grammar/chevrotain.ts only locates chevrotain's bundle on disk to import it.
    const fileReaders = files.filter(
      (f) =>
        layerOf(f) <= layerOf('editor/x') &&
        f !== 'grammar/chevrotain.ts' &&
        packagesOf(f).some((p) => p === 'node:fs' || p === 'fs' || p === 'node:fs/promises'),
    );
    expect(fileReaders).toEqual([]);
  });
});
