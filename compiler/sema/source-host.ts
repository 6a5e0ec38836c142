/**
 * Where the front end gets `.mile` text from. The compiler reads no files itself: a
 * `SourceHost` answers for it, so the same compilation runs over files on disk
 * (`runtime/source-files.ts : fileHost`), over an editor's unsaved documents, or over
 * strings in a test (`memoryHost`).
 */
import { join, relative } from 'node:path';

export interface SourceHost {
  /** The text of the file at the absolute `path`, or undefined when there is none. */
  readFile(path: string): string | undefined;
  /** Names of the `.mile` files directly in `dir` (for did-you-mean on `use std.x`). */
  mileFiles(dir: string): readonly string[];
  /** Absolute folder of milec's standard library (`use std.nn` is `STD/nn.mile`). */
  readonly stdDir: string;
  /** How an absolute path is shown in diagnostics (`std/nn.mile`, a path relative to the working folder). */
  displayName(path: string): string;
}

/** The usual display rule: `std/…` for the standard library, else relative to `cwd` when under it. */
export function displayPath(path: string, stdDir: string, cwd: string): string {
  if (path.startsWith(stdDir)) return `std/${relative(stdDir, path)}`;
  const rel = relative(cwd, path);
  return rel.startsWith('..') ? path : rel;
}

/**
 * A host over in-memory documents, keyed by absolute path; `fallback` (for example the file
 * host) answers for paths not held, so unsaved editor buffers shadow the files on disk.
 */
export function memoryHost(
  docs: ReadonlyMap<string, string>,
  fallback?: SourceHost,
  stdDir = fallback?.stdDir ?? '/std',
  cwd = '/',
): SourceHost {
  return {
    stdDir,
    readFile: (path) => docs.get(path) ?? fallback?.readFile(path),
    mileFiles: (dir) => {
      const own = [...docs.keys()]
        .filter((p) => p.startsWith(dir + '/') && p.endsWith('.mile') && !p.slice(dir.length + 1).includes('/'))
        .map((p) => p.slice(dir.length + 1));
      return [...new Set([...own, ...(fallback?.mileFiles(dir) ?? [])])].sort();
    },
    displayName: (path) => (fallback ? fallback.displayName(path) : displayPath(path, stdDir, cwd)),
  };
}

export function stdFile(host: SourceHost, ...parts: string[]): string {
  return join(host.stdDir, ...parts);
}
