/**
 * What lowering promises a PEFT method at a site, and what it needs from one. `lower` calls
 * `rewrite` for each attachment of a site; the method interface (`compiler/peft/method.ts`)
 * builds on this contract, so the lowering stage never depends on the PEFT layer above it.
 */
import type { Block } from '../../grammar/ast.ts';
import type { Span } from '../../core/span.ts';
import type { GraphBuilder, NodeId } from '../ir/graph.ts';
import type { Instance } from '../sema/instance.ts';
import type { Value } from './value.ts';

export type MethodOptions = Readonly<Record<string, number | boolean>>;

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
  /**
   * A node built once per application of this method (one tune item) and graph, and shared
   * by all its sites: `build` runs at the first site that asks for `key`. Prefix tuning
   * drops out P here, so every site sees one dropout mask.
   */
  readonly perApplication: (key: string, build: () => NodeId) => NodeId;
  readonly origin: Span;
  /**
   * Evaluates a `.mile` block with exactly `vars` (and the builtins) in scope, building IR like a
   * forward body: how methods written in `.mile` (`compiler/peft/mile-method-apply.ts`) run their `rewrite`.
   */
  readonly evalBlock: (block: Block, vars: ReadonlyMap<string, Value>) => Value | undefined;
  /** A value as a tensor node (scalars become constants); a located type error otherwise. */
  readonly tensorOf: (v: Value, at: Span) => NodeId;
}

/** The part of a method that lowering calls. */
export interface SiteRewriter {
  rewrite(ctx: RewriteContext): NodeId;
}

/** Finds the method of an attachment by name (a `MethodRegistry`). */
export interface MethodLookup {
  get(name: string): SiteRewriter | undefined;
}
