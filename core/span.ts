/** A region of one source file. Lines and columns are 1-based; `end` is exclusive. */
export interface Span {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  readonly endLine: number;
  readonly endCol: number;
}

/** The source text of every file a compilation read, keyed by the name used in spans. */
export type SourceMap = ReadonlyMap<string, string>;

export function spanCover(a: Span, b: Span): Span {
  const startFirst = a.line < b.line || (a.line === b.line && a.col <= b.col);
  const endLast = a.endLine > b.endLine || (a.endLine === b.endLine && a.endCol >= b.endCol);
  const s = startFirst ? a : b;
  const e = endLast ? a : b;
  return { file: s.file, line: s.line, col: s.col, endLine: e.endLine, endCol: e.endCol };
}

/** Used for nodes the compiler makes itself (e.g. the backward pass of a built-in op). */
export const internalSpan: Span = { file: '<internal>', line: 0, col: 0, endLine: 0, endCol: 0 };
