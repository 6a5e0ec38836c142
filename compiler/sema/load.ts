/**
 * Reads a `.mile` file and every file it `use`s. `use std.x` names the standard library
 * shipped with milec (`std/x.mile`); any other dotted path is a file relative to the user's
 * file (`use layers.vision` -> `layers/vision.mile`).
 */
import { dirname, join, resolve } from 'node:path';
import type { Ident, MethodDecl, MileFile, ModelDecl, ModuleDecl, TuneDecl, UseDecl } from '../../grammar/ast.ts';
import { MileSyntax, parseMile, type ParseResult } from '../../grammar/parse.ts';
import { type Diagnostic, error, hasErrors, suggestion } from '../../core/diagnostic.ts';
import type { Program } from './program.ts';
import type { SourceHost } from './source-host.ts';

/**
 * Parsed files a caller keeps between loads (a language server re-loads a program on every
 * edit, and the files it `use`s rarely change): `get` answers for the same name and text.
 * The ASTs are immutable, so one parse can serve many programs.
 */
export interface ParseCache {
  get(name: string, text: string): ParseResult | undefined;
  set(name: string, text: string, parsed: ParseResult): void;
}

/**
 * Loads through `host`; `text` overrides the main file's contents (for tests and editors).
 * `files` are the ASTs of every file read, also when there were errors (the parser recovers,
 * so an editor still finds the declarations of a half-typed file).
 */
export function loadProgram(
  host: SourceHost,
  mainPath: string,
  text?: string,
  syntax: MileSyntax = MileSyntax.shared,
  cache?: ParseCache,
): { program?: Program; diagnostics: Diagnostic[]; sources: ReadonlyMap<string, string>; files: readonly MileFile[] } {
  const reader = new SourceReader(host, syntax, cache);
  const { files, sources, diagnostics } = reader;
  const absMain = resolve(mainPath);
  const mainText = text ?? host.readFile(absMain);
  if (mainText === undefined) {
    return {
      sources,
      files,
      diagnostics: [error('io', `cannot read ${mainPath}: no such file`, { file: mainPath, line: 0, col: 0, endLine: 0, endCol: 0 })],
    };
  }
  const main = reader.read(absMain, mainPath, mainText)!;
  if (hasErrors(diagnostics)) return { diagnostics, sources, files };

  const { modules, models } = collectModulesAndModels(files, diagnostics);
  const methods = collectMethods(files, diagnostics);
  const tunes = collectTunes(main, diagnostics);
  if (hasErrors(diagnostics)) return { diagnostics, sources, files };
  return { program: { files, modules, models, tunes, methods, sources }, diagnostics, sources, files };
}

type UsePath = UseDecl['paths'][number];

/**
 * Reads files through a `SourceHost`, each once, depth first along their `use`s: their
 * texts by display name, their parsed ASTs in reading order, and the diagnostics of
 * parsing them and of `use`s that name no file.
 */
class SourceReader {
  readonly sources = new Map<string, string>();
  readonly files: MileFile[] = [];
  readonly diagnostics: Diagnostic[] = [];
  private readonly seen = new Set<string>();

  constructor(
    private readonly host: SourceHost,
    private readonly syntax: MileSyntax,
    private readonly cache?: ParseCache,
  ) {}

  /** Parses `body` (the text of the absolute path `abs`, shown as `name`) and reads its `use`s; undefined when `abs` was read already. */
  read(abs: string, name: string, body: string): MileFile | undefined {
    if (this.seen.has(abs)) return undefined;
    this.seen.add(abs);
    this.sources.set(name, body);
    let parsed = this.cache?.get(name, body);
    if (!parsed) {
      parsed = parseMile(body, name, this.syntax);
      this.cache?.set(name, body, parsed);
    }
    const { ast, diagnostics } = parsed;
    this.diagnostics.push(...diagnostics);
    this.files.push(ast);
    for (const d of ast.decls) {
      if (d.kind !== 'use') continue;
      for (const p of d.paths) this.readUse(abs, p);
    }
    return ast;
  }

  /** The file that `use` path `p` of the file `from` names, read; or a diagnostic when the host has no such file. */
  private readUse(from: string, p: UsePath): void {
    const isStd = p.parts[0] === 'std';
    const base = isStd ? this.host.stdDir : dirname(from);
    const parts = isStd ? p.parts.slice(1) : p.parts;
    const target = resolve(join(base, ...parts) + '.mile');
    // A file read already is not asked for again: `read` skips it by its path.
    const text = this.seen.has(target) ? '' : this.host.readFile(target);
    if (text === undefined) {
      const avail = isStd ? this.host.mileFiles(this.host.stdDir).map((f) => `std.${f.slice(0, -5)}`) : [];
      const msg = `cannot find \`${p.parts.join('.')}\` (looked for ${this.host.displayName(target)})`;
      this.diagnostics.push(error('use', msg, p.span, suggestion(p.parts.join('.'), avail)));
      return;
    }
    this.read(target, this.host.displayName(target), text);
  }
}

/** `message` at `d`'s name, pointing at `prev`, the declaration of the name that came first. */
function definedTwice(message: string, d: { readonly name: Ident }, prev: { readonly name: Ident }): Diagnostic {
  return error('name', message, d.name.span, { related: [{ span: prev.name.span, message: 'first defined here' }] });
}

/** The modules and models of every loaded file, by name; they share one namespace, and a second declaration of a name is an error. */
function collectModulesAndModels(
  files: readonly MileFile[],
  diagnostics: Diagnostic[],
): { modules: Map<string, ModuleDecl>; models: Map<string, ModelDecl> } {
  const modules = new Map<string, ModuleDecl>();
  const models = new Map<string, ModelDecl>();
  for (const f of files) {
    for (const d of f.decls) {
      if (d.kind !== 'module' && d.kind !== 'model') continue;
      const prev = modules.get(d.name.name) ?? models.get(d.name.name);
      if (prev) {
        diagnostics.push(definedTwice(`\`${d.name.name}\` is defined twice`, d, prev));
        continue;
      }
      if (d.kind === 'module') modules.set(d.name.name, d);
      else models.set(d.name.name, d);
    }
  }
  return { modules, models };
}

/** The PEFT methods of every loaded file, by name: like modules, they are global across the files (a `std/peft.mile` can hold some). */
function collectMethods(files: readonly MileFile[], diagnostics: Diagnostic[]): Map<string, MethodDecl> {
  const methods = new Map<string, MethodDecl>();
  for (const f of files) {
    for (const d of f.decls) {
      if (d.kind !== 'method') continue;
      const prev = methods.get(d.name.name);
      if (prev) {
        diagnostics.push(definedTwice(`method \`${d.name.name}\` is defined twice`, d, prev));
        continue;
      }
      methods.set(d.name.name, d);
    }
  }
  return methods;
}

/** The tunes of the main file (not of the files it `use`s); a second tune of a name is an error. */
function collectTunes(main: MileFile, diagnostics: Diagnostic[]): TuneDecl[] {
  const tunes = main.decls.filter((d): d is TuneDecl => d.kind === 'tune');
  const tuneNames = new Set<string>();
  for (const t of tunes) {
    if (tuneNames.has(t.name.name)) diagnostics.push(error('name', `tune \`${t.name.name}\` is defined twice`, t.name.span));
    tuneNames.add(t.name.name);
  }
  return tunes;
}
