/** Every ```mile block in docs/language.md is a complete file that parses without diagnostics. */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseMile } from '../../grammar/parse.ts';
import { renderDiagnostics } from '../../core/render.ts';
import { builtins } from '../../compiler/lower/builtins.ts';

const docPath = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs', 'language.md');
const doc = readFileSync(docPath, 'utf8');

/** Each ```mile fence, with the 1-based line its code starts on. */
function mileBlocks(text: string): { line: number; code: string }[] {
  const out: { line: number; code: string }[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== '```mile') continue;
    const start = i + 1;
    let j = start;
    while (j < lines.length && lines[j]!.trim() !== '```') j++;
    out.push({ line: start + 1, code: lines.slice(start, j).join('\n') });
    i = j;
  }
  return out;
}

describe('docs/language.md', () => {
  const blocks = mileBlocks(doc);

  it('has mile examples', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(10);
  });

  it.each(blocks.map((b) => [b.line, b.code] as const))('block at line %i parses cleanly', (line, code) => {
    const file = `language.md:${line}`;
    const { diagnostics } = parseMile(code, file);
    expect(renderDiagnostics(diagnostics, new Map([[file, code]]))).toBe('');
  });
});

describe('docs/language.md covers the built-in functions', () => {
  it('lists every builtin', () => {
    for (const name of Object.keys(builtins)) expect(doc, name).toContain(`\`${name}(`);
  });
});
