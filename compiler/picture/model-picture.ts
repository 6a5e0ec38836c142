/**
 * What a tune does to a model, as a tree to draw: the first stage of `milec plan --svg` and
 * `milec compile --emit graph` (`ElaboratedModel` + `TuneReport` → `ModelPicture` → DOT → SVG).
 *
 * Every module instance becomes a `PictureModule` with its parameter counts, its training
 * state (frozen, trained, partly trained) and the PEFT methods attached at it with the
 * parameters each adds. Consecutive copies of a `repeat` that are alike — same module, same
 * arguments, same parameter shapes and flags, same attachments, all the way down — collapse
 * into one module named by their range (`layer[0..11]`); a copy that a tune treats
 * differently (LoRA on `layer[11]` only) breaks the run, so the picture never hides a
 * difference. Counts inside a collapsed repeat are per copy; `count` says how many copies a
 * module stands for.
 *
 * Pure and synchronous: it reads only the instance tree and the tune's attachments, not the
 * lowered graph, so models without a `loss` can be drawn.
 */
import { elementCount } from '../../core/dim.ts';
import type { Diagnostic } from '../../core/diagnostic.ts';
import type { PeftMethod } from '../peft/method.ts';
import { withMileMethods } from '../peft/mile-method.ts';
import { MethodRegistry } from '../peft/registry.ts';
import { applyTune, type TuneReport } from '../peft/tune.ts';
import { elaborate } from '../sema/elaborate.ts';
import type { Program } from '../sema/program.ts';
import { type Attachment, type ElaboratedModel, type Instance, type ParamSlot, scalarText, walkInstances } from '../sema/instance.ts';

/**
 * A module's training state, from its own and its descendants' model parameters (PEFT-added
 * ones do not count: a frozen Linear with LoRA is still frozen). `empty`: no parameters.
 */
export type TrainState = 'frozen' | 'trained' | 'partial' | 'empty';

/** One PEFT method attached at a module. */
export interface PictureSite {
  readonly method: string;
  /** The method's options as resolved at this site (`r`, `alpha`, …). */
  readonly options: Readonly<Record<string, number | boolean>>;
  /** Parameters it adds at this site (per copy in a collapsed repeat), the trainable ones among them, and their names. */
  readonly added: number;
  readonly trainable: number;
  readonly names: readonly string[];
  /** The shared parameter group this site uses (`prefix_0`), when the method shares one across its sites. */
  readonly shared?: string;
  /** The method trains the site's own parameters instead of adding any (LN-tuning). */
  readonly trainsSite?: boolean;
}

/** A module's own parameters, apart from its children's (the ViT's `cls_token` and `pos_embed`). */
export interface OwnParams {
  readonly names: readonly string[];
  readonly params: number;
  readonly trained: number;
  /** The names of the trained ones, when only some train (BitFit trains a Linear's `bias`). */
  readonly trainedNames: readonly string[];
}

export interface PictureModule {
  /** Unique in the picture: the instance path, a collapsed repeat spelled by its range (`text_encoder.encoder.layer[0..11].attention`). */
  readonly id: string;
  /** The name under its parent: `query`, `layer[0..11]`, `layer[3]`. */
  readonly name: string;
  /** The module (site type) name, e.g. `Linear`, `BertLayer`. */
  readonly type: string;
  /** How many copies of a repeat this module stands for (1 unless collapsed). */
  readonly count: number;
  /** Model parameters in this subtree, for one copy. */
  readonly params: number;
  /** Of those, the trainable ones. */
  readonly trained: number;
  /** Parameters PEFT methods add in this subtree, for one copy. */
  readonly added: number;
  /** Trainable parameters in this subtree, the model's and the added ones, for one copy (`milec plan`'s per-module `trainable`). */
  readonly trainable: number;
  readonly state: TrainState;
  readonly own: OwnParams;
  readonly sites: readonly PictureSite[];
  readonly children: readonly PictureModule[];
}

/** Parameters a method creates once per application and shares across its sites (prefix tuning's encoder). */
export interface PictureShared {
  /** The group's name, its parameters' path prefix: `prefix_0`. */
  readonly name: string;
  readonly method: string;
  readonly params: number;
  readonly names: readonly string[];
  /** How many sites use it. */
  readonly sites: number;
}

export interface ModelPicture {
  readonly model: string;
  /** The tune's name; undefined for full fine-tuning. */
  readonly tune: string | undefined;
  /** Every parameter (the model's and the ones methods add) and the trainable ones, as `milec plan` counts them. */
  readonly totalParams: number;
  readonly trainableParams: number;
  readonly addedParams: number;
  /** trainable / total × 100 (`milec plan`'s `trainablePercent`). */
  readonly trainablePercent: number;
  /** The PEFT methods the tune applies, in tune order. */
  readonly methods: readonly string[];
  /** The model itself: its children are the top-level modules. */
  readonly root: PictureModule;
  readonly shared: readonly PictureShared[];
}

const size = (p: ParamSlot) => elementCount(p.shape);
const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);

/** Builds the picture of `model` as `tune` trains it (the front end's `model` and `tune`). */
export function modelPicture(model: ElaboratedModel, tune: TuneReport): ModelPicture {
  const ctx = new PictureBuilder(tune.attachments.bySite, tune.methods);
  const root = ctx.module(model.root, '', model.name, 1);
  const shared = tune.attachments.shared.map((s): PictureShared => {
    const name = s.params[0]?.path.split('.')[0] ?? s.method;
    const users = [...tune.attachments.bySite.values()].flat().filter((a) => a.shared === s).length;
    return { name, method: s.method, params: sum(s.params.map(size)), names: s.params.map((p) => p.name), sites: users };
  });
  // The totals count every parameter slot once, as the lowered graph and `milec plan` do.
  let total = 0;
  let trainable = 0;
  let added = 0;
  const count = (p: ParamSlot) => {
    total += size(p);
    if (p.trainable) trainable += size(p);
    if (p.addedBy !== undefined) added += size(p);
  };
  for (const i of walkInstances(model.root)) {
    i.params.forEach(count);
    for (const a of tune.attachments.bySite.get(i) ?? []) a.params.forEach(count);
  }
  for (const s of tune.attachments.shared) s.params.forEach(count);
  return {
    model: model.name,
    tune: tune.tune,
    totalParams: total,
    trainableParams: trainable,
    addedParams: added,
    trainablePercent: total === 0 ? 0 : (100 * trainable) / total,
    methods: [...tune.methods.keys()],
    root,
    shared,
  };
}

/**
 * The picture of a tune of a loaded program, from its elaborated model and the tune applied to
 * it, without lowering anything: what a sweep report draws for each of its tunes in a fraction
 * of a front end's time. The diagnostics of a tune that does not elaborate or apply.
 */
export function tunePicture(
  program: Program,
  tune: string,
  registry: MethodRegistry = new MethodRegistry(),
): { picture?: ModelPicture; diagnostics: readonly Diagnostic[] } {
  const decl = program.tunes.find((t) => t.name.name === tune);
  if (!decl) return { diagnostics: [] };
  const methods = withMileMethods(registry, program);
  if (methods.diagnostics.length) return { diagnostics: methods.diagnostics };
  const el = elaborate(program, decl.model.name, decl.model.span);
  if (!el.model) return { diagnostics: el.diagnostics };
  const tuned = applyTune(el.model, decl, methods.registry);
  if (!tuned.report) return { diagnostics: tuned.diagnostics };
  return { picture: modelPicture(el.model, tuned.report), diagnostics: [] };
}

class PictureBuilder {
  /** Each instance's likeness key (`signature`), memoized: repeats compare subtrees. */
  private readonly keys = new Map<Instance, string>();

  constructor(
    private readonly bySite: ReadonlyMap<Instance, readonly Attachment[]>,
    private readonly methods: ReadonlyMap<string, PeftMethod>,
  ) {}

  module(inst: Instance, id: string, name: string, count: number): PictureModule {
    const children: PictureModule[] = [];
    const join = (n: string) => (id === '' ? n : `${id}.${n}`);
    for (const [childName, c] of inst.children) {
      if (!Array.isArray(c)) {
        children.push(this.module(c, join(childName), childName, 1));
        continue;
      }
      for (const run of this.runs(c)) {
        const label = run.from === run.to ? `${childName}[${run.from}]` : `${childName}[${run.from}..${run.to}]`;
        children.push(this.module(c[run.from]!, join(label), label, run.to - run.from + 1));
      }
    }
    const own = ownParams(inst.params);
    const sites = (this.bySite.get(inst) ?? []).map((a) => pictureSite(a, this.methods.get(a.method)?.trainsSite === true));
    const params = own.params + sum(children.map((c) => c.count * c.params));
    const trained = own.trained + sum(children.map((c) => c.count * c.trained));
    const added = sum(sites.map((s) => s.added)) + sum(children.map((c) => c.count * c.added));
    const trainable = trained + sum(sites.map((s) => s.trainable)) + sum(children.map((c) => c.count * (c.trainable - c.trained)));
    return { id, name, type: inst.type, count, params, trained, added, trainable, state: stateOf(params, trained), own, sites, children };
  }

  /** Maximal runs of consecutive alike copies, as index ranges. */
  private runs(copies: readonly Instance[]): { from: number; to: number }[] {
    const out: { from: number; to: number }[] = [];
    copies.forEach((c, i) => {
      const last = out[out.length - 1];
      if (last && this.signature(copies[last.from]!) === this.signature(c)) last.to = i;
      else out.push({ from: i, to: i });
    });
    return out;
  }

  /** Everything the picture shows of a subtree, and its arguments: equal keys draw the same. */
  private signature(inst: Instance): string {
    const hit = this.keys.get(inst);
    if (hit !== undefined) return hit;
    const slot = (p: ParamSlot) => `${p.name}:${p.shape.join('x')}${p.trainable ? '+' : '-'}`;
    const args = [...inst.args].map(([k, v]) => `${k}=${scalarText(v)}`).join(',');
    const attached = (this.bySite.get(inst) ?? []).map(
      (a) => `${a.method}${JSON.stringify(a.options)}[${a.params.map(slot).join(',')}]${a.shared ? '&' : ''}`,
    );
    const kids = [...inst.children].map(([n, c]) =>
      Array.isArray(c) ? `${n}=[${c.map((x) => this.signature(x)).join(';')}]` : `${n}=${this.signature(c)}`,
    );
    const key = `${inst.type}(${args}){${inst.params.map(slot).join(',')}}<${attached.join(',')}>{${kids.join(',')}}`;
    this.keys.set(inst, key);
    return key;
  }
}

function ownParams(params: readonly ParamSlot[]): OwnParams {
  const trainedSlots = params.filter((p) => p.trainable);
  const trained = sum(trainedSlots.map(size));
  const all = sum(params.map(size));
  return {
    names: params.map((p) => p.name),
    params: all,
    trained,
    trainedNames: trained > 0 && trainedSlots.length < params.length ? trainedSlots.map((p) => p.name) : [],
  };
}

function pictureSite(a: Attachment, trainsSite: boolean): PictureSite {
  const shared = a.shared?.params[0]?.path.split('.')[0];
  return {
    ...(trainsSite ? { trainsSite } : {}),
    method: a.method,
    options: { ...a.options },
    added: sum(a.params.map(size)),
    trainable: sum(a.params.filter((p) => p.trainable).map(size)),
    names: a.params.map((p) => p.name),
    ...(shared ? { shared } : {}),
  };
}

export function stateOf(params: number, trained: number): TrainState {
  if (params === 0) return 'empty';
  if (trained === 0) return 'frozen';
  return trained === params ? 'trained' : 'partial';
}

// ------------------------------------------------------------------------------ text form

const int = (n: number) => n.toLocaleString('en-US');

/** `r=4 alpha=32 dropout=0.1`: the options of a site, those that are off (`false`, 0) left out. */
export function siteOptionsText(o: Readonly<Record<string, number | boolean>>): string {
  return Object.entries(o)
    .filter(([, v]) => v !== false && v !== 0)
    .map(([k, v]) => (v === true ? k : `${k}=${v}`))
    .join(' ');
}

/** The picture as an indented tree, one module a line: what the DOT draws, for tests and reading. */
export function printModelPicture(p: ModelPicture): string {
  const out = [
    `${p.model}${p.tune ? ` / tune ${p.tune}` : ' (full fine-tuning)'}: ${int(p.trainableParams)} of ${int(p.totalParams)} parameters trainable (${p.trainablePercent.toFixed(4)}%)`,
  ];
  const visit = (m: PictureModule, depth: number) => {
    const copies = m.count > 1 ? ` ×${m.count}` : '';
    const addedText = m.added ? `, +${int(m.added)} added` : '';
    out.push(`${'  '.repeat(depth)}${m.name} ${m.type}${copies}: ${m.state}, ${int(m.params)} params${addedText}`);
    if (m.children.length && m.own.params)
      out.push(
        `${'  '.repeat(depth + 1)}own ${m.own.names.join(', ')}: ${stateOf(m.own.params, m.own.trained)}, ${int(m.own.params)} params`,
      );
    if (m.own.trainedNames.length) out.push(`${'  '.repeat(depth + 1)}trains ${m.own.trainedNames.join(', ')}`);
    for (const s of m.sites) {
      const adds = s.shared ? `uses ${s.shared}` : s.trainsSite ? 'trains its own parameters' : `+${int(s.added)} (${s.names.join(', ')})`;
      out.push(`${'  '.repeat(depth + 1)}${s.method} ${siteOptionsText(s.options)}: ${adds}`.replace(/ +:/, ':'));
    }
    for (const c of m.children) visit(c, depth + 1);
  };
  if (p.root.own.params) out.push(`  (${p.model}'s own) ${p.root.own.names.join(', ')}: ${int(p.root.own.params)} params`);
  for (const c of p.root.children) visit(c, 1);
  for (const s of p.shared)
    out.push(`  ${s.name} (${s.method}, shared by ${s.sites} sites): ${int(s.params)} params (${s.names.join(', ')})`);
  return out.join('\n') + '\n';
}
