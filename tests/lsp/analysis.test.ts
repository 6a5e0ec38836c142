/**
 * The analysis behind the server, without the protocol: a half-typed file still resolves its
 * names, shapes of the last check answer hovers until the edited text is checked, and the deep
 * check reports the errors of every tune, not only the first.
 */
import { describe, expect, it } from 'vitest';
import { Analysis, deepCheck } from '../../editor/analysis.ts';
import { hoverText } from '../../editor/hover.ts';
import { occurrenceAt } from '../../editor/occurrences.ts';
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
});
