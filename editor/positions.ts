/** Spans (1-based, end exclusive, files by display name) as LSP ranges and locations, and back. */
import type { Location, Position, Range } from 'vscode-languageserver';
import { pathToFileURL, fileURLToPath } from 'node:url';
import type { Span } from '../core/span.ts';

export function toRange(s: Span): Range {
  const line = Math.max(0, s.line - 1);
  const character = Math.max(0, s.col - 1);
  const endLine = Math.max(line, s.endLine - 1);
  const endCharacter = endLine === line ? Math.max(character, s.endCol - 1) : Math.max(0, s.endCol - 1);
  return { start: { line, character }, end: { line: endLine, character: endCharacter } };
}

/** The 1-based line and column of an LSP position. */
export function fromPosition(p: Position): { line: number; col: number } {
  return { line: p.line + 1, col: p.character + 1 };
}

export const uriOf = (path: string) => pathToFileURL(path).href;
export const pathOfUri = (uri: string) => (uri.startsWith('file:') ? fileURLToPath(uri) : uri);

export function location(path: string, s: Span): Location {
  return { uri: uriOf(path), range: toRange(s) };
}

/** The text a span covers in `source`. */
export function spanText(source: string, s: Span): string {
  const lines = source.split('\n');
  if (s.line < 1 || s.line > lines.length) return '';
  if (s.line === s.endLine) return lines[s.line - 1]!.slice(s.col - 1, s.endCol - 1);
  const parts = [
    lines[s.line - 1]!.slice(s.col - 1),
    ...lines.slice(s.line, s.endLine - 1),
    (lines[s.endLine - 1] ?? '').slice(0, s.endCol - 1),
  ];
  return parts.join('\n');
}
