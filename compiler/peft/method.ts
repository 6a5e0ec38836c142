/**
 * The PEFT method interface. A method is a graph rewrite at typed sites: it declares the
 * module types it attaches to, its options, the parameters it adds at each site, and how
 * a call of the site is rewritten in terms of the original call (`base`).
 * Built-in methods and TypeScript plugins implement this same interface.
 */
import type { Block } from '../../grammar/ast.ts';
import type { Span } from '../diag/span.ts';
import type { GraphBuilder, InitSpec, NodeId } from '../ir/graph.ts';
import type { Value } from '../ir/value.ts';
import type { Instance, Scalar } from '../sema/instance.ts';

export interface MethodOption {
  readonly type: 'int' | 'float' | 'bool';
  readonly default: number | boolean;
  readonly doc: string;
  /** Returns an error message for an invalid value. */
  readonly check?: (v: number | boolean) => string | undefined;
  /** A tune must give this option (`default` is then unused). */
  readonly required?: boolean;
}

export type MethodOptions = Readonly<Record<string, number | boolean>>;

export interface AddedParam {
  readonly name: string;
  readonly shape: readonly number[];
  readonly init: InitSpec;
}

/** What a rewrite may use while lowering one call of its site. */
export interface RewriteContext {
  readonly b: GraphBuilder;
  readonly site: Instance;
  readonly options: MethodOptions;
  /** The tensor arguments of this call, in the site's forward order. */
  readonly args: readonly NodeId[];
  /** The site's own computation (or the next method's rewrite, when methods stack). */
  readonly base: (args: readonly NodeId[]) => NodeId;
  /** Parameter nodes this method added at this site, by name. */
  readonly params: Readonly<Record<string, NodeId>>;
  /** Inverted dropout that is active only in training graphs. */
  readonly dropout: (x: NodeId, p: number) => NodeId;
  /** The site's own parameters (e.g. a Linear's `weight`), by name. */
  readonly siteParams: Readonly<Record<string, NodeId>>;
  /** Parameters shared by all sites of this application, by name (see `PeftMethod.shared`). */
  readonly shared: Readonly<Record<string, NodeId>>;
  /** This site's position among the application's sites, and how many there are. */
  readonly siteIndex: number;
  readonly siteCount: number;
  /**
   * Intervenes at a `hook NAME(...)` point of the site's forward for the `base` calls made
   * by this rewrite: `fn` receives the hooked tensor and returns its replacement.
   */
  readonly hook: (name: string, fn: (x: NodeId) => NodeId) => void;
  readonly origin: Span;
  /**
   * Evaluates a `.mile` block with exactly `vars` (and the builtins) in scope, building IR like a
   * forward body: how methods written in `.mile` (`mile-method.ts`) run their `rewrite`.
   */
  readonly evalBlock: (block: Block, vars: ReadonlyMap<string, Value>) => Value | undefined;
  /** A value as a tensor node (scalars become constants); a located type error otherwise. */
  readonly tensorOf: (v: Value, at: Span) => NodeId;
}

export interface PeftMethod {
  readonly name: string;
  readonly summary: string;
  /** Module types (site types) this method attaches to; `'*'` means any type that has the `hooks`. */
  readonly sites: readonly string[];
  readonly options: Readonly<Record<string, MethodOption>>;
  /** Parameters added at one site, given the site's module arguments. Returns a message on a site it cannot use. */
  params(site: Instance, options: MethodOptions): readonly AddedParam[] | string;
  /** Parameters created once per application and shared by all its sites (in site order). */
  shared?(sites: readonly Instance[], options: MethodOptions): readonly AddedParam[] | string;
  /** `hook` points the site's forward must have (e.g. prefix tuning needs `keys` and `values`). */
  readonly hooks?: readonly string[];
  /** Makes the site's own parameters trainable (LN-tuning) instead of adding any. */
  readonly trainsSite?: boolean;
  rewrite(ctx: RewriteContext): NodeId;
}

export function siteInt(site: Instance, name: string): number | undefined {
  const v: Scalar | undefined = site.args.get(name);
  return v && v.kind === 'int' && typeof v.v === 'number' ? v.v : undefined;
}
