/** The outline of a document (models, modules, tunes, methods and what they hold) and its semantic tokens. */
import { type DocumentSymbol, SymbolKind, type SemanticTokensLegend } from 'vscode-languageserver';
import type { IToken } from 'chevrotain';
import type { MileFile, TopDecl } from '../grammar/ast.ts';
import * as T from '../grammar/tokens.ts';
import type { Span } from '../core/span.ts';
import { selectorText } from '../compiler/sema/select.ts';
import type { Occurrence, Role } from './occurrences.ts';
import { toRange } from './positions.ts';

const symbol = (
  name: string,
  kind: SymbolKind,
  span: Span,
  nameSpan: Span,
  detail?: string,
  children: DocumentSymbol[] = [],
): DocumentSymbol => ({
  name: name || '?',
  kind,
  range: toRange(span),
  selectionRange: toRange(nameSpan),
  ...(detail ? { detail } : {}),
  children,
});

export function documentSymbols(file: MileFile): DocumentSymbol[] {
  return file.decls.flatMap((d) => declSymbols(d));
}

function declSymbols(d: TopDecl): DocumentSymbol[] {
  switch (d.kind) {
    case 'use':
      return d.paths.map((p) => symbol(p.parts.join('.'), SymbolKind.Namespace, p.span, p.span, 'use'));
    case 'module':
    case 'model': {
      const children: DocumentSymbol[] = [];
      if (d.kind === 'module')
        for (const a of d.args) children.push(symbol(a.name.name, SymbolKind.TypeParameter, a.span, a.name.span, a.type));
      for (const item of d.items) {
        if (item.kind === 'config')
          for (const e of item.entries) children.push(symbol(e.name.name, SymbolKind.Constant, e.span, e.name.span, 'config'));
        else if (item.kind === 'input') children.push(symbol(item.name.name, SymbolKind.Variable, item.span, item.name.span, 'input'));
        else if (item.kind === 'param') children.push(symbol(item.name.name, SymbolKind.Property, item.span, item.name.span, 'param'));
        else if (item.kind === 'child')
          children.push(symbol(item.name.name, SymbolKind.Field, item.span, item.name.span, item.module.name));
        else if (item.kind === 'forward') {
          const values = item.body.stmts.flatMap((s) =>
            s.kind === 'loss' ? [] : [symbol(s.name.name, SymbolKind.Variable, s.span, s.name.span, s.kind)],
          );
          children.push(
            symbol(
              'forward',
              SymbolKind.Method,
              item.span,
              { ...item.span, endLine: item.span.line, endCol: item.span.col + 7 },
              undefined,
              values,
            ),
          );
        }
      }
      return [symbol(d.name.name, d.kind === 'module' ? SymbolKind.Class : SymbolKind.Module, d.span, d.name.span, d.kind, children)];
    }
    case 'tune': {
      const children = d.items.flatMap((i) => {
        if (i.kind === 'optimizer') return [symbol('optimizer', SymbolKind.Object, i.span, i.span)];
        const label = i.kind === 'apply' ? i.method.name : i.kind;
        return [
          symbol(
            `${label} ${i.selectors.map(selectorText).join(', ')}`,
            i.kind === 'apply' ? SymbolKind.Function : SymbolKind.Event,
            i.span,
            i.span,
          ),
        ];
      });
      return [symbol(d.name.name, SymbolKind.Interface, d.span, d.name.span, `tune for ${d.model.name}`, children)];
    }
    case 'method': {
      const children = d.options.map((o) => symbol(o.name.name, SymbolKind.TypeParameter, o.span, o.name.span, o.type));
      for (const i of d.items)
        if (i.kind === 'param')
          children.push(symbol(i.name.name, SymbolKind.Property, i.span, i.name.span, i.shared ? 'shared param' : 'param'));
      return [
        symbol(
          d.name.name,
          SymbolKind.Function,
          d.span,
          d.name.span,
          `method on ${d.sites.map((s) => s.module.name).join(' | ')}`,
          children,
        ),
      ];
    }
  }
}

// ---------------------------------------------------------------- semantic tokens

const TOKEN_TYPES = [
  'namespace',
  'type',
  'function',
  'method',
  'variable',
  'parameter',
  'property',
  'decorator',
  'typeParameter',
  'keyword',
  'number',
  'string',
  'comment',
  'operator',
] as const;
const TOKEN_MODIFIERS = ['declaration', 'defaultLibrary'] as const;

export const semanticTokensLegend: SemanticTokensLegend = { tokenTypes: [...TOKEN_TYPES], tokenModifiers: [...TOKEN_MODIFIERS] };

type TokenType = (typeof TOKEN_TYPES)[number];

/** `output`, `rewrite`, `shared`, and the block words `weights { … }` and `optimizer { … }`, where they start what they name. */
function isSoftKeyword(t: IToken, next: IToken | undefined): boolean {
  if ((T.SOFT_KEYWORDS as readonly string[]).includes(t.image)) return true;
  return (t.image === 'weights' || t.image === 'optimizer') && next?.image === '{';
}

/**
 * Semantic tokens (LSP's relative encoding) of `text`: keywords, numbers, strings and comments from
 * the lexer; names coloured by what they resolve to (`occurrences`), the rest as variables.
 */
export function semanticTokens(text: string, occurrences: readonly Occurrence[]): number[] {
  const lexed = T.mileLexer.tokenize(text);
  const byStart = new Map<string, Occurrence>();
  for (const o of occurrences) byStart.set(`${o.span.line}:${o.span.col}`, o);
  // A `use` path (`std.nn`) is one occurrence over several tokens.
  const paths = occurrences.filter((o) => o.role === 'namespace' && o.name.includes('.'));
  const inPath = (t: IToken) =>
    paths.find((o) => o.span.line === t.startLine && o.span.col <= t.startColumn! && t.endColumn! < o.span.endCol);
  const tokens: { line: number; col: number; length: number; type: TokenType; mods: number }[] = [];
  const push = (t: IToken, type: TokenType, mods = 0) => {
    if (t.startLine === undefined || t.startColumn === undefined) return;
    const lines = t.image.split('\n');
    lines.forEach((l, i) => tokens.push({ line: t.startLine! + i, col: i === 0 ? t.startColumn! : 1, length: l.length, type, mods }));
  };
  lexed.tokens.forEach((t, i) => {
    const o = byStart.get(`${t.startLine}:${t.startColumn}`);
    if (o) return push(t, o.role as Role, (o.isDecl ? 1 : 0) | (o.builtin ? 2 : 0));
    if (t.tokenType === T.Identifier && inPath(t)) return push(t, 'namespace');
    if (T.keywordTokenTypes.has(t.tokenType)) push(t, 'keyword');
    else if (t.tokenType === T.NumberLit || t.tokenType === T.BadNumber) push(t, 'number');
    else if (t.tokenType === T.StringLit || t.tokenType === T.UnterminatedString) push(t, 'string');
    else if (t.tokenType === T.Identifier) push(t, isSoftKeyword(t, lexed.tokens[i + 1]) ? 'keyword' : 'variable');
  });
  for (const c of (lexed.groups['comments'] ?? []) as IToken[]) push(c, 'comment');
  tokens.sort((a, b) => a.line - b.line || a.col - b.col);
  const data: number[] = [];
  let prevLine = 1;
  let prevCol = 1;
  for (const t of tokens) {
    if (t.length === 0) continue;
    const dl = t.line - prevLine;
    data.push(dl, dl === 0 ? t.col - prevCol : t.col - 1, t.length, TOKEN_TYPES.indexOf(t.type), t.mods);
    prevLine = t.line;
    prevCol = t.col;
  }
  return data;
}
