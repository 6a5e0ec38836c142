/**
 * The extension's `language-configuration.json` (comments, brackets, words, indentation), checked
 * against the compiler's lexer and against how std and the examples are laid out. VS Code runs
 * these patterns as JavaScript regular expressions, as this test does.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as T from '../../grammar/tokens.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const config = JSON.parse(readFileSync(join(ROOT, 'editors', 'vscode', 'language-configuration.json'), 'utf8')) as {
  comments: { lineComment: string };
  brackets: [string, string][];
  wordPattern: string;
  indentationRules: { increaseIndentPattern: string; decreaseIndentPattern: string; indentNextLinePattern: string };
};

const sources = ['std', 'examples'].flatMap((dir) =>
  readdirSync(join(ROOT, dir))
    .filter((f) => f.endsWith('.mile'))
    .map((f) => ({ name: `${dir}/${f}`, text: readFileSync(join(ROOT, dir, f), 'utf8') })),
);

describe('the .mile language configuration', () => {
  it('comments with a token the lexer skips as a comment', () => {
    const { tokens, errors } = T.mileLexer.tokenize(`${config.comments.lineComment} model ( { "`);
    expect([tokens, errors]).toEqual([[], []]);
  });

  it('matches the lexer’s bracket tokens', () => {
    const pairs = [
      [T.LBrace, T.RBrace],
      [T.LBracket, T.RBracket],
      [T.LParen, T.RParen],
    ].map(([open, close]) => [String(open!.PATTERN), String(close!.PATTERN)]);
    expect(config.brackets).toEqual(pairs);
  });

  it('takes every name and number of std and the examples as one word', () => {
    const word = new RegExp(`^(?:${config.wordPattern})$`);
    const words = sources.flatMap(({ text }) =>
      T.mileLexer
        .tokenize(text)
        .tokens.filter((t) => t.tokenType === T.Identifier || t.tokenType === T.NumberLit || T.keywordTokenTypes.has(t.tokenType))
        .map((t) => t.image),
    );
    expect(words.length).toBeGreaterThan(1000);
    expect(words.filter((w) => !word.test(w))).toEqual([]);
  });

  // VS Code's rule (`autoIndent.ts : getInheritIndentForLine`): a line after one that opens a bracket is
  // indented; after a line of an `indentNextLinePattern` chain (a tune item's selector list
  // continued after a comma), one step more than the chain's first line; after the chain's end,
  // back to that first line's indent; a line that closes a bracket one step less.
  it('indents as std and the examples are indented', () => {
    const rules = config.indentationRules;
    const increase = new RegExp(rules.increaseIndentPattern);
    const decrease = new RegExp(rules.decreaseIndentPattern);
    const indentNext = new RegExp(rules.indentNextLinePattern);
    const indent = (l: string) => /^ */.exec(l)![0].length;
    const wrong: string[] = [];
    for (const { name, text } of sources) {
      const code = text
        .split('\n')
        .map((line, i) => ({ line, n: i + 1 }))
        .filter(({ line }) => line.trim() !== '' && !/^\s*(?:#|\/\/)/.test(line));
      const continues = (k: number) => k >= 0 && indentNext.test(code[k]!.line);
      const chainStart = (k: number) => {
        while (continues(k - 1)) k--;
        return k;
      };
      for (let k = 1; k < code.length; k++) {
        const before = code[k - 1]!.line;
        let expected: number;
        if (continues(k - 1)) expected = indent(code[chainStart(k - 1)]!.line) + 2;
        else if (increase.test(before)) expected = indent(before) + 2;
        else if (continues(k - 2)) expected = indent(code[chainStart(k - 2)]!.line);
        else expected = indent(before);
        if (decrease.test(code[k]!.line)) expected -= 2;
        if (indent(code[k]!.line) !== expected) wrong.push(`${name}:${code[k]!.n}: expected indent ${expected}: ${code[k]!.line}`);
      }
    }
    expect(wrong).toEqual([]);
  });
});
