/** Go to definition, find references and rename, over the open document's program and the workspace's files. */
import type { Location, TextEdit, WorkspaceEdit } from 'vscode-languageserver';
import { KEYWORDS } from '../grammar/tokens.ts';
import type { Analysis } from './analysis.ts';
import type { Definition, Occurrence } from './occurrences.ts';
import { location, uriOf } from './positions.ts';
import { segmentDefinitions } from './selectors.ts';

/** The absolute path of a span's file as an analysis names it. */
export const absolutePath = (a: Analysis, file: string) => a.pathOf.get(file) ?? file;

/** A definition's identity across analyses: absolute file, line and column. */
export function definitionKey(a: Analysis, d: Definition): string {
  return d.kind === 'file' ? `file:${d.path}` : `${absolutePath(a, d.span.file)}:${d.span.line}:${d.span.col}`;
}

export function definitionsOf(a: Analysis, o: Occurrence): Definition[] {
  if (o.selector) return segmentDefinitions(a, o.selector, o.name, o.span);
  return o.def ? [o.def] : [];
}

export function definitionLocation(a: Analysis, d: Definition): Location {
  if (d.kind === 'file') return { uri: uriOf(d.path!), range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } } };
  return location(absolutePath(a, d.span.file), d.span);
}

/**
 * Every occurrence of `target` (whose identity is `key`) in the analyses' files (each file once),
 * as locations; selector segments count for children and parameters.
 */
export function referencesTo(analyses: readonly Analysis[], target: Definition, key: string, includeDeclaration: boolean): Location[] {
  const out = new Map<string, Location>();
  const visited = new Set<string>();
  const throughSelectors = target.kind === 'child' || target.kind === 'param';
  for (const a of analyses) {
    for (const f of a.files) {
      const abs = absolutePath(a, f.file);
      if (visited.has(abs)) continue;
      visited.add(abs);
      for (const o of a.occurrences(f)) {
        // Every reference spells the declared name (a `use` path names its file).
        if ((o.name !== target.name && target.kind !== 'file') || (o.isDecl && !includeDeclaration)) continue;
        if (o.selector && !throughSelectors) continue;
        if (definitionsOf(a, o).some((d) => definitionKey(a, d) === key))
          out.set(`${abs}:${o.span.line}:${o.span.col}`, location(abs, o.span));
      }
    }
  }
  const order = (x: Location, y: Location) =>
    x.uri.localeCompare(y.uri) || x.range.start.line - y.range.start.line || x.range.start.character - y.range.start.character;
  return [...out.values()].sort(order);
}

// Not children or parameters (their names are checkpoint keys), nor outputs (commands read them by name).
const RENAMABLE = new Set<Definition['kind']>(['module', 'model', 'method', 'config', 'let', 'tune']);

/** Why a definition cannot be renamed, or undefined when it can. */
export function renameRefusal(a: Analysis, d: Definition | undefined): string | undefined {
  if (!d) return 'nothing to rename here';
  if (!RENAMABLE.has(d.kind))
    return `a ${d.kind} cannot be renamed (modules, models, methods, tunes, config entries and \`let\` values can)`;
  if (absolutePath(a, d.span.file).startsWith(a.stdDir)) return `\`${d.name}\` is declared in the standard library`;
  return undefined;
}

/** Whether `name` is declared already where renaming `d` would make it clash (the program's globals, or `d`'s container). */
export function nameTaken(a: Analysis, d: Definition, name: string): boolean {
  if (d.kind === 'module' || d.kind === 'model') return a.globals.module(name) !== undefined;
  if (d.kind === 'method') return a.globals.method(name) !== undefined || a.registry.get(name) !== undefined;
  if (d.kind === 'tune') return a.main.decls.some((x) => x.kind === 'tune' && x.name.name === name);
  const file = a.fileNamed(d.span.file);
  return (file ? a.occurrences(file) : []).some(
    (o) => o.isDecl && o.name === name && o.def?.container === d.container && o.def?.kind !== 'param',
  );
}

export function renameEdit(refs: readonly Location[], newName: string): WorkspaceEdit {
  const changes: Record<string, TextEdit[]> = {};
  for (const r of refs) (changes[r.uri] ??= []).push({ range: r.range, newText: newName });
  return { changes };
}

/** Why `name` is not a usable new name, or undefined. */
export function badNewName(name: string): string | undefined {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) return `\`${name}\` is not a name`;
  if ((KEYWORDS as readonly string[]).includes(name)) return `\`${name}\` is a reserved word`;
  return undefined;
}
