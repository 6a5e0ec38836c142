/**
 * The PEFT method interface. A method is a graph rewrite at typed sites: it declares the
 * module types it attaches to, its options, the parameters it adds at each site, and how
 * a call of the site is rewritten in terms of the original call (`base`).
 * Built-in methods and TypeScript plugins implement this same interface.
 */
import type { InitSpec, NodeId } from '../ir/graph.ts';
import type { MethodOptions, RewriteContext } from '../lower/rewrite.ts';
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


export interface AddedParam {
  readonly name: string;
  readonly shape: readonly number[];
  readonly init: InitSpec;
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

export type { MethodOptions, RewriteContext } from '../lower/rewrite.ts';
