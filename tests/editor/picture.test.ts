/** `scripts/editor-picture.ts`: the README's picture of the extension, coloured by Dark+ and marked with the compiler's diagnostic. */
import { describe, expect, it } from 'vitest';
import { colourOf, editorPicture } from '../../scripts/editor-picture.ts';

describe('the editor picture', () => {
  it('colours scopes as Dark+ does: the innermost scope any rule selects, by its longest selector', () => {
    expect(colourOf(['source.mile', 'keyword.control.repeat.mile'])).toBe('#C586C0');
    expect(colourOf(['source.mile', 'keyword.other.train.mile'])).toBe('#569CD6');
    expect(colourOf(['source.mile', 'keyword.operator.arithmetic.mile'])).toBe('#D4D4D4');
    expect(colourOf(['source.mile', 'meta.type.tensor.mile', 'variable.other.constant.size.mile'])).toBe('#4FC1FF');
    expect(colourOf(['source.mile', 'comment.line.number-sign.mile', 'punctuation.definition.comment.mile'])).toBe('#6A9955');
    expect(colourOf(['source.mile', 'punctuation.section.parens.begin.mile'])).toBe('#D4D4D4');
    // `variables` is not `variable`: selectors match whole dot-separated segments.
    expect(colourOf(['source.mile', 'variables.mile'])).toBe('#D4D4D4');
  });

  it('draws the example with the compiler’s error under the misspelt module name', async () => {
    const svg = await editorPicture();
    expect(svg).toContain('unknown module `Linaer`');
    expect(svg).toMatch(/tiny_classifier\.mile\(\d+, \d+\): help: did you mean `Linear`\?/);
    expect(svg).toContain('milec(name)');
    expect(svg.match(/<polyline /g)).toHaveLength(1);
    // The grammar's colours reach the picture: `model` as a keyword, `TinyClassifier` as a type.
    expect(svg).toMatch(/fill="#569CD6">model</);
    expect(svg).toMatch(/fill="#4EC9B0">TinyClassifier</);
  });
});
