/**
 * What the language server knows about one open document, in two steps:
 *
 * - `Analysis.create` (fast, synchronous): the document and every file it `use`s, parsed (also
 *   with syntax errors), the program when it loads, its PEFT methods, and the index of names.
 *   Hover, definition, completion and symbols answer from this.
 * - `deepCheck` (slow, in steps the server interleaves with requests): elaborates every model
 *   of the document, lowers its forward (recording the shape of every bound name), and applies
 *   and lowers every tune. Its diagnostics are the compiler's, as `milec check --tune T` gives
 *   them, for every model and tune at once.
 */
import { dirname, join, resolve } from 'node:path';
import type { MethodDecl, MileFile, ModelDecl, ModuleDecl, TuneDecl } from '../grammar/ast.ts';
import { MileSyntax } from '../grammar/parse.ts';
import { CompileError, type Diagnostic, error } from '../core/diagnostic.ts';
import type { Span } from '../core/span.ts';
import { loadProgram, type ParseCache } from '../compiler/sema/load.ts';
import type { ParseResult } from '../grammar/parse.ts';
import type { Program } from '../compiler/sema/program.ts';
import { memoryHost, type SourceHost } from '../compiler/sema/source-host.ts';
import { elaborate } from '../compiler/sema/elaborate.ts';
import type { ElaboratedModel } from '../compiler/sema/instance.ts';
import { lower, type ObservedBinding } from '../compiler/lower/lower.ts';
import { MethodRegistry } from '../compiler/peft/registry.ts';
import { withMileMethods } from '../compiler/peft/mile-method.ts';
import { applyTune, type TuneReport } from '../compiler/peft/tune.ts';
import { collectOccurrences, type Globals, type Occurrence } from './occurrences.ts';

export interface AnalysisInput {
  /** Files not open in the editor, and the standard library (`runtime/source-files.ts : fileHost` in the server). */
  readonly files: SourceHost;
  /** Open documents by absolute path: their unsaved text shadows the files. */
  readonly documents: ReadonlyMap<string, string>;
  readonly path: string;
  readonly text: string;
  readonly syntax?: MileSyntax;
  /** Built-in methods and plugins (default: the built-ins). */
  readonly registry?: MethodRegistry;
  /** Parses kept between analyses (the server's: `use`d files are parsed once, not on every edit). */
  readonly parseCache?: ParseCache;
  /** The document's previous analysis: its shapes answer hovers until this one is checked. */
  readonly previous?: Analysis;
}

/** A `ParseCache` of at most `limit` texts, dropping the oldest first. */
export class BoundedParseCache implements ParseCache {
  private readonly parses = new Map<string, ParseResult>();
  constructor(private readonly limit = 256) {}
  get(name: string, text: string): ParseResult | undefined {
    return this.parses.get(`${name}\0${text}`);
  }
  set(name: string, text: string, parsed: ParseResult): void {
    if (this.parses.size >= this.limit) this.parses.delete(this.parses.keys().next().value!);
    this.parses.set(`${name}\0${text}`, parsed);
  }
}

export const spanKey = (s: Span) => `${s.file}:${s.line}:${s.col}`;

/** A name a forward bound, as one instance saw it. */
export interface BoundShape {
  readonly instance: string;
  readonly type: string;
}

export class Analysis {
  readonly diagnostics: Diagnostic[];
  readonly program?: Program;
  /**
   * The program as far as it parsed: the compiler's when it loaded, else one made from the
   * recovered ASTs (first declaration of a name wins), so that a tune being typed below a
   * complete model still gets selector completion and hover.
   */
  readonly recovered: Program;
  readonly files: readonly MileFile[];
  readonly main: MileFile;
  readonly registry: MethodRegistry;
  readonly globals: Globals;
  /** Absolute path of each file read, by the display name its spans carry, and back. */
  readonly pathOf = new Map<string, string>();
  readonly nameOf = new Map<string, string>();
  /** Shapes of bound names by the name's span (`spanKey`), filled by `deepCheck`. */
  readonly bindings = new Map<string, BoundShape[]>();
  /** The same shapes by `Module:name` (the spans move with every edit; the names mostly do not). */
  readonly bindingsByName = new Map<string, BoundShape[]>();
  /** Shapes by name from the last checked analysis of this document, until this one is checked. */
  readonly carried?: ReadonlyMap<string, BoundShape[]>;
  /** Set when `deepCheck` has run to its end. */
  checked = false;
  private readonly occurrenceCache = new Map<MileFile, Occurrence[]>();
  private readonly models = new Map<string, { model?: ElaboratedModel; diagnostics: readonly Diagnostic[] }>();
  private readonly tunes = new Map<string, { report?: TuneReport; diagnostics: readonly Diagnostic[] }>();
  private readonly moduleDecls = new Map<string, ModuleDecl | ModelDecl>();
  private readonly methodDecls = new Map<string, MethodDecl>();
  private readonly declFile = new Map<object, string>();

  private constructor(
    readonly input: AnalysisInput,
    readonly stdDir: string,
  ) {
    const host = this.recordingHost(memoryHost(input.documents, input.files));
    const loaded = loadProgram(host, input.path, input.text, input.syntax ?? MileSyntax.shared, input.parseCache);
    this.pathOf.set(input.path, input.path);
    this.nameOf.set(input.path, input.path);
    this.files = loaded.files;
    this.main = loaded.files[0] ?? { file: input.path, decls: [], span: { file: input.path, line: 1, col: 1, endLine: 1, endCol: 1 } };
    this.program = loaded.program;
    this.diagnostics = [...loaded.diagnostics];
    let registry = input.registry ?? new MethodRegistry();
    if (this.program) {
      const methods = withMileMethods(registry, this.program);
      this.diagnostics.push(...methods.diagnostics);
      if (!methods.diagnostics.length) registry = methods.registry;
    }
    this.registry = registry;
    for (const f of this.files) {
      for (const d of f.decls) {
        if (d.kind === 'module' || d.kind === 'model') {
          if (!this.moduleDecls.has(d.name.name)) this.moduleDecls.set(d.name.name, d);
        } else if (d.kind === 'method' && !this.methodDecls.has(d.name.name)) this.methodDecls.set(d.name.name, d);
        this.declFile.set(d, f.file);
      }
    }
    this.globals = this.makeGlobals();
    const prev = input.previous;
    this.carried = prev?.checked ? prev.bindingsByName : prev?.carried;
    this.recovered = this.program ?? {
      files: this.files,
      modules: new Map([...this.moduleDecls].filter((e): e is [string, ModuleDecl] => e[1].kind === 'module')),
      models: new Map([...this.moduleDecls].filter((e): e is [string, ModelDecl] => e[1].kind === 'model')),
      tunes: this.main.decls.filter((d): d is TuneDecl => d.kind === 'tune'),
      methods: this.methodDecls,
      sources: loaded.sources,
    };
  }

  static create(input: AnalysisInput): Analysis {
    return new Analysis(input, input.files.stdDir);
  }

  /** A host that remembers which absolute path each display name stands for. */
  private recordingHost(host: SourceHost): SourceHost {
    return {
      stdDir: host.stdDir,
      readFile: (p) => host.readFile(p),
      mileFiles: (d) => host.mileFiles(d),
      displayName: (p) => {
        const name = host.displayName(p);
        this.pathOf.set(name, p);
        this.nameOf.set(p, name);
        return name;
      },
    };
  }

  private makeGlobals(): Globals {
    return {
      module: (n) => this.moduleDecls.get(n),
      method: (n) => this.methodDecls.get(n),
      fileOf: (d) => this.declFile.get(d),
      useTarget: (from, parts) => {
        const path = this.useTargetPath(from, parts);
        const name = this.nameOf.get(path);
        return name === undefined ? undefined : { name, path };
      },
      isBuiltinMethod: (n) => this.registry.get(n) !== undefined,
    };
  }

  /** The absolute path a `use` path of `from` names (as `compiler/sema/load.ts` resolves it). */
  useTargetPath(from: MileFile, parts: readonly string[]): string {
    const isStd = parts[0] === 'std';
    const base = isStd ? this.stdDir : dirname(this.pathOf.get(from.file) ?? from.file);
    return resolve(join(base, ...(isStd ? parts.slice(1) : parts)) + '.mile');
  }

  fileNamed(name: string): MileFile | undefined {
    return this.files.find((f) => f.file === name);
  }

  sourceOf(name: string): string | undefined {
    if (name === this.input.path) return this.input.text;
    const path = this.pathOf.get(name);
    return path === undefined ? undefined : (this.input.documents.get(path) ?? this.input.files.readFile(path));
  }

  occurrences(file: MileFile = this.main): Occurrence[] {
    let occ = this.occurrenceCache.get(file);
    if (!occ) {
      occ = collectOccurrences(file, this.globals);
      this.occurrenceCache.set(file, occ);
    }
    return occ;
  }

  /** The elaborated model of that name (cached), with the diagnostics of elaborating it. */
  elaborated(name: string, at?: Span): { model?: ElaboratedModel; diagnostics: readonly Diagnostic[] } {
    let r = this.models.get(name);
    if (!r) {
      r = guarded(() => elaborate(this.recovered, name, at));
      this.models.set(name, r);
    }
    return r;
  }

  /** A tune applied to its model (cached): the sites it matches, the parameters its methods add. */
  tuneReport(tune: TuneDecl): { report?: TuneReport; diagnostics: readonly Diagnostic[] } {
    let r = this.tunes.get(tune.name.name);
    if (!r) {
      const el = this.elaborated(tune.model.name, tune.model.span);
      r = el.model ? guarded(() => applyTune(el.model!, tune, this.registry)) : { diagnostics: el.diagnostics };
      this.tunes.set(tune.name.name, r);
    }
    return r;
  }
}

/** A stage's result, or its CompileError, or a compiler bug reported as a diagnostic instead of crashing the server. */
function guarded<T extends { diagnostics: readonly Diagnostic[] }>(f: () => T): T | { diagnostics: Diagnostic[] } {
  try {
    return f();
  } catch (e) {
    if (e instanceof CompileError) return { diagnostics: [e.diagnostic] };
    const at: Span = { file: '<internal>', line: 1, col: 1, endLine: 1, endCol: 1 };
    return { diagnostics: [error('internal', `internal compiler error: ${e instanceof Error ? e.message : String(e)}`, at)] };
  }
}

/**
 * The checks after loading, one step per model and per tune: the generator yields between
 * steps so the server can answer requests (and drop a stale check) in between. Returns every
 * diagnostic of the document, loading's included, without duplicates.
 */
export function* deepCheck(a: Analysis): Generator<void, Diagnostic[]> {
  const out: Diagnostic[] = [...a.diagnostics];
  if (!a.program || a.diagnostics.some((d) => d.severity === 'error')) {
    a.checked = true;
    return out;
  }
  const mainModels = a.main.decls.filter((d): d is ModelDecl => d.kind === 'model');
  const record = (map: Map<string, BoundShape[]>, key: string, b: ObservedBinding) => {
    let list = map.get(key);
    if (!list) map.set(key, (list = []));
    if (list.length < 64) list.push({ instance: b.instance.path, type: b.type });
  };
  const observeBinding = (b: ObservedBinding) => {
    record(a.bindings, spanKey(b.name.span), b);
    record(a.bindingsByName, `${b.instance.type}:${b.name.name}`, b);
  };
  for (const m of mainModels) {
    const el = a.elaborated(m.name.name);
    out.push(...el.diagnostics);
    if (el.model) out.push(...guarded(() => lower(el.model!, a.registry, { training: false, observeBinding })).diagnostics);
    yield;
  }
  for (const t of a.program.tunes) {
    const tuned = a.tuneReport(t);
    out.push(...tuned.diagnostics);
    const model = a.elaborated(t.model.name).model;
    if (tuned.report && model) {
      const attachments = tuned.report.attachments;
      out.push(...guarded(() => lower(model, a.registry, { training: false, attachments })).diagnostics);
    }
    yield;
  }
  a.checked = true;
  const seen = new Set<string>();
  return out.filter((d) => {
    const key = `${spanKey(d.span)}:${d.code}:${d.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
