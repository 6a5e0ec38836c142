/**
 * The elaborated model: a tree of module instances with concrete arguments and
 * parameter shapes. Paths name instances the way users select them in tunes
 * (`blocks[0].attn.query`), and every instance is a typed site (its module name).
 */
import type { ModelWeights } from './model-weights.ts';
import type { ForwardDecl, ModelDecl, ModuleDecl } from '../../grammar/ast.ts';
import type { Span } from '../../core/span.ts';
import type { InitSpec } from '../ir/graph.ts';
import type { Dim } from '../../core/dim.ts';
import type { DType } from '../ops/kinds.ts';

export type Scalar =
  | { readonly kind: 'int'; readonly v: Dim }
  | { readonly kind: 'float'; readonly v: number }
  | { readonly kind: 'bool'; readonly v: boolean }
  | { readonly kind: 'none' };

export interface ParamSlot {
  /** Name within its instance (`weight`, `lora_A`). */
  readonly name: string;
  /** Full dotted path (`blocks[0].attn.query.weight`). */
  readonly path: string;
  readonly shape: readonly number[];
  readonly init: InitSpec;
  trainable: boolean;
  /** The PEFT method that added it, if any. */
  readonly addedBy?: string;
  readonly span: Span;
}

/**
 * One PEFT method attached at a site, with its resolved options and parameters. Made by
 * `compiler/peft/tune.ts : applyTune` (the instance tree itself is never changed by a tune
 * except for trainable flags) and consumed by lowering and the adapter format.
 */
export interface Attachment {
  readonly method: string;
  readonly options: Readonly<Record<string, number | boolean>>;
  readonly params: readonly ParamSlot[];
  readonly span: Span;
  /** Parameters shared by every site of one application (prefix tuning's encoder). */
  readonly shared?: SharedParams;
  /** Which application (method tune item, counted from 0 in tune order) attached it. */
  readonly application: number;
  /** This site's position among the application's sites, and their number. */
  readonly siteIndex: number;
  readonly siteCount: number;
}

/** Parameters a method creates once per application (one tune item), not per site. */
export interface SharedParams {
  readonly method: string;
  readonly params: readonly ParamSlot[];
}

export interface Instance {
  readonly path: string;
  /** Path split into selector segments: names, and indices of repeated children as strings. */
  readonly segments: readonly string[];
  /** The module (site type) name; the model's name for the root. */
  readonly type: string;
  readonly decl: ModuleDecl | ModelDecl;
  readonly args: ReadonlyMap<string, Scalar>;
  readonly params: ParamSlot[];
  readonly children: Map<string, Instance | Instance[]>;
  readonly forward?: ForwardDecl;
  /** Conditional params and children whose condition was false: they read as `none`. */
  readonly absent: ReadonlySet<string>;
  readonly span: Span;
}

export interface ModelInput {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly Dim[];
  readonly span: Span;
}

export interface ElaboratedModel {
  readonly name: string;
  readonly root: Instance;
  readonly inputs: readonly ModelInput[];
  readonly config: ReadonlyMap<string, Scalar>;
  /** Its `weights { ... }` blocks: the default starting weights (compiler/sema/model-weights.ts). */
  readonly weights: readonly ModelWeights[];
}

/**
 * The value a method gives an int `hook NAME(…)` point of an instance that encloses its sites
 * (`PeftMethod.enclosingHooks`): prefix tuning sets its BERT's `past_length`.
 */
export interface HookValue {
  readonly value: number;
  readonly method: string;
  /** The tune item that set it. */
  readonly span: Span;
  /** The first site (path) it came from. */
  readonly site: string;
  /** What the value means (`EnclosingHook.doc`): the help of errors it causes. */
  readonly doc: string;
}

/** What a tune attaches to a model: applyTune's result, which lowering consumes. */
export interface Attachments {
  /** The methods at each site, in the order attached (the first attached is innermost). */
  readonly bySite: ReadonlyMap<Instance, readonly Attachment[]>;
  /** Parameters shared across the sites of one method application, in tune order. */
  readonly shared: readonly SharedParams[];
  /** Values methods set at int `hook NAME(…)` points of enclosing instances, by instance and hook name. */
  readonly hookValues?: ReadonlyMap<Instance, ReadonlyMap<string, HookValue>>;
}

export const NO_ATTACHMENTS: Attachments = { bySite: new Map(), shared: [] };

export function attachmentsAt(attachments: Attachments, site: Instance): readonly Attachment[] {
  return attachments.bySite.get(site) ?? [];
}

export function* walkInstances(i: Instance): Generator<Instance> {
  yield i;
  for (const c of i.children.values()) {
    if (Array.isArray(c)) for (const x of c) yield* walkInstances(x);
    else yield* walkInstances(c);
  }
}

/** Every parameter: each instance's own, then those its attachments add, in tree order; then the shared ones. */
export function allParams(model: ElaboratedModel, attachments: Attachments = NO_ATTACHMENTS): ParamSlot[] {
  const out: ParamSlot[] = [];
  for (const i of walkInstances(model.root)) {
    out.push(...i.params);
    for (const a of attachmentsAt(attachments, i)) out.push(...a.params);
  }
  for (const s of attachments.shared) out.push(...s.params);
  return out;
}

export function scalarText(s: Scalar): string {
  return s.kind === 'none' ? 'none' : String(s.v);
}
