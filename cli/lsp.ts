/** `milec lsp --stdio`: the language server (editor/server.ts) over stdin/stdout, reading files from disk. */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createConnection, ProposedFeatures } from 'vscode-languageserver/node.js';
import { startServer } from '../editor/server.ts';
import { fileHost } from '../runtime/source-files.ts';

/** Folders never searched for `.mile` files (dependencies, build and run outputs). */
const SKIPPED = new Set(['node_modules', '.git', 'dist', 'out', 'runs']);
const MAX_FILES = 2000;

/** Every `.mile` file under the roots, depth first, at most MAX_FILES. */
export function mileFilesUnder(roots: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (dir: string, depth: number) => {
    if (depth > 12 || out.length >= MAX_FILES) return;
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.name.startsWith('.') || SKIPPED.has(e.name)) continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p, depth + 1);
      else if (e.name.endsWith('.mile') && out.length < MAX_FILES) out.push(p);
    }
  };
  for (const r of roots) walk(r, 0);
  return out;
}

export function lspCommand(): void {
  // With --stdio on the command line, the connection reads stdin and writes stdout.
  const connection = createConnection(ProposedFeatures.all);
  startServer(connection, { files: fileHost(), workspaceFiles: mileFilesUnder });
}
