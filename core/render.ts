import type { Diagnostic } from './diagnostic.ts';
import type { SourceMap, Span } from './span.ts';

/**
 * rustc-style rendering:
 *   file:line:col: error: message
 *      14 |     let logits = decoder(answer, context = q)
 *         |                                  ^^^^^^^^^^^
 *      = help: did you mean `context`?
 */
export function renderDiagnostic(d: Diagnostic, sources: SourceMap): string {
  const out: string[] = [];
  out.push(`${location(d.span)}: ${d.severity}: ${d.message}`);
  out.push(...snippet(d.span, sources));
  for (const r of d.related ?? []) {
    out.push(`${location(r.span)}: note: ${r.message}`);
    out.push(...snippet(r.span, sources));
  }
  if (d.help) out.push(`   = help: ${d.help}`);
  return out.join('\n');
}

export function renderDiagnostics(ds: readonly Diagnostic[], sources: SourceMap): string {
  return ds.map((d) => renderDiagnostic(d, sources)).join('\n\n');
}

function location(s: Span): string {
  return s.line > 0 ? `${s.file}:${s.line}:${s.col}` : s.file;
}

function snippet(s: Span, sources: SourceMap): string[] {
  const text = sources.get(s.file);
  if (text === undefined || s.line <= 0) return [];
  const lines = text.split(/\r?\n/);
  const src = lines[s.line - 1];
  if (src === undefined) return [];
  const gutter = String(s.line).length;
  const pad = ' '.repeat(gutter);
  const start = Math.max(1, s.col);
  const end = s.endLine === s.line ? Math.max(s.endCol, start + 1) : src.length + 1;
  const width = Math.max(1, Math.min(end, src.length + 2) - start);
  // Tabs are kept under the caret so it lines up in any terminal.
  const lead = src.slice(0, start - 1).replace(/[^\t]/g, ' ');
  return [` ${String(s.line).padStart(gutter)} | ${src}`, ` ${pad} | ${lead}${'^'.repeat(width)}`];
}
