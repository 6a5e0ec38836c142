/**
 * The VS Code extension's TextMate grammar (`editors/vscode/syntaxes/mile.tmLanguage.json`),
 * run through `vscode-textmate` + `vscode-oniguruma` as VS Code runs it:
 *
 * - it is what `generate.mts` builds from the compiler's vocabulary (no hand edits, no drift);
 * - every keyword of `grammar/tokens.ts` is coloured as a keyword, and no other word is;
 * - the fixtures' tokens match their snapshots (`__snapshots__/*.tokens`, one block per line);
 * - on every std, example, docs and fixture file it agrees with the compiler's own lexer, token
 *   by token: a number is a number, a name is never a keyword, a lexical error is `invalid`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { IToken, TokenType } from 'chevrotain';
import { describe, expect, it } from 'vitest';
import * as T from '../../grammar/tokens.ts';
import {
  BLOCK_WORDS,
  contextualScopes,
  GRAMMAR_PATH,
  KEYWORD_SCOPE_ROOTS,
  keywordScopes,
  mileGrammar,
} from '../../editors/vscode/syntaxes/generate.mts';
import { type LineToken, tokenizeMile } from '../../editors/vscode/syntaxes/tokenize.mts';

const ROOT = join(import.meta.dirname, '..', '..');
const FIXTURES = join(import.meta.dirname, 'fixtures');

/** The innermost scope: the one a theme's most specific rule colours. */
const innermost = (t: LineToken) => t.scopes[t.scopes.length - 1]!;
const isKeywordScope = (scope: string) => KEYWORD_SCOPE_ROOTS.some((root) => scope.startsWith(root));
const scopeOf = (word: T.Keyword) => `${keywordScopes[word]}.mile`;

/** A readable dump: each line, then its non-blank tokens with their columns and scopes (`source.mile` left out). */
function dumpTokens(text: string, lines: LineToken[][]): string {
  const out: string[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    out.push(`${String(i + 1).padStart(3)} | ${line}`);
    for (const t of lines[i]!) {
      if (t.text.trim() === '') continue;
      out.push(`      ${String(t.start).padStart(3)} ${JSON.stringify(t.text)}  ${t.scopes.slice(1).join(' ')}`);
    }
  });
  return out.join('\n') + '\n';
}

/** The files the grammar must colour cleanly: std, examples, and each ```mile block of the language docs. */
function cleanSources(): { name: string; text: string }[] {
  const dir = (d: string) =>
    readdirSync(join(ROOT, d))
      .filter((f) => f.endsWith('.mile'))
      .map((f) => ({ name: `${d}/${f}`, text: readFileSync(join(ROOT, d, f), 'utf8') }));
  const doc = readFileSync(join(ROOT, 'docs', 'language.md'), 'utf8');
  const blocks = [...doc.matchAll(/^```mile\n([\s\S]*?)^```$/gm)].map((m, i) => ({ name: `docs/language.md block ${i + 1}`, text: m[1]! }));
  return [...dir('std'), ...dir('examples'), ...blocks];
}

const fixtureFiles = readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.mile'))
  .sort();

/** Which innermost scopes may colour a lexer token of each type (keywords and names are checked apart). */
const allowedScopes = new Map<TokenType, readonly string[]>([
  [T.NumberLit, ['constant.numeric.']],
  [T.StringLit, ['punctuation.definition.string.begin.']],
  [T.BadNumber, ['invalid.illegal.number.']],
  [T.UnterminatedString, ['invalid.illegal.unterminated-string.']],
  [T.Caret, ['invalid.illegal.caret.']],
  [T.Arrow, ['keyword.operator.arrow.']],
  [T.Ellipsis, ['keyword.operator.ellipsis.']],
  [T.DotDot, ['keyword.operator.range.']],
  [T.Dot, ['punctuation.accessor.']],
  [T.GlobStar, ['keyword.operator.glob.']],
  [T.Star, ['keyword.operator.arithmetic.', 'keyword.operator.wildcard.']],
  [T.Slash, ['keyword.operator.arithmetic.']],
  [T.Percent, ['keyword.operator.arithmetic.']],
  [T.Plus, ['keyword.operator.arithmetic.']],
  [T.Minus, ['keyword.operator.arithmetic.']],
  [T.At, ['keyword.operator.matmul.']],
  [T.EqEq, ['keyword.operator.comparison.']],
  [T.NotEq, ['keyword.operator.comparison.']],
  [T.LtEq, ['keyword.operator.comparison.']],
  [T.GtEq, ['keyword.operator.comparison.']],
  [T.Lt, ['keyword.operator.comparison.']],
  [T.Gt, ['keyword.operator.comparison.']],
  [T.Equals, ['keyword.operator.assignment.']],
  [T.Transpose, ['keyword.operator.transpose.']],
  [T.Colon, ['punctuation.separator.colon.']],
  [T.Pipe, ['punctuation.separator.pipe.']],
  [T.Comma, ['punctuation.separator.comma.']],
  [T.Semicolon, ['punctuation.terminator.statement.']],
  [T.LParen, ['punctuation.section.parens.begin.']],
  [T.RParen, ['punctuation.section.parens.end.']],
  [T.LBracket, ['punctuation.section.brackets.begin.']],
  [T.RBracket, ['punctuation.section.brackets.end.']],
  [T.LBrace, ['punctuation.section.block.begin.', 'punctuation.section.braces.begin.']],
  [T.RBrace, ['punctuation.section.block.end.', 'punctuation.section.braces.end.']],
]);
/** The roles a name (or a keyword in a name's place: `x.output`, `f(input = 3)`, `**.output`) is coloured by. */
const NAME_SCOPES = ['variable.', 'entity.name.', 'support.function.'];
const SOFT_WORDS: ReadonlySet<string> = new Set([...T.SOFT_KEYWORDS, ...BLOCK_WORDS]);

/** Disagreements between the compiler's lexer and the grammar, as `line:col text: problem` lines. */
function lexerDisagreements(text: string, lines: LineToken[][]): string[] {
  const problems: string[] = [];
  const at = (line: number, col: number) => lines[line]!.find((t) => t.start <= col && col < t.start + t.text.length);
  const lexed = T.mileLexer.tokenize(text);
  /** A keyword where only a name can be: a member (`x.output`), a named argument or entry (`input = 3`), a selector segment. */
  const inNamePlace = (i: number, tm: LineToken) =>
    lexed.tokens[i - 1]?.tokenType === T.Dot ||
    lexed.tokens[i + 1]?.tokenType === T.Equals ||
    tm.scopes.includes('meta.selector-list.mile');
  const check = (tok: IToken, i: number) => {
    const line = tok.startLine! - 1;
    const col = tok.startColumn! - 1;
    const tm = at(line, col);
    const where = `${line + 1}:${col + 1} ${JSON.stringify(tok.image)}`;
    if (tm === undefined) return problems.push(`${where}: no TextMate token`);
    const scope = innermost(tm);
    if (tok.endLine === tok.startLine && tm.start + tm.text.length > tok.endColumn! && tok.tokenType !== T.StringLit)
      problems.push(`${where}: TextMate token ${JSON.stringify(tm.text)} runs past it`);
    let ok: boolean;
    if (T.keywordTokenTypes.has(tok.tokenType)) {
      ok = scope === scopeOf(tok.image as T.Keyword) || (inNamePlace(i, tm) && NAME_SCOPES.some((s) => scope.startsWith(s)));
    } else if (tok.tokenType === T.Identifier) {
      ok = NAME_SCOPES.some((s) => scope.startsWith(s)) || (SOFT_WORDS.has(tok.image) && isKeywordScope(scope));
    } else {
      ok = (allowedScopes.get(tok.tokenType) ?? []).some((s) => scope.startsWith(s));
    }
    if (!ok) problems.push(`${where} (${tok.tokenType.name}): coloured ${scope}`);
    return undefined;
  };
  lexed.tokens.forEach(check);
  for (const e of lexed.errors) {
    const tm = at(e.line! - 1, e.column! - 1);
    if (!tm || innermost(tm) !== 'invalid.illegal.character.mile')
      problems.push(
        `${e.line}:${e.column}: the lexer rejects ${JSON.stringify(text[e.offset])}, coloured ${tm ? innermost(tm) : 'nothing'}`,
      );
  }
  return problems;
}

/** Text coloured only as `source.mile` (or a `meta.*` region): the grammar has no rule for it. */
function uncoloured(lines: LineToken[][]): string[] {
  return lines.flatMap((ts, i) =>
    ts
      .filter((t) => t.text.trim() !== '' && t.scopes.slice(1).every((s) => s.startsWith('meta.')))
      .map((t) => `${i + 1}:${t.start + 1} ${t.text}`),
  );
}

describe('the .mile TextMate grammar', () => {
  it('is the generated grammar (regenerate: npx tsx editors/vscode/syntaxes/generate.mts)', () => {
    expect(JSON.parse(readFileSync(GRAMMAR_PATH, 'utf8'))).toEqual(mileGrammar());
  });

  it('colours every keyword of grammar/tokens.ts as a keyword, and words that contain one as names', async () => {
    for (const word of T.KEYWORDS) {
      const [alone, longer, , named] = await tokenizeMile(`${word}\n${word}_x x${word}\nf(${word} = 1)\nx.${word}`);
      expect(alone!.map(innermost), word).toEqual([scopeOf(word)]);
      expect(isKeywordScope(scopeOf(word)), word).toBe(true);
      expect(
        longer!.filter((t) => t.text.trim()).map((t) => isKeywordScope(innermost(t))),
        word,
      ).toEqual([false, false]);
      expect(named!.filter((t) => t.text === word).map(innermost), word).toEqual(['variable.other.property.mile']);
    }
  });

  it('colours soft keywords as keywords only where they start their construct', async () => {
    const text = 'model M {\n  weights { file = "w" }\n  forward {\n    output y = weights.output + rewrite + shared\n  }\n}\n';
    const lines = await tokenizeMile(text);
    const scopesOf = (word: string) =>
      lines
        .flat()
        .filter((t) => t.text === word)
        .map(innermost);
    expect(scopesOf('weights')).toEqual([`${contextualScopes.weights}.mile`, 'variable.other.readwrite.mile']);
    expect(scopesOf('output')).toEqual([`${contextualScopes.output}.mile`, 'variable.other.property.mile']);
    expect(scopesOf('rewrite')).toEqual(['variable.other.readwrite.mile']);
    expect(scopesOf('shared')).toEqual(['variable.other.readwrite.mile']);
  });

  it.each(fixtureFiles)('tokenises fixtures/%s as its snapshot', async (file) => {
    const text = readFileSync(join(FIXTURES, file), 'utf8');
    const lines = await tokenizeMile(text);
    await expect(dumpTokens(text, lines)).toMatchFileSnapshot(join('__snapshots__', `${basename(file, '.mile')}.tokens`));
    expect(uncoloured(lines)).toEqual([]);
    expect(lexerDisagreements(text, lines)).toEqual([]);
  });

  it('the fixtures cover every keyword, soft keyword and token type of the lexer', () => {
    const text = fixtureFiles.map((f) => readFileSync(join(FIXTURES, f), 'utf8')).join('\n');
    const seen = new Set(T.mileLexer.tokenize(text).tokens.map((t) => t.tokenType));
    const words = new Set(text.match(/[A-Za-z_][A-Za-z0-9_]*/g));
    const notLexed = new Set([T.Name, T.AddOp, T.MulOp, T.CmpOp, T.WhiteSpace, T.Comment]);
    const unused = T.allTokens.filter((t) => !seen.has(t) && !notLexed.has(t));
    expect(unused.map((t) => t.name)).toEqual([]);
    expect([...SOFT_WORDS].filter((w) => !words.has(w))).toEqual([]);
  });

  it('colours std, examples and the language docs without errors and agrees with the lexer', async () => {
    const sources = cleanSources();
    expect(sources.length).toBeGreaterThan(20);
    for (const { name, text } of sources) {
      const lines = await tokenizeMile(text);
      const invalid = lines.flatMap((ts, i) =>
        ts.filter((t) => t.scopes.some((s) => s.startsWith('invalid.'))).map((t) => `${i + 1}: ${t.text}`),
      );
      expect(invalid, name).toEqual([]);
      expect(uncoloured(lines), name).toEqual([]);
      expect(lexerDisagreements(text, lines), name).toEqual([]);
    }
  });
});
