/**
 * The compiler front end as a list of named stages, each a function from one printable
 * structure to the next:
 *
 *   parse      text            -> MileFile (AST)          grammar/parse.ts
 *   elaborate  Program         -> ElaboratedModel         compiler/sema/elaborate.ts
 *   tune       ElaboratedModel -> Attachments (+ flags)   compiler/peft/tune.ts
 *   lower      ElaboratedModel + Attachments -> Graph     compiler/lower/lower.ts
 *   simplify   Graph           -> Graph (rewrite rules)   compiler/ir/simplify.ts
 *   grad       Graph           -> Graph + grads           compiler/grad/grad.ts
 *
 * The back end (specialize -> schedule -> wgsl -> plan) is in compiler/backend.ts.
 */
import type { TuneDecl } from '../grammar/ast.ts';
import type { MileSyntax } from '../grammar/parse.ts';
import { CompileError, type Diagnostic, error, hasErrors, suggestion } from '../core/diagnostic.ts';
import { differentiate } from './grad/grad.ts';
import type { Graph } from './ir/graph.ts';
import { lower } from './lower/lower.ts';
import { simplify } from './ir/simplify.ts';
import { withMileMethods } from './peft/mile-method.ts';
import { MethodRegistry } from './peft/registry.ts';
import { applyTune, type TuneReport } from './peft/tune.ts';
import { type ConfigOverrides, elaborate } from './sema/elaborate.ts';
import type { ElaboratedModel } from './sema/instance.ts';
import { loadProgram } from './sema/load.ts';
import type { Program } from './sema/program.ts';
import type { SourceHost } from './sema/source-host.ts';

export interface FrontEndOptions {
  /** Where `.mile` text comes from (`runtime/source-files.ts : fileHost` for files on disk). */
  readonly host: SourceHost;
  /** The parser to use (default: the process's shared one); an editor session holds its own. */
  readonly syntax?: MileSyntax;
  readonly file: string;
  /** Source text to use instead of reading `file`. */
  readonly text?: string;
  readonly tune?: string;
  readonly model?: string;
  /** Build the training graph (dropout on, gradients of trainable parameters). */
  readonly training: boolean;
  readonly registry?: MethodRegistry;
  /** `--config name=value`: config values replacing the model's own (`elaborate`). */
  readonly config?: ConfigOverrides;
}

export interface FrontEnd {
  readonly program: Program;
  readonly model: ElaboratedModel;
  readonly tune: TuneReport;
  /** The forward graph (with dropout when training). */
  readonly forward: Graph;
  /** Forward + backward, when training. */
  readonly train?: Graph;
  /**
   * The inference graph: the forward without dropout (the same graph as `forward` when not
   * training). Training commands evaluate with it, so one front-end call gives both.
   */
  readonly infer: Graph;
}

export interface StageResult<T> {
  readonly result?: T;
  readonly diagnostics: readonly Diagnostic[];
  readonly sources: ReadonlyMap<string, string>;
}

export function compileFrontEnd(opts: FrontEndOptions): StageResult<FrontEnd> {
  const loaded = loadProgram(opts.host, opts.file, opts.text, opts.syntax);
  const sources = loaded.sources;
  const fail = (diagnostics: readonly Diagnostic[]) => ({ diagnostics, sources });
  if (!loaded.program) return fail(loaded.diagnostics);
  const program = loaded.program;
  // Methods written in `.mile` join the built-ins (or the caller's registry) for this compilation.
  const methods = withMileMethods(opts.registry ?? new MethodRegistry(), program);
  if (methods.diagnostics.length) return fail(methods.diagnostics);
  try {
    const tune = pickTune(program, opts.tune);
    const modelName = pickModel(program, opts.model, tune);
    const el = elaborate(program, modelName, tune?.model.span, opts.config);
    if (!el.model) return fail(el.diagnostics);
    const registry = methods.registry;
    const tuned = applyTune(el.model, tune, registry);
    if (!tuned.report) return fail(tuned.diagnostics);
    const lowered = lower(el.model, registry, { training: opts.training, attachments: tuned.report.attachments });
    if (!lowered.graph) return fail(lowered.diagnostics);
    const forward = simplify(lowered.graph).graph;
    let train: Graph | undefined;
    if (opts.training) {
      if (forward.outputs.loss === undefined) {
        return fail([
          error('train', `model \`${modelName}\` has no \`loss\` statement, so it cannot be trained`, el.model.root.forward!.span),
        ]);
      }
      if (!forward.params.some((p) => p.trainable)) {
        const at = tune?.span ?? el.model.root.span;
        return fail([error('train', `nothing to train: every parameter is frozen${tune ? ` in tune \`${tune.name.name}\`` : ''}`, at)]);
      }
      train = simplify(differentiate(forward, 'loss')).graph;
    }
    let infer = forward;
    if (opts.training) {
      const inference = lower(el.model, registry, { training: false, attachments: tuned.report.attachments });
      if (!inference.graph) return fail(inference.diagnostics);
      infer = simplify(inference.graph).graph;
    }
    return { result: { program, model: el.model, tune: tuned.report, forward, train, infer }, diagnostics: [], sources };
  } catch (e) {
    if (e instanceof CompileError) return fail([e.diagnostic]);
    throw e;
  }
}

function pickTune(program: Program, name: string | undefined): TuneDecl | undefined {
  if (name === undefined) return undefined;
  const t = program.tunes.find((x) => x.name.name === name);
  if (t) return t;
  const main = program.files[0]!;
  const names = program.tunes.map((x) => x.name.name);
  throw new CompileError(
    error('tune', `no tune named \`${name}\` in ${main.file}`, main.span, {
      ...(suggestion(name, names).help
        ? suggestion(name, names)
        : { help: names.length ? `tunes in this file: ${names.join(', ')}` : 'this file declares no tunes' }),
    }),
  );
}

function pickModel(program: Program, name: string | undefined, tune: TuneDecl | undefined): string {
  if (name !== undefined) return name;
  if (tune) return tune.model.name;
  const main = program.files[0]!;
  const own = main.decls.filter((d) => d.kind === 'model').map((d) => d.name.name);
  const all = own.length ? own : [...program.models.keys()];
  if (all.length === 1) return all[0]!;
  if (all.length === 0) throw new CompileError(error('model', `${main.file} declares no model`, main.span));
  throw new CompileError(error('model', `${main.file} declares several models (${all.join(', ')}); choose one with --model`, main.span));
}

export { hasErrors };
