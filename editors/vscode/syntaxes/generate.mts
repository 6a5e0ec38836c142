/**
 * The TextMate grammar of `.mile` (`mile.tmLanguage.json`), built from the compiler's own
 * vocabulary so the two cannot drift:
 *
 * - keywords and soft keywords come from `grammar/tokens.ts`; `keywordScopes` is a mapped type
 *   over `Keyword`, so a keyword added there is a type error here until it gets a scope;
 * - the number, name, string and comment patterns mirror the lexer's (a number glued to letters,
 *   `3px`, is `invalid` as it is a lexical error);
 * - builtin function names come from `compiler/lower/builtins.ts`, initializers from
 *   `compiler/sema/elaborate.ts : initArgs`.
 *
 * `tests/editor/textmate.test.ts` fails when the committed JSON differs from `mileGrammar()`.
 * Regenerate with `npx tsx editors/vscode/syntaxes/generate.mts`.
 *
 * TextMate matches line by line; the contexts here (blocks, parentheses, tensor types,
 * selectors, `config { … }`) are begin/end rules so that a name is coloured by its role:
 * declared, read, passed by name, or a selector segment.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as prettier from 'prettier';
import { builtins } from '../../../compiler/lower/builtins.ts';
import { initArgs } from '../../../compiler/sema/elaborate.ts';
import { KEYWORDS, SOFT_KEYWORDS, type Keyword } from '../../../grammar/tokens.ts';

type SoftKeyword = (typeof SOFT_KEYWORDS)[number];

/** The words that open a named block: `weights { … }` in a model, `optimizer { … }` in a tune (`grammar/to-ast.ts`). */
export const BLOCK_WORDS = ['weights', 'optimizer'] as const;
type BlockWord = (typeof BLOCK_WORDS)[number];

/** Every reserved word's scope (its last segment, `.mile`, is added). Exhaustive over `Keyword` by type. */
export const keywordScopes: { readonly [K in Keyword]: string } = {
  use: 'keyword.control.import',
  module: 'storage.type.module',
  model: 'storage.type.model',
  method: 'storage.type.method',
  tune: 'storage.type.tune',
  param: 'storage.type.param',
  input: 'storage.type.input',
  config: 'storage.type.config',
  forward: 'storage.type.forward',
  let: 'storage.type.let',
  hook: 'storage.type.hook',
  loss: 'keyword.other.loss',
  for: 'keyword.other.for',
  on: 'keyword.other.on',
  train: 'keyword.other.train',
  freeze: 'keyword.other.freeze',
  repeat: 'keyword.control.repeat',
  if: 'keyword.control.conditional',
  and: 'keyword.operator.expression.and',
  or: 'keyword.operator.expression.or',
  not: 'keyword.operator.expression.not',
  true: 'constant.language.boolean.true',
  false: 'constant.language.boolean.false',
  none: 'constant.language.none',
  int: 'support.type.primitive.int',
  float: 'support.type.primitive.float',
  bool: 'support.type.primitive.bool',
  f32: 'support.type.primitive.f32',
  i32: 'support.type.primitive.i32',
};

/** Soft keywords and block words, coloured as keywords only where they start their construct. */
export const contextualScopes: { readonly [K in SoftKeyword | BlockWord]: string } = {
  output: 'storage.type.output',
  rewrite: 'storage.type.rewrite',
  shared: 'storage.modifier.shared',
  weights: 'storage.type.weights',
  optimizer: 'storage.type.optimizer',
};

/** The first segments of the scopes above: what "coloured as a keyword" means in the tests. */
export const KEYWORD_SCOPE_ROOTS = ['keyword.', 'storage.', 'constant.language.', 'support.type.primitive.'] as const;

const NAME = '[A-Za-z_][A-Za-z0-9_]*';
const WORD_CHAR = '[A-Za-z0-9_]';
/** The lexer's number (`grammar/tokens.ts : scanNumber`), atomic so that `1e` never backs off to `1`. */
const NUMBER_HEAD = String.raw`\d+(?:\.\d+)?(?:[eE][+-]?\d+)?`;
/** What makes a number bad when glued to it: more dotted digits or letters. */
const NOT_GLUED = String.raw`(?!${WORD_CHAR}|\.\d)`;
/** Where an argument or parameter starts: after `(`, after `,`, or at a line's start. */
const LIST_START = '(?:(?<=[(,])|^)';
/** `=` but not `==`. */
const ASSIGN = '=(?!=)';

type Captures = Record<string, { name?: string; patterns?: Rule[] }>;
export interface Rule {
  name?: string;
  match?: string;
  begin?: string;
  end?: string;
  captures?: Captures;
  beginCaptures?: Captures;
  endCaptures?: Captures;
  patterns?: Rule[];
  include?: string;
}
export interface TmGrammar {
  $schema: string;
  name: string;
  scopeName: string;
  fileTypes: string[];
  patterns: Rule[];
  repository: Record<string, Rule>;
}

const mile = (scope: string) => `${scope}.mile`;
const kw = (word: Keyword) => mile(keywordScopes[word]);
const soft = (word: SoftKeyword | BlockWord) => mile(contextualScopes[word]);
const inc = (name: string): Rule => ({ include: `#${name}` });
const caps = (...names: (string | undefined)[]): Captures =>
  Object.fromEntries(names.flatMap((n, i) => (n === undefined ? [] : [[String(i + 1), { name: n }]])));
/** Scopes for a whole begin or end match (`{`, `(`). */
const whole = (name: string): Captures => ({ '0': { name } });
const words = (ws: readonly string[]) => `\\b(?:${ws.join('|')})\\b`;

/** One rule per keyword, whole words only: `forward_fn` and `model2` are names, as in the lexer (`longer_alt`). */
function keywordRules(): Rule[] {
  return KEYWORDS.map((w) => ({ match: `\\b${w}\\b`, name: kw(w) }));
}

/** `# …` and `// …` to the end of the line. */
function comments(): Rule {
  return {
    patterns: [
      { match: '(#).*$', name: mile('comment.line.number-sign'), captures: caps(mile('punctuation.definition.comment')) },
      { match: '(//).*$', name: mile('comment.line.double-slash'), captures: caps(mile('punctuation.definition.comment')) },
    ],
  };
}

/** Strings are one line long: a string with no closing quote on its line is the lexer's `UnterminatedString`. */
function strings(): Rule {
  return {
    patterns: [
      { match: String.raw`"(?:[^"\\]|\\.)*\\?$`, name: mile('invalid.illegal.unterminated-string') },
      {
        begin: '"',
        end: '"',
        name: mile('string.quoted.double'),
        beginCaptures: whole(mile('punctuation.definition.string.begin')),
        endCaptures: whole(mile('punctuation.definition.string.end')),
        patterns: [{ match: String.raw`\\.`, name: mile('constant.character.escape') }],
      },
    ],
  };
}

function numbers(): Rule {
  return {
    patterns: [
      { match: String.raw`\b(?>\d+(?:\.\d+(?:[eE][+-]?\d+)?|[eE][+-]?\d+))${NOT_GLUED}`, name: mile('constant.numeric.float.decimal') },
      { match: String.raw`\b(?>\d+)${NOT_GLUED}`, name: mile('constant.numeric.integer.decimal') },
      // `1.2.3`, `3px`, `1e`: the lexer's `BadNumber`.
      { match: String.raw`\b(?>${NUMBER_HEAD})(?:(?:\.\d+)+${WORD_CHAR}*|${WORD_CHAR}+)`, name: mile('invalid.illegal.number') },
    ],
  };
}

/** Punctuation and operators, longest first where one is a prefix of another. */
function operators(): Rule {
  return {
    patterns: [
      { match: '->', name: mile('keyword.operator.arrow') },
      { match: String.raw`\.\.\.`, name: mile('keyword.operator.ellipsis') },
      { match: String.raw`\.\.`, name: mile('keyword.operator.range') },
      { match: `(\\.)\\s*(${NAME})`, captures: caps(mile('punctuation.accessor'), mile('variable.other.property')) },
      { match: String.raw`\.`, name: mile('punctuation.accessor') },
      { match: `\\^T(?!${WORD_CHAR})`, name: mile('keyword.operator.transpose') },
      // `^` not glued to `T`: a parse error (there is no power operator).
      { match: String.raw`\^`, name: mile('invalid.illegal.caret') },
      { match: '==|!=|<=|>=|<|>', name: mile('keyword.operator.comparison') },
      { match: '=', name: mile('keyword.operator.assignment') },
      { match: String.raw`\*\*`, name: mile('keyword.operator.glob') },
      { match: '@', name: mile('keyword.operator.matmul') },
      { match: String.raw`[-+*/%]`, name: mile('keyword.operator.arithmetic') },
      { match: ':', name: mile('punctuation.separator.colon') },
      { match: String.raw`\|`, name: mile('punctuation.separator.pipe') },
      { match: ',', name: mile('punctuation.separator.comma') },
      { match: ';', name: mile('punctuation.terminator.statement') },
    ],
  };
}

/** `NAME(`: a builtin, a module instantiated (capitalised by convention), or another call (initializer, method). */
function calls(): Rule {
  const names = Object.keys(builtins).sort();
  return {
    patterns: [
      { match: `${words(names)}(?=\\s*\\()`, name: mile('support.function.builtin') },
      { match: `\\b[A-Z]${WORD_CHAR}*(?=\\s*\\()`, name: mile('entity.name.type.module') },
      { match: `\\b${NAME}(?=\\s*\\()`, name: mile('entity.name.function') },
    ],
  };
}

/** `(` … `)`: arguments (`dim = 1` passes by name, keywords allowed) and parameter lists (`x: f32[…]`). */
function parens(): Rule {
  return {
    begin: String.raw`\(`,
    end: String.raw`\)`,
    beginCaptures: whole(mile('punctuation.section.parens.begin')),
    endCaptures: whole(mile('punctuation.section.parens.end')),
    patterns: [
      inc('comments'),
      {
        match: `${LIST_START}\\s*(${NAME})\\s*(${ASSIGN})`,
        captures: caps(mile('variable.parameter.named'), mile('keyword.operator.assignment')),
      },
      { match: `${LIST_START}\\s*(${NAME})\\s*(:)`, captures: caps(mile('variable.parameter'), mile('punctuation.separator.colon')) },
      inc('expressions'),
    ],
  };
}

/**
 * A list that declares names: `forward(x: f32[…], mask = none, scale)`, `rewrite(x)`, a method's
 * options and site bindings. Each entry's leading name is a parameter, typed or not.
 */
function parameterList(opening: string, openingCaptures: Captures): Rule {
  return {
    begin: opening,
    end: String.raw`\)`,
    beginCaptures: openingCaptures,
    endCaptures: whole(mile('punctuation.section.parens.end')),
    patterns: [inc('comments'), { match: `${LIST_START}\\s*(${NAME})`, captures: caps(mile('variable.parameter')) }, inc('expressions')],
  };
}

/** `[` … `]`: lists, indexing and slices. */
function brackets(): Rule {
  return {
    begin: String.raw`\[`,
    end: String.raw`\]`,
    beginCaptures: whole(mile('punctuation.section.brackets.begin')),
    endCaptures: whole(mile('punctuation.section.brackets.end')),
    patterns: [inc('expressions')],
  };
}

/** `f32[B, seq, dim / heads]`: capitalised names are symbolic sizes, bound at run time. */
function tensorType(): Rule {
  return {
    begin: String.raw`\b(?:(f32)|(i32))\s*(\[)`,
    end: String.raw`\]`,
    name: mile('meta.type.tensor'),
    beginCaptures: caps(kw('f32'), kw('i32'), mile('punctuation.section.brackets.begin')),
    endCaptures: whole(mile('punctuation.section.brackets.end')),
    patterns: [
      inc('comments'),
      { match: `\\b[A-Z]${WORD_CHAR}*\\b(?!\\s*\\()`, name: mile('variable.other.constant.size') },
      inc('expressions'),
    ],
  };
}

/** `{` … `}`: module, model, method, tune and forward bodies, and blocks of statements. */
function block(): Rule {
  return {
    begin: String.raw`\{`,
    end: String.raw`\}`,
    beginCaptures: whole(mile('punctuation.section.block.begin')),
    endCaptures: whole(mile('punctuation.section.block.end')),
    patterns: [inc('items')],
  };
}

/** `config { vocab = 64, … }`, `weights { file = "…" }`, `optimizer { lr = 1e-2 }`: entries, not statements. */
function entryBlock<W extends string>(openingWords: readonly W[], openingScope: (word: W) => string, entryScope: string): Rule {
  return {
    begin: `\\b(${openingWords.join('|')})\\s*(\\{)`,
    end: String.raw`\}`,
    beginCaptures: {
      '1': { patterns: openingWords.map((w) => ({ match: w, name: openingScope(w) })) },
      '2': { name: mile('punctuation.section.block.begin') },
    },
    endCaptures: whole(mile('punctuation.section.block.end')),
    patterns: [
      inc('comments'),
      { match: `\\b(${NAME})\\s*(${ASSIGN})`, captures: caps(entryScope, mile('keyword.operator.assignment')) },
      inc('expressions'),
    ],
  };
}

/**
 * The selectors of a tune item (`train head, **.bias`, `lora(…) on blocks.*.attn.{query, value}`):
 * to the end of the line (or a comment, `;`, the tune's `}`), and on to the next line after a comma.
 */
function selectors(): Rule {
  const segment = mile('variable.other.member.selector');
  const inner: Rule[] = [
    inc('comments'),
    { match: String.raw`\*\*`, name: mile('keyword.operator.glob') },
    { match: String.raw`\*`, name: mile('keyword.operator.wildcard') },
    { match: String.raw`\.\.`, name: mile('keyword.operator.range') },
    { match: String.raw`\.`, name: mile('punctuation.accessor') },
    { match: ',', name: mile('punctuation.separator.comma') },
    { match: `\\b${NAME}\\b`, name: segment },
    inc('numbers'),
    {
      begin: String.raw`\{`,
      end: String.raw`\}`,
      beginCaptures: whole(mile('punctuation.section.braces.begin')),
      endCaptures: whole(mile('punctuation.section.braces.end')),
      patterns: [inc('selector-segments')],
    },
    {
      begin: String.raw`\[`,
      end: String.raw`\]`,
      beginCaptures: whole(mile('punctuation.section.brackets.begin')),
      endCaptures: whole(mile('punctuation.section.brackets.end')),
      patterns: [inc('selector-segments')],
    },
    { match: String.raw`\S`, name: mile('invalid.illegal.character') },
  ];
  return {
    begin: String.raw`\b(?:(train)|(freeze)|(on))\b`,
    // vscode-textmate hands the grammar each line with its `\n`: `$` matches before and after it.
    end: String.raw`(?=[};]|#|//)|(?<![,\n])$`,
    name: mile('meta.selector-list'),
    beginCaptures: caps(kw('train'), kw('freeze'), kw('on')),
    patterns: inner,
  };
}

/** `param NAME: TYPE = INIT [if COND]` to the end of its line: the initializer after `=` is a builtin, called or not (`zeros`). */
function param(): Rule {
  return {
    begin: `\\b(param)\\s+(${NAME})`,
    end: String.raw`(?=[};]|#|//)|$`,
    beginCaptures: caps(kw('param'), mile('variable.other.member.param')),
    patterns: [
      {
        match: `(${ASSIGN})\\s*\\b(${Object.keys(initArgs).sort().join('|')})\\b`,
        captures: caps(mile('keyword.operator.assignment'), mile('support.function.initializer')),
      },
      inc('expressions'),
    ],
  };
}

/** The header of a `.mile` method: `method NAME(OPTIONS) on SITE(BINDINGS) | SITE(BINDINGS)`, up to its body. */
function methodHeader(): Rule {
  return {
    begin: `\\b(method)\\s+(${NAME})`,
    end: String.raw`(?=[{};])`,
    name: mile('meta.method.header'),
    beginCaptures: caps(kw('method'), mile('entity.name.function.method')),
    patterns: [
      inc('comments'),
      { match: String.raw`\bon\b`, name: kw('on') },
      parameterList(String.raw`\(`, whole(mile('punctuation.section.parens.begin'))),
      { match: `\\b${NAME}(?=\\s*\\(|\\s*(?:\\||\\{|$))`, name: mile('entity.name.type.module') },
      inc('expressions'),
    ],
  };
}

/** Statements and declarations, at the top level and in any `{ … }` body. */
function items(): Rule {
  const decl = (keyword: string, keywordScope: string, nameScope: string, after = ''): Rule => ({
    match: `\\b(${keyword})\\s+(${NAME})${after}`,
    captures: caps(keywordScope, nameScope),
  });
  return {
    patterns: [
      inc('comments'),
      {
        begin: String.raw`\b(use)\b`,
        end: String.raw`(?=#|//|;)|$`,
        beginCaptures: caps(kw('use')),
        patterns: [
          { match: `\\b${NAME}\\b`, name: mile('entity.name.namespace') },
          { match: String.raw`\.`, name: mile('punctuation.accessor') },
          { match: ',', name: mile('punctuation.separator.comma') },
          { match: String.raw`\S`, name: mile('invalid.illegal.character') },
        ],
      },
      decl('model', kw('model'), mile('entity.name.type.model')),
      decl('module', kw('module'), mile('entity.name.type.module')),
      {
        match: `\\b(tune)\\s+(${NAME})(?:\\s+(for)\\s+(${NAME}))?`,
        captures: caps(kw('tune'), mile('entity.name.type.tune'), kw('for'), mile('entity.name.type.model')),
      },
      inc('method-header'),
      entryBlock(['config'], () => kw('config'), mile('variable.other.constant.config')),
      entryBlock(BLOCK_WORDS, soft, mile('variable.other.property.setting')),
      inc('selectors'),
      { match: String.raw`\b(shared)(?=\s+param\b)`, name: soft('shared') },
      inc('param'),
      decl('input', kw('input'), mile('variable.other.member.input'), '(?=\\s*:)'),
      decl('let', kw('let'), mile('variable.other.local')),
      decl('output', soft('output'), mile('variable.other.local.output'), `(?=\\s*${ASSIGN})`),
      parameterList(
        String.raw`\b(?:(forward)|(rewrite))\s*(\()`,
        caps(kw('forward'), soft('rewrite'), mile('punctuation.section.parens.begin')),
      ),
      // A child: `attn = MultiHeadAttention(dim, heads)`, `blocks = repeat depth Block(dim)`.
      {
        match: `(?:^|(?<=[{;]))\\s*(${NAME})\\s*(${ASSIGN})`,
        captures: caps(mile('variable.other.member.child'), mile('keyword.operator.assignment')),
      },
      inc('expressions'),
    ],
  };
}

function expressions(): Rule {
  return {
    patterns: [
      inc('comments'),
      inc('strings'),
      inc('numbers'),
      inc('tensor-type'),
      { match: `\\b(hook)\\s+(${NAME})`, captures: caps(kw('hook'), mile('entity.name.function.hook')) },
      ...keywordRules(),
      inc('calls'),
      inc('operators'),
      inc('parens'),
      inc('brackets'),
      inc('block'),
      { match: `\\b${NAME}\\b`, name: mile('variable.other.readwrite') },
      // Anything else is a character the lexer rejects (`$`, `!`, a backtick).
      { match: String.raw`\S`, name: mile('invalid.illegal.character') },
    ],
  };
}

export function mileGrammar(): TmGrammar {
  const selectorSegments = selectors().patterns!;
  return {
    $schema: 'https://raw.githubusercontent.com/martinring/tmlanguage/master/tmlanguage.json',
    name: 'Mile',
    scopeName: 'source.mile',
    fileTypes: ['mile'],
    patterns: [inc('items')],
    repository: {
      items: items(),
      expressions: expressions(),
      comments: comments(),
      strings: strings(),
      numbers: numbers(),
      operators: operators(),
      calls: calls(),
      parens: parens(),
      brackets: brackets(),
      'tensor-type': tensorType(),
      block: block(),
      selectors: selectors(),
      'selector-segments': { patterns: selectorSegments },
      'method-header': methodHeader(),
      param: param(),
    },
  };
}

export const GRAMMAR_PATH = join(import.meta.dirname, 'mile.tmLanguage.json');

async function writeGrammar(): Promise<void> {
  const text = JSON.stringify(mileGrammar(), null, 2);
  const options = (await prettier.resolveConfig(GRAMMAR_PATH)) ?? {};
  writeFileSync(GRAMMAR_PATH, await prettier.format(text, { ...options, filepath: GRAMMAR_PATH }));
  process.stdout.write(`wrote ${GRAMMAR_PATH}\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await writeGrammar();
