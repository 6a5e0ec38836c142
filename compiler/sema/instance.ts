/**
 * The elaborated model: a tree of module instances with concrete arguments and
 * parameter shapes. Paths name instances the way users select them in tunes
 * (`blocks[0].attn.query`), and every instance is a typed site (its module name).
 */
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

/** One PEFT method attached at a site, with its resolved options and parameters. */
export interface Attachment {
  readonly method: string;
  readonly options: Readonly<Record<string, number | boolean>>;
  readonly params: readonly ParamSlot[];
  readonly span: Span;
  /** Parameters shared by every site of one application (prefix tuning's encoder). */
  readonly shared?: SharedParams;
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
  readonly attachments: Attachment[];
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
  /** Filled by the tune: parameters shared across the sites of one method application. */
  readonly shared: SharedParams[];
}

export function* walkInstances(i: Instance): Generator<Instance> {
  yield i;
  for (const c of i.children.values()) {
    if (Array.isArray(c)) for (const x of c) yield* walkInstances(x);
    else yield* walkInstances(c);
  }
}

export function allParams(model: ElaboratedModel): ParamSlot[] {
  const out: ParamSlot[] = [];
  for (const i of walkInstances(model.root)) {
    out.push(...i.params);
    for (const a of i.attachments) out.push(...a.params);
  }
  for (const s of model.shared) out.push(...s.params);
  return out;
}

export function scalarText(s: Scalar): string {
  return s.kind === 'none' ? 'none' : String(s.v);
}
