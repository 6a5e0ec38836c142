/**
 * Re-breaking over-long lines for `formatMile(…, { width })`: the widest `( … )` list that opens
 * and closes on a line too long is split one element per line, the closer on a line of its own:
 *
 *     module BertLayer(                    text_encoder = BertModel(
 *       dim: int,                            vocab,
 *       heads: int,                          dim,
 *       cross: bool = false                  cross = true
 *     ) {                                  )
 *
 * (the grammar has no trailing commas). `formatMile` re-formats after each split, so the new
 * lines are indented by the usual rules, and repeats until no over-long line has a list left to split.
 */
import type { IToken } from 'chevrotain';
import * as T from './tokens.ts';

interface Group {
  open: IToken;
  close: IToken;
  /** Commas directly inside the group (not inside a bracket nested in it). */
  commas: IToken[];
}

/** Non-empty `(…)` groups that open and close on one line, by line. */
function groupsByLine(tokens: IToken[]): Map<number, Group[]> {
  const byLine = new Map<number, Group[]>();
  const open: { token: IToken; index: number; commas: IToken[] }[] = [];
  tokens.forEach((t, index) => {
    if (t.tokenType === T.LParen || t.tokenType === T.LBracket || t.tokenType === T.LBrace) open.push({ token: t, index, commas: [] });
    else if (t.tokenType === T.Comma) open[open.length - 1]?.commas.push(t);
    else if (t.tokenType === T.RParen || t.tokenType === T.RBracket || t.tokenType === T.RBrace) {
      const g = open.pop();
      if (g && t.tokenType === T.RParen && g.token.startLine === t.startLine && index > g.index + 1) {
        const line = t.startLine ?? 0;
        byLine.set(line, [...(byLine.get(line) ?? []), { open: g.token, close: t, commas: g.commas }]);
      }
    }
  });
  return byLine;
}

/**
 * `text` with every over-long line split once (before its chain operators, else at its widest
 * outermost list), or undefined when no over-long line can be split. Lines split this round
 * that are still too long are split again on the next.
 */
export function breakLongLines(text: string, width: number): string | undefined {
  const lines = text.split('\n');
  const tokens = T.mileLexer.tokenize(text).tokens;
  const groups = groupsByLine(tokens);
  const cuts: number[] = [];
  for (let i = 0; i < lines.length; i++) {
    if ([...lines[i]!].length <= width) continue;
    const ops = chainOperators(tokens, i + 1);
    if (ops.length) {
      cuts.push(...ops.map((t) => t.startOffset));
      continue;
    }
    const candidates = groups.get(i + 1) ?? [];
    // Outermost groups only: an inner list is split on a later round if its line is still too long.
    const outer = candidates.filter(
      (g) => !candidates.some((h) => h !== g && h.open.startOffset < g.open.startOffset && h.close.startOffset > g.close.startOffset),
    );
    if (!outer.length) continue;
    const widest = outer.reduce((a, b) => (b.close.startOffset - b.open.startOffset > a.close.startOffset - a.open.startOffset ? b : a));
    cuts.push(widest.open.endOffset! + 1, ...widest.commas.map((c) => c.endOffset! + 1), widest.close.startOffset);
  }
  return cuts.length ? insertBreaks(text, cuts) : undefined;
}

function insertBreaks(text: string, offsets: number[]): string {
  let out = text;
  for (const at of [...offsets].sort((a, b) => b - a)) out = out.slice(0, at) + '\n' + out.slice(at);
  return out;
}

const VALUE_ENDS = new Set([T.Identifier, T.NumberLit, T.StringLit, T.RParen, T.RBracket, T.Transpose, T.True, T.False, T.None]);
const CHAIN_OPS = new Set([T.Plus, T.Minus, T.And, T.Or]);

/**
 * The binary `+ - and or` of line `line` that are not inside a `( … )` or `[ … ]` opened on that
 * line (a one-line block's `{` does not count), at the shallowest such depth: a long sum is
 * broken before each of them, and the continuation lines indent one level.
 */
function chainOperators(tokens: IToken[], line: number): IToken[] {
  const open: IToken[] = [];
  const found: { op: IToken; depth: number }[] = [];
  tokens.forEach((t, k) => {
    const prev = tokens[k - 1];
    if (t.startLine === line && CHAIN_OPS.has(t.tokenType) && prev && VALUE_ENDS.has(prev.tokenType) && prev.startLine === line) {
      const inList = open.some((o) => o.startLine === line && o.tokenType !== T.LBrace);
      if (!inList) found.push({ op: t, depth: open.length });
    }
    if (t.tokenType === T.LParen || t.tokenType === T.LBracket || t.tokenType === T.LBrace) open.push(t);
    else if (t.tokenType === T.RParen || t.tokenType === T.RBracket || t.tokenType === T.RBrace) open.pop();
  });
  const shallowest = Math.min(...found.map((f) => f.depth));
  return found.filter((f) => f.depth === shallowest).map((f) => f.op);
}
