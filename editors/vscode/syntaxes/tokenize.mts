/**
 * Tokenises `.mile` text with the committed TextMate grammar, through the same engine VS Code
 * uses (`vscode-textmate` on the `vscode-oniguruma` regex library). Used by the grammar tests and
 * by `scripts/editor-picture.ts`. The root package's dev dependencies provide both libraries.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import oniguruma from 'vscode-oniguruma';
import textmate from 'vscode-textmate';

/** One token of a line: its text, where it starts, and its scopes, outermost (`source.mile`) first. */
export interface LineToken {
  readonly text: string;
  readonly start: number;
  readonly scopes: readonly string[];
}

export const GRAMMAR_FILE = join(import.meta.dirname, 'mile.tmLanguage.json');

let loading: Promise<textmate.IGrammar> | undefined;

async function loadGrammar(): Promise<textmate.IGrammar> {
  const require = createRequire(import.meta.url);
  const wasm = readFileSync(join(require.resolve('vscode-oniguruma'), '..', 'onig.wasm'));
  await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  const registry = new textmate.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (patterns: string[]) => new oniguruma.OnigScanner(patterns),
      createOnigString: (s: string) => new oniguruma.OnigString(s),
    }),
    loadGrammar: async (scopeName) =>
      scopeName === 'source.mile' ? textmate.parseRawGrammar(readFileSync(GRAMMAR_FILE, 'utf8'), GRAMMAR_FILE) : null,
  });
  const grammar = await registry.loadGrammar('source.mile');
  if (!grammar) throw new Error(`cannot load ${GRAMMAR_FILE}`);
  return grammar;
}

/** The grammar, loaded once per process (the onig wasm can be loaded only once). */
export function mileTextMate(): Promise<textmate.IGrammar> {
  loading ??= loadGrammar();
  return loading;
}

/** Each line's tokens, the rule stack carried from line to line as an editor does. */
export async function tokenizeMile(text: string): Promise<LineToken[][]> {
  const grammar = await mileTextMate();
  let stack = textmate.INITIAL;
  return text.split(/\r?\n/).map((line) => {
    const r = grammar.tokenizeLine(line, stack);
    stack = r.ruleStack;
    return r.tokens.map((t) => ({ text: line.slice(t.startIndex, t.endIndex), start: t.startIndex, scopes: t.scopes }));
  });
}
