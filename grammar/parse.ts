/**
 * The parser's entry point: text → `MileFile` + diagnostics. Never throws.
 *
 * - Lexer errors and the lexer's error tokens (`1.2.3`, an unterminated string) become `lex` diagnostics.
 * - Parser errors become `parse` diagnostics whose messages are written here, per grammar rule,
 *   as "expected X, found Y" (chevrotain's own messages list every lookahead path and are unreadable).
 * - Stray input at top level is skipped up to the next `use`/`module`/`model`/`tune`/`method`, and parsing resumes.
 */
import type { IParserErrorMessageProvider, IRecognitionException, IToken, TokenType } from 'chevrotain';
import { EOF, tokenMatcher } from './chevrotain.ts';
import type { MileFile, TopDecl } from './ast.ts';
import { MileParser } from './parser.ts';
import { AstBuilder, tokenSpan } from './to-ast.ts';
import * as T from './tokens.ts';
import { error, type Diagnostic, type Related } from '../core/diagnostic.ts';
import type { Span } from '../core/span.ts';

export interface ParseResult {
  readonly ast: MileFile;
  readonly diagnostics: Diagnostic[];
}

/**
 * A parser for `.mile` text. Building one analyses the whole grammar (about 135 ms), so a
 * process keeps one: a language server or a compiler session holds its own and passes it
 * along; callers that pass none share `MileSyntax.shared`. After construction it holds no
 * state between parses (each parse sets its input and reads its errors synchronously).
 */
export class MileSyntax {
  private static sharedSyntax: MileSyntax | undefined;
  private readonly parser = new MileParser(messages);

  /** The instance used when the caller brings none, built on first use. */
  static get shared(): MileSyntax {
    return (MileSyntax.sharedSyntax ??= new MileSyntax());
  }

  parse(text: string, file: string): ParseResult {
    return parseMile(text, file, this);
  }

  /** @internal the chevrotain parser, for `parseMile`. */
  get cstParser(): MileParser {
    return this.parser;
  }
}

export function parseMile(text: string, file: string, syntax: MileSyntax = MileSyntax.shared): ParseResult {
  try {
    return parseInner(text, file, syntax.cstParser);
  } catch (e) {
    // A bug in the parser, not in the user's file: still report it as a diagnostic.
    const span: Span = { file, line: 1, col: 1, endLine: 1, endCol: 1 };
    const msg = e instanceof Error ? e.message : String(e);
    return { ast: { file, decls: [], span: fileSpan(text, file) }, diagnostics: [error('parse', `internal parser error: ${msg}`, span)] };
  }
}

// ---------------------------------------------------------------- messages

/** What the message provider hands back through chevrotain: a JSON-encoded message. */
interface Encoded {
  m: string;
  help?: string;
  /** The closing delimiter that was expected, so the opener can be pointed at. */
  closer?: string;
  /** Point at the token after the one the parser stopped at (it stopped at `rewrite` in `rewrite {`). */
  next?: boolean;
}

const enc = (m: string, extra: Omit<Encoded, 'm'> = {}): string => JSON.stringify({ m, ...extra });

function decode(message: string): Encoded {
  try {
    const v: unknown = JSON.parse(message);
    if (v && typeof v === 'object' && typeof (v as Encoded).m === 'string') return v as Encoded;
  } catch {
    /* fall through */
  }
  return { m: message.split('\n')[0] ?? message };
}

function isEof(t: IToken | undefined): boolean {
  return t === undefined || t.tokenType === EOF;
}

function found(t: IToken | undefined): string {
  if (isEof(t)) return 'end of input';
  if (T.keywordTokenTypes.has(t!.tokenType)) return `keyword \`${t!.image}\``;
  return `\`${t!.image}\``;
}

function label(tt: TokenType): string {
  return tt.LABEL ?? tt.name;
}

function after(prev: IToken | undefined): string {
  return prev && prev.image && !isEof(prev) ? ` after \`${prev.image}\`` : '';
}

const is = (t: IToken | undefined, tt: TokenType): boolean => t !== undefined && !isEof(t) && tokenMatcher(t, tt);

/** Tokens that can begin an expression (or a list item). */
const EXPR_START = [
  T.NumberLit,
  T.BadNumber,
  T.StringLit,
  T.UnterminatedString,
  T.True,
  T.False,
  T.None,
  T.Identifier,
  T.LParen,
  T.LBracket,
  T.Minus,
  T.Not,
];
const canStartExpr = (t: IToken | undefined): boolean => EXPR_START.some((tt) => is(t, tt));
const TOP_KEYWORDS = [T.Use, T.Module, T.Model, T.Tune, T.Method];
const TOP_LEVEL = 'expected `use`, `module`, `model`, `tune` or `method`';

const reservedHelp = (t: IToken | undefined): { help?: string } =>
  t && T.keywordTokenTypes.has(t.tokenType) ? { help: `\`${t.image}\` is a reserved word and cannot be used as a name` } : {};

const CLOSE: Record<string, { what: string; item?: string }> = {
  argList: { what: 'the argument list', item: 'an argument' },
  moduleParams: { what: 'the parameter list', item: 'a parameter' },
  forwardParams: { what: 'the parameter list', item: 'a parameter' },
  parenExpr: { what: 'the parenthesized expression' },
  indexSuffix: { what: 'the index', item: 'an index' },
  listExpr: { what: 'the list', item: 'a list item' },
  tensorType: { what: 'the shape', item: 'a dimension' },
  selectorRange: { what: 'the selector index' },
  selectorAlt: { what: 'the alternatives', item: 'an alternative' },
  block: { what: 'the block' },
  configDecl: { what: 'the config block' },
  moduleDecl: { what: 'the module body' },
  modelDecl: { what: 'the model body' },
  tuneDecl: { what: 'the tune body' },
  methodDecl: { what: 'the method body' },
  methodOptions: { what: 'the option list', item: 'an option' },
  methodSite: { what: 'the site bindings', item: 'a site binding' },
  rewriteDecl: { what: 'the input list', item: 'an input' },
  methodHook: { what: 'the hook input' },
  rewriteBody: { what: 'the rewrite body' },
  hookBody: { what: 'the hook body' },
};

const BODY_ITEMS: Record<string, string> = {
  moduleDecl: 'a module item (`param`, `name = Module(...)`, `forward`)',
  modelDecl: 'a model item (`config`, `input`, `param`, `name = Module(...)`, `forward`)',
  tuneDecl: '`train`, `freeze`, `method(...) on selector`',
  configDecl: 'a config entry `name = value`',
  methodDecl: 'a method item (`param`, `shared param`, `rewrite(...)`, `hook NAME(...)`)',
};

const METHOD_ITEM_HELP =
  "a method adds `param`s and computes the site's output in `rewrite(inputs) { ... }`, calling `base(inputs)` for the original";

/** A token the parser expected but did not find, with what came before, in which rule. */
interface Mismatch {
  expected: TokenType;
  actual: IToken;
  prev: IToken | undefined;
  rule: string;
  /** The actual token, as the messages name it. */
  foundText: string;
  /** The previous token's text, which many messages quote. */
  prevText: string;
}

function mismatch(expected: TokenType, actual: IToken, prev: IToken | undefined, rule: string): string {
  const f = found(actual);
  if (expected === EOF) return enc(`${TOP_LEVEL} at top level, found ${f}`);
  if (is(actual, T.CmpOp)) {
    return enc(`comparisons cannot be chained, found a second comparison \`${actual.image}\``, {
      help: 'combine them with `and`: `a < b and b < c`',
    });
  }
  // Each helper knows one family of expected tokens and answers undefined for the others.
  const m: Mismatch = { expected, actual, prev, rule, foundText: f, prevText: prev?.image ?? '' };
  return (
    listOrCloserMismatch(m) ??
    nameMismatch(m) ??
    separatorMismatch(m) ??
    keywordMismatch(m) ??
    openerMismatch(m) ??
    enc(`expected ${label(expected)}, found ${f}`)
  );
}

/** Inside a list or a body: a missing separator, an item where none may stand, or a missing closing delimiter. */
function listOrCloserMismatch({ expected, actual, prev, rule, foundText: f }: Mismatch): string | undefined {
  if (expected === T.RParen && (rule === 'methodSite' || rule === 'methodOptions') && is(prev, T.LParen) && !isEof(actual)) {
    const what = rule === 'methodSite' ? 'the name of a site argument, parameter or child' : 'an option `name: type = default`';
    return enc(`expected \`)\` or ${what}, found ${f}`, reservedHelp(actual));
  }
  if (expected === T.RParen && rule === 'rewriteDecl' && is(actual, T.Colon)) {
    return enc(`expected \`,\` or \`)\` after an input, found \`:\``, {
      help: "rewrite inputs are plain names: the site's forward already types them",
    });
  }
  const closer = expected === T.RParen ? ')' : expected === T.RBracket ? ']' : expected === T.RBrace ? '}' : undefined;
  if (closer) {
    const ctx = CLOSE[rule];
    if (ctx?.item && canStartExpr(actual)) return enc(`expected \`,\` or \`${closer}\` after ${ctx.item}, found ${f}`);
    const body = BODY_ITEMS[rule];
    if (body && !isEof(actual) && !TOP_KEYWORDS.some((tt) => is(actual, tt))) {
      return enc(`expected ${body} or \`}\`, found ${f}`, rule === 'methodDecl' ? { help: METHOD_ITEM_HELP } : {});
    }
    return enc(`expected \`${closer}\` to close ${ctx?.what ?? 'the group'}, found ${f}`, { closer });
  }
  return undefined;
}

/** A name was expected: which name, by rule. */
function nameMismatch({ expected, actual, prev, rule, foundText: f }: Mismatch): string | undefined {
  if (expected === T.Identifier || (expected === T.Name && rule !== 'postfixOp' && rule !== 'arg')) {
    const what: Record<string, string> = {
      letStmt: 'a name after `let`',
      outputStmt: 'a name after `output`',
      moduleDecl: 'a module name after `module`',
      modelDecl: 'a model name after `model`',
      tuneDecl: is(prev, T.For) ? 'a model name after `for`' : 'a tune name after `tune`',
      paramDecl: 'a parameter name after `param`',
      inputDecl: 'an input name after `input`',
      moduleParam: 'a parameter name',
      forwardParam: 'a parameter name',
      modulePath: 'a module name' + after(prev),
      moduleCall: is(prev, T.Dot) ? 'a name after `.`' : 'a module name, as in `Linear(dim, dim)`',
      initCall: 'an initializer such as `zeros` or `normal(0, 0.02)`' + after(prev),
      configEntry: 'a config entry `name = value`',
      childDecl: 'a name',
      tuneItem: 'a method name',
      methodDecl: 'a method name after `method`',
      methodSite: is(prev, T.Pipe) ? 'a site module type after `|`' : 'a site module type after `on`, such as `Linear(in, out)`',
      methodOption: 'an option name',
      methodHook: is(prev, T.LParen) ? 'a name for the hooked tensor' : 'a hook name after `hook`',
      rewriteDecl: 'an input name',
    };
    return enc(`expected ${what[rule] ?? 'a name'}, found ${f}`, reservedHelp(actual));
  }
  if (expected === T.Name) {
    const where = rule === 'postfixOp' ? 'a member name after `.`' : rule === 'arg' ? 'an argument name' : 'a name';
    return enc(`expected ${where}, found ${f}`);
  }
  return undefined;
}

/** `=` or `:` was expected after a name. */
function separatorMismatch({ expected, rule, foundText: f, prevText: p }: Mismatch): string | undefined {
  if (expected === T.Equals) {
    const what: Record<string, string> = {
      configEntry: `\`=\` after config entry \`${p}\``,
      letStmt: `\`=\` after \`let ${p}\``,
      outputStmt: `\`=\` after \`output ${p}\``,
      childDecl: `\`=\` after \`${p}\` (a child is declared \`name = Module(args)\`)`,
    };
    return enc(`expected ${what[rule] ?? '`=`'}, found ${f}`);
  }
  if (expected === T.Colon) {
    const what: Record<string, string> = {
      paramDecl: `\`:\` and a tensor type after parameter \`${p}\``,
      inputDecl: `\`:\` and a tensor type after input \`${p}\``,
      moduleParam: `\`:\` and a type (\`int\`, \`float\` or \`bool\`) after parameter \`${p}\``,
      methodOption: `\`:\` and a type (\`int\`, \`float\` or \`bool\`) after option \`${p}\``,
    };
    return enc(`expected ${what[rule] ?? '`:`'}, found ${f}`);
  }
  return undefined;
}

/** A keyword (`for`, `on`, `param`) was expected. */
function keywordMismatch({ expected, prev, rule, foundText: f, prevText: p }: Mismatch): string | undefined {
  if (expected === T.For)
    return enc(`expected \`for\` and a model name after \`tune ${p}\`, found ${f}`, { help: 'write `tune NAME for MODEL { ... }`' });
  if (expected === T.On && rule === 'methodDecl') {
    return enc(`expected \`on\` and the site type the method attaches to, such as \`on Linear(in, out)\`, found ${f}`, {
      help: 'write `method NAME(options) on SITE(names) { ... }`',
    });
  }
  if (expected === T.Param && rule === 'paramDecl' && prev?.image === 'shared')
    return enc(`expected \`param\` after \`shared\`, found ${f}`);
  if (expected === T.On)
    return enc(`expected \`on\` and a selector after the method's arguments, found ${f}`, {
      help: 'write `method(args) on selector, ...`',
    });
  return undefined;
}

/** An opening delimiter (or a selector's index) was expected. */
function openerMismatch({ expected, actual, prev, rule, foundText: f, prevText: p }: Mismatch): string | undefined {
  if (expected === T.LBrace) {
    const what: Record<string, string> = {
      moduleDecl: 'to start the module body',
      modelDecl: 'to start the model body',
      tuneDecl: 'to start the tune body',
      configDecl: 'after `config`',
      block: 'to start the forward body',
      methodDecl: 'to start the method body',
      rewriteBody: 'to start the rewrite body',
      hookBody: 'to start the hook body',
    };
    const help =
      rule === 'modelDecl' && is(actual, T.LParen) ? { help: 'a model takes no parameters; put constants in `config { ... }`' } : {};
    return enc(`expected \`{\` ${what[rule] ?? ''}, found ${f}`.replace('  ', ' '), help);
  }
  if (expected === T.LParen && rule === 'rewriteDecl') {
    return enc(`expected \`(\` and names for the site's inputs after \`rewrite\`, found ${f}`, {
      help: 'write `rewrite(x) { base(x) ... }`',
    });
  }
  if (expected === T.LParen && rule === 'methodHook') {
    return enc(`expected \`(\` and a name for the hooked tensor after \`hook ${p}\`, found ${f}`, { help: 'write `hook keys(k) { ... }`' });
  }
  if (expected === T.LParen && rule === 'argList') {
    return enc(`expected \`(\`${after(prev)}, found ${f}`, { help: p ? `write \`${p}()\` when there are no arguments` : '' });
  }
  if (expected === T.LBracket && rule === 'tensorType') {
    return enc(`expected \`[\` and a shape${after(prev)}, found ${f}`, { help: 'a tensor type looks like `f32[B, dim]`' });
  }
  if (expected === T.NumberLit && rule === 'selectorRange') return enc(`expected an integer index in \`[...]\`, found ${f}`);
  return undefined;
}

const EXPR_RULES = new Set([
  'expression',
  'orExpr',
  'andExpr',
  'notExpr',
  'comparison',
  'additive',
  'multiplicative',
  'unary',
  'postfix',
  'primary',
  'dim',
]);

function noViableAlt(paths: TokenType[][][], actual: IToken | undefined, prev: IToken | undefined, rule: string, next?: IToken): string {
  const f = found(actual);
  if (rule === 'methodDecl')
    return enc(`expected a site module type after \`${prev?.image ?? 'on'}\`, such as \`Linear(in, out)\`, found ${f}`);
  if (rule === 'methodItem' && actual?.image === 'rewrite' && !is(next, T.LParen)) {
    return enc(`expected \`(\` and names for the site's inputs after \`rewrite\`, found ${found(next)}`, {
      help: 'write `rewrite(x) { base(x) ... }`',
      next: true,
    });
  }
  if (rule === 'methodItem' && actual?.image === 'shared' && !is(next, T.Param))
    return enc(`expected \`param\` after \`shared\`, found ${found(next)}`, { next: true });
  if (rule === 'selectorSeg' || rule === 'selectorList' || rule === 'selector') {
    return enc(`expected a selector${after(prev)}, found ${f}`, {
      help: 'a selector is a dotted path of names, `*`, `**`, `{a, b}` and `[i]`/`[a..b]`, e.g. `blocks[0..2].*.query`',
    });
  }
  if (rule === 'dtype') {
    if (is(actual, T.Identifier) && /^[a-z]+\d+$/.test(actual!.image)) {
      return enc(`unknown tensor type \`${actual!.image}\`: expected \`f32\` or \`i32\``);
    }
    const where = is(prev, T.Arrow) ? 'a return type after `->`' : `a tensor type${after(prev)}`;
    return enc(`expected ${where}, such as \`f32[B, dim]\`, found ${f}`);
  }
  if (rule === 'scalarType') {
    const help =
      is(actual, T.F32) || is(actual, T.I32) ? { help: 'module parameters are scalars; tensors are passed to `forward(...)`' } : {};
    return enc(`expected a type \`int\`, \`float\` or \`bool\`${after(prev)}, found ${f}`, help);
  }
  if (rule === 'indexItem' || rule === 'indexSuffix')
    return enc(`expected an index, a slice (\`a:b\`) or \`...\`${after(prev)}, found ${f}`);
  if (rule === 'dim' && !canStartExpr(actual)) return enc(`expected a dimension (a name, a number or \`...\`)${after(prev)}, found ${f}`);
  if (EXPR_RULES.has(rule) || rule === 'arg') return enc(`expected an expression${after(prev)}, found ${f}`);
  if (rule === 'childDecl')
    return enc(`expected a module call such as \`Linear(dim, dim)\` or \`repeat N Module(...)\`${after(prev)}, found ${f}`);
  if (rule === 'useDecl' || rule === 'modulePath') return enc(`expected a module path such as \`std.nn\`${after(prev)}, found ${f}`);
  if (rule === 'file' || rule === 'topDecl') return enc(`${TOP_LEVEL}, found ${f}`);
  if (rule === 'methodItem') {
    return enc(`expected ${BODY_ITEMS.methodDecl} or \`}\`, found ${f}`, { help: METHOD_ITEM_HELP });
  }
  const firsts = [
    ...new Set(
      paths
        .flat()
        .map((p) => p[0])
        .filter((t): t is TokenType => t !== undefined)
        .map(label),
    ),
  ];
  const list = firsts.length <= 1 ? (firsts[0] ?? 'more input') : `${firsts.slice(0, -1).join(', ')} or ${firsts[firsts.length - 1]}`;
  return enc(`expected ${list}${after(prev)}, found ${f}`);
}

const messages: IParserErrorMessageProvider = {
  buildMismatchTokenMessage: ({ expected, actual, previous, ruleName }) => mismatch(expected, actual, previous, ruleName),
  buildNotAllInputParsedMessage: ({ firstRedundant }) => enc(`${TOP_LEVEL} at top level, found ${found(firstRedundant)}`),
  buildNoViableAltMessage: ({ expectedPathsPerAlt, actual, previous, ruleName }) =>
    noViableAlt(expectedPathsPerAlt, actual[0], previous, ruleName, actual[1]),
  buildEarlyExitMessage: ({ expectedIterationPaths, actual, previous, ruleName }) =>
    noViableAlt([expectedIterationPaths], actual[0], previous, ruleName),
};

// ---------------------------------------------------------------- the pipeline

function parseInner(text: string, file: string, parser: MileParser): ParseResult {
  const diagnostics: Diagnostic[] = [];
  const lexed = T.mileLexer.tokenize(text);
  const tokens = lexed.tokens;

  for (const e of lexed.errors) {
    const chars = text.slice(e.offset, e.offset + e.length);
    const line = e.line ?? 1;
    const col = e.column ?? 1;
    const span: Span = { file, line, col, endLine: line, endCol: col + Math.max(1, e.length) };
    const what = chars.length === 1 ? `unexpected character \`${chars}\`` : `unexpected characters \`${chars}\``;
    const help =
      chars === '!'
        ? { help: 'use `not` for negation and `!=` for inequality' }
        : chars === "'"
          ? { help: 'strings use double quotes' }
          : {};
    diagnostics.push(error('lex', what, span, help));
  }
  for (const t of tokens) {
    if (t.tokenType === T.BadNumber) diagnostics.push(error('lex', `malformed number \`${t.image}\``, tokenSpan(t, file)!));
    if (t.tokenType === T.UnterminatedString) {
      diagnostics.push(
        error('lex', 'unterminated string: missing closing `"`', tokenSpan(t, file)!, { help: 'strings must end on the line they start' }),
      );
    }
  }

  const endSpan = endOfInput(tokens, file);
  const builder = new AstBuilder(file, diagnostics);
  const decls: TopDecl[] = [];
  let start = 0;
  for (;;) {
    const slice = tokens.slice(start);
    parser.input = slice;
    const cst = parser.file();
    let resume = -1;
    // An error reported past the token the parser stopped at (`rewrite {`) explains that token;
    // the follow-on error at the same token is noise.
    const explained = new Set<IToken>();
    for (const err of parser.errors) {
      if (explained.has(err.token)) continue;
      if (decode(err.message).next) explained.add(err.token);
      diagnostics.push(toDiagnostic(err, tokens, file, endSpan));
      if (err.name === 'NotAllInputParsedException') {
        const at = slice.indexOf(err.token);
        const next = slice.findIndex((t, i) => i > at && TOP_KEYWORDS.some((tt) => t.tokenType === tt));
        resume = next < 0 ? -1 : start + next;
      }
    }
    decls.push(...builder.decls(cst));
    if (resume < 0) break;
    start = resume;
  }

  return { ast: { file, decls, span: fileSpan(text, file) }, diagnostics: sortAndDedupe(diagnostics) };
}

function toDiagnostic(err: IRecognitionException, tokens: IToken[], file: string, endSpan: Span): Diagnostic {
  const { m, help, closer, next } = decode(err.message);
  const at = next && !isEof(err.token) ? (tokens[tokens.indexOf(err.token) + 1] ?? err.token) : err.token;
  const span = isEof(at) ? endSpan : (tokenSpan(at, file) ?? endSpan);
  const extra: { help?: string; related?: Related[] } = {};
  if (help) extra.help = help;
  if (closer) {
    const opener = findOpener(tokens, err.token, closer);
    const os = opener && tokenSpan(opener, file);
    if (os) extra.related = [{ span: os, message: `\`${opener!.image}\` opened here` }];
  }
  return error('parse', m, span, extra);
}

/** The unmatched opening delimiter before `at`, scanning back and balancing only that kind. */
function findOpener(tokens: IToken[], at: IToken, closer: string): IToken | undefined {
  const open = closer === ')' ? T.LParen : closer === ']' ? T.LBracket : T.LBrace;
  const close = closer === ')' ? T.RParen : closer === ']' ? T.RBracket : T.RBrace;
  let i = isEof(at) ? tokens.length : tokens.indexOf(at);
  if (i < 0) i = tokens.length;
  let depth = 0;
  for (let j = i - 1; j >= 0; j--) {
    const t = tokens[j]!;
    if (t.tokenType === close) depth++;
    else if (t.tokenType === open) {
      if (depth === 0) return t;
      depth--;
    }
  }
  return undefined;
}

/** The position just after the last token (1:1 for an empty file). */
function endOfInput(tokens: IToken[], file: string): Span {
  const last = tokens[tokens.length - 1];
  if (!last) return { file, line: 1, col: 1, endLine: 1, endCol: 2 };
  const line = last.endLine ?? last.startLine ?? 1;
  const col = (last.endColumn ?? 0) + 1;
  return { file, line, col, endLine: line, endCol: col + 1 };
}

function fileSpan(text: string, file: string): Span {
  const lines = text.split(/\r?\n/);
  return { file, line: 1, col: 1, endLine: lines.length, endCol: (lines[lines.length - 1]?.length ?? 0) + 1 };
}

/**
 * By position (stable). A parse error on a line that already has an error is dropped: after the first
 * error, recovery often mis-reads the rest of that line, and those follow-on messages only mislead.
 * Lexical errors are always kept.
 */
function sortAndDedupe(ds: Diagnostic[]): Diagnostic[] {
  const sorted = ds
    .map((d, i) => ({ d, i }))
    .sort((a, b) => a.d.span.line - b.d.span.line || a.d.span.col - b.d.span.col || a.i - b.i)
    .map((x) => x.d);
  const linesWithErrors = new Set<number>();
  const seen = new Set<string>();
  return sorted.filter((d) => {
    const key = `${d.span.line}:${d.span.col}`;
    if (seen.has(key)) return false;
    if (d.code === 'parse' && linesWithErrors.has(d.span.line)) return false;
    seen.add(key);
    linesWithErrors.add(d.span.line);
    return true;
  });
}
