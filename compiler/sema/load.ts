/**
 * Reads a `.mile` file and every file it `use`s. `use std.x` names the standard library
 * shipped with milec (`std/x.mile`); any other dotted path is a file relative to the user's
 * file (`use layers.vision` -> `layers/vision.mile`).
 */
import { dirname, join, resolve } from 'node:path';
import type { MethodDecl, MileFile, ModelDecl, ModuleDecl, TuneDecl } from '../../grammar/ast.ts';
import { MileSyntax, parseMile } from '../../grammar/parse.ts';
import { type Diagnostic, error, hasErrors, suggestion } from '../../core/diagnostic.ts';
import type { Program } from './program.ts';
import type { SourceHost } from './source-host.ts';

/** Loads through `host`; `text` overrides the main file's contents (for tests and editors). */
export function loadProgram(
  host: SourceHost,
  mainPath: string,
  text?: string,
  syntax: MileSyntax = MileSyntax.shared,
): { program?: Program; diagnostics: Diagnostic[]; sources: ReadonlyMap<string, string> } {
  const displayName = (abs: string) => host.displayName(abs);
  const sources = new Map<string, string>();
  const files: MileFile[] = [];
  const diagnostics: Diagnostic[] = [];
  const seen = new Set<string>();

  const load = (abs: string, name: string, body: string): MileFile | undefined => {
    if (seen.has(abs)) return undefined;
    seen.add(abs);
    const src = body;
    sources.set(name, src);
    const { ast, diagnostics: ds } = parseMile(src, name, syntax);
    diagnostics.push(...ds);
    files.push(ast);
    for (const d of ast.decls) {
      if (d.kind !== 'use') continue;
      for (const p of d.paths) {
        const isStd = p.parts[0] === 'std';
        const base = isStd ? host.stdDir : dirname(abs);
        const parts = isStd ? p.parts.slice(1) : p.parts;
        const target = resolve(join(base, ...parts) + '.mile');
        const text = seen.has(target) ? '' : host.readFile(target);
        if (text === undefined) {
          const avail = isStd ? host.mileFiles(host.stdDir).map((f) => `std.${f.slice(0, -5)}`) : [];
          diagnostics.push(
            error(
              'use',
              `cannot find \`${p.parts.join('.')}\` (looked for ${displayName(target)})`,
              p.span,
              suggestion(p.parts.join('.'), avail),
            ),
          );
          continue;
        }
        load(target, displayName(target), text);
      }
    }
    return ast;
  };

  const absMain = resolve(mainPath);
  const mainText = text ?? host.readFile(absMain);
  if (mainText === undefined) {
    return {
      sources,
      diagnostics: [error('io', `cannot read ${mainPath}: no such file`, { file: mainPath, line: 0, col: 0, endLine: 0, endCol: 0 })],
    };
  }
  const main = load(absMain, mainPath, mainText)!;
  if (hasErrors(diagnostics)) return { diagnostics, sources };

  const modules = new Map<string, ModuleDecl>();
  const models = new Map<string, ModelDecl>();
  for (const f of files) {
    for (const d of f.decls) {
      if (d.kind !== 'module' && d.kind !== 'model') continue;
      const prev = modules.get(d.name.name) ?? models.get(d.name.name);
      if (prev) {
        diagnostics.push(
          error('name', `\`${d.name.name}\` is defined twice`, d.name.span, {
            related: [{ span: prev.name.span, message: 'first defined here' }],
          }),
        );
        continue;
      }
      if (d.kind === 'module') modules.set(d.name.name, d);
      else models.set(d.name.name, d);
    }
  }
  // Methods, like modules, are global across the loaded files (a `std/peft.mile` can hold some).
  const methods = new Map<string, MethodDecl>();
  for (const f of files) {
    for (const d of f.decls) {
      if (d.kind !== 'method') continue;
      const prev = methods.get(d.name.name);
      if (prev) {
        diagnostics.push(
          error('name', `method \`${d.name.name}\` is defined twice`, d.name.span, {
            related: [{ span: prev.name.span, message: 'first defined here' }],
          }),
        );
        continue;
      }
      methods.set(d.name.name, d);
    }
  }
  const tunes = main.decls.filter((d): d is TuneDecl => d.kind === 'tune');
  const tuneNames = new Set<string>();
  for (const t of tunes) {
    if (tuneNames.has(t.name.name)) diagnostics.push(error('name', `tune \`${t.name.name}\` is defined twice`, t.name.span));
    tuneNames.add(t.name.name);
  }
  if (hasErrors(diagnostics)) return { diagnostics, sources };
  return { program: { files, modules, models, tunes, methods, sources }, diagnostics, sources };
}
