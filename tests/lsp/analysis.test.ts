/**
 * The analysis behind the server, without the protocol: a half-typed file still resolves its
 * names, shapes of the last check answer hovers until the edited text is checked, and the deep
 * check reports the errors of every tune, not only the first.
 */
import { describe, expect, it } from 'vitest';
import { Analysis, deepCheck } from '../../editor/analysis.ts';
import { hoverText } from '../../editor/hover.ts';
import { occurrenceAt } from '../../editor/occurrences.ts';
import { completions } from '../../editor/completion.ts';
import { definitionsOf } from '../../editor/navigation.ts';
import { semanticTokens } from '../../editor/outline.ts';
import { fileHost } from '../../runtime/source-files.ts';

const PATH = '/virtual/analysis.mile';
const TEXT = `use std.nn

model Small {
  config { dim = 8 }
  input x: f32[B, 3, dim]
  proj = Linear(dim, 2 * dim)
  forward {
    let wide = proj(x)
    loss mean(wide)
  }
}

tune a for Small { lora(r = 2) on proj }
tune b for Small { lora(alpah = 2) on proj }
tune c for Small { train prj }
`;

const analyse = (text: string, previous?: Analysis) =>
  Analysis.create({ files: fileHost(), documents: new Map(), path: PATH, text, previous });

function run(a: Analysis) {
  const steps = deepCheck(a);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

function hoverAt(a: Analysis, text: string, needle: string, offset = 1): string | undefined {
  const i = text.indexOf(needle) + offset;
  const before = text.slice(0, i);
  const line = before.split('\n').length;
  const o = occurrenceAt(a.occurrences(), line, i - before.lastIndexOf('\n'));
  return o && hoverText(a, o);
}

describe('analysis', () => {
  it('reports the error of every tune, each with its own range', () => {
    const diags = run(analyse(TEXT));
    expect(diags.map((d) => [d.span.line, d.message])).toEqual([
      [14, '`lora` has no option `alpah`'],
      [15, 'selector `prj` matches nothing in the model'],
    ]);
    expect(diags[0]!.help).toBe('did you mean `alpha`?');
  });

  it('answers a let hover with the last check until the edited text is checked', () => {
    const first = analyse(TEXT);
    run(first);
    expect(hoverAt(first, TEXT, 'let wide', 5)).toContain('let wide: f32[B, 3, 16]');
    const edited = TEXT.replace('  forward {', '  # a comment\n  forward {');
    const second = analyse(edited, first);
    expect(hoverAt(second, edited, 'let wide', 5)).toContain('let wide: f32[B, 3, 16]');
    expect(analyse(edited).checked).toBe(false);
    expect(hoverAt(analyse(edited), edited, 'let wide', 5)).toContain('shape known once the model is checked');
  });

  it('resolves names and elaborates the model in a file whose tune is half typed', () => {
    const half = TEXT + 'tune d for Small {\n  lora(r = 4) on pro';
    const a = analyse(half);
    expect(a.program).toBeUndefined();
    expect(a.diagnostics.some((d) => d.severity === 'error')).toBe(true);
    expect(a.elaborated('Small').model?.root.children.has('proj')).toBe(true);
    expect(hoverAt(a, half, 'dim = 8')).toContain('value: `8` (int)');
  });

  it('answers hover, definition and completion at every few characters of every prefix of a file (each a half-typed file)', () => {
    let answered = 0;
    for (let cut = 0; cut <= TEXT.length; cut += 11) {
      const text = TEXT.slice(0, cut);
      const a = analyse(text);
      run(a);
      expect(semanticTokens(text, a.occurrences()).length % 5).toBe(0);
      const lines = text.split('\n');
      for (let line = 1; line <= lines.length; line++) {
        for (let col = 1; col <= lines[line - 1]!.length + 1; col += 2) {
          const o = occurrenceAt(a.occurrences(), line, col);
          if (o) {
            hoverText(a, o);
            definitionsOf(a, o);
          }
          expect(Array.isArray(completions(a, text, line, col))).toBe(true);
          answered++;
        }
      }
    }
    expect(answered).toBeGreaterThan(1500);
  });
});
