/**
 * Column alignment for `formatMile` (see `format.ts`): the `=` of consecutive child
 * declarations, the type column (and, when the types are of similar width, the `=`) of
 * consecutive `param` / `input` lines, and trailing comments of consecutive lines.
 */
import type { IToken } from 'chevrotain';

/** What an alignable line starts, and the tokens whose columns line up across a run. */
export type AlignKind = { kind: 'child'; eq: IToken } | { kind: 'param' | 'input'; type: IToken; eq?: IToken };

/** One token of a line and the space before it (which alignment widens). */
export interface Piece {
  token: IToken;
  text: string;
  before: string;
}

export interface RenderedLine {
  indent: string;
  pieces: Piece[];
  comment?: string;
  align?: AlignKind;
  /** The innermost bracket open at the line's start: runs never cross blocks. */
  block?: IToken;
  blankBefore: boolean;
  /** Spaces between the code and a trailing comment (default two). */
  commentGap?: string;
}

/**
 * Initialisers line up only when no type in the run is more than this much narrower than the
 * widest: `f32[out, in] = …` over `f32[out]     = …` (std.nn's Linear), but not a `f32[out]`
 * padded out to a 28-character conv filter type (std.vit's Conv2d) or a 5-wide gap (docs' Norm).
 */
const MAX_INIT_PAD = 4;

function width(s: string): number {
  return [...s].length;
}

/** Width of the line up to the end of piece `j - 1` (where piece j's `before` starts). */
function columnBefore(line: RenderedLine, j: number): number {
  let w = width(line.indent);
  for (let i = 0; i < j; i++) w += width(line.pieces[i]!.before) + width(line.pieces[i]!.text);
  return w;
}

function indexOf(line: RenderedLine, token: IToken | undefined): number {
  return token ? line.pieces.findIndex((p) => p.token === token) : -1;
}

/** Pads the `before` of each line's chosen piece so they all start in one column; `limit` caps the widest pad. */
function alignColumn(run: RenderedLine[], pick: (l: RenderedLine) => IToken | undefined, limit = Infinity): void {
  const at = run.map((l) => ({ l, j: indexOf(l, pick(l)) })).filter((x) => x.j > 0);
  if (at.length < 2) return;
  const cols = at.map(({ l, j }) => columnBefore(l, j));
  const target = Math.max(...cols);
  if (Math.max(...cols.map((c) => target - c)) > limit) return;
  at.forEach(({ l, j }, i) => {
    l.pieces[j]!.before = ' ' + ' '.repeat(target - cols[i]!);
  });
}

/** Runs of lines of one kind in one block, with nothing but comment lines between them. */
function codeRuns(lines: RenderedLine[]): RenderedLine[][] {
  const runs: RenderedLine[][] = [];
  let run: RenderedLine[] = [];
  const flush = () => {
    if (run.length > 1) runs.push(run);
    run = [];
  };
  for (const line of lines) {
    if (line.blankBefore) flush();
    if (line.pieces.length === 0) continue;
    const prev = run[run.length - 1];
    if (!line.align || (prev && (prev.align!.kind !== line.align.kind || prev.block !== line.block || prev.indent !== line.indent)))
      flush();
    if (line.align) run.push(line);
  }
  flush();
  return runs;
}

export function alignLines(lines: RenderedLine[]): void {
  for (const run of codeRuns(lines)) {
    const kind = run[0]!.align!;
    if (kind.kind === 'child') {
      alignColumn(run, (l) => (l.align as { eq: IToken }).eq);
    } else {
      alignColumn(run, (l) => (l.align as { type: IToken }).type);
      if (kind.kind === 'param') alignColumn(run, (l) => (l.align as { eq?: IToken }).eq, MAX_INIT_PAD);
    }
  }
  alignComments(lines);
}

/** Trailing comments of consecutive code lines start in one column, two spaces after the longest code. */
function alignComments(lines: RenderedLine[]): void {
  let run: RenderedLine[] = [];
  const flush = () => {
    const widths = run.map((l) => columnBefore(l, l.pieces.length));
    const target = Math.max(...widths);
    run.forEach((l, i) => (l.commentGap = '  ' + ' '.repeat(target - widths[i]!)));
    run = [];
  };
  for (const line of lines) {
    const trailing = line.pieces.length > 0 && line.comment !== undefined;
    if (!trailing || line.blankBefore) flush();
    if (trailing) run.push(line);
  }
  flush();
}
