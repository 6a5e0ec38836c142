/** Option checks and small helpers shared by the built-in PEFT methods. */
import { CompileError, error } from '../../../core/diagnostic.ts';
import type { Span } from '../../../core/span.ts';
import { shapeToString } from '../../../core/dim.ts';
import type { GraphBuilder, NodeId } from '../../ir/graph.ts';
import type { Instance } from '../../sema/instance.ts';
import { siteInt } from '../method.ts';

export const positive = (v: number | boolean) => (typeof v === 'number' && v > 0 ? undefined : 'must be positive');
export const probability = (v: number | boolean) => (typeof v === 'number' && v >= 0 && v < 1 ? undefined : 'must be in [0, 1)');

/** A located error raised while a method rewrites a site (reported at the tune item). */
export function rewriteError(message: string, at: Span): CompileError {
  return new CompileError(error('tune', message, at));
}

/** `x @ wᵀ` over the last axis of `x`. */
export function linear(b: GraphBuilder, x: NodeId, w: NodeId, bias: NodeId | undefined, at: Span): NodeId {
  const y = b.op('matmul', [x, w], { transA: false, transB: true }, at);
  return bias === undefined ? y : b.add(y, bias, at);
}

/** The width of a site's hidden state: its `dim` argument, else its `key` Linear's `out`. */
export function siteWidth(site: Instance, what: string): number | string {
  const dim = siteInt(site, 'dim');
  if (dim !== undefined) return dim;
  const key = site.children.get('key');
  if (key && !Array.isArray(key)) {
    const out = siteInt(key, 'out');
    if (out !== undefined) return out;
  }
  return `cannot tell the ${what} of \`${site.path}\` (${site.type}): it has no integer \`dim\` argument and no \`key\` Linear`;
}

/** Checks that the last axis of `x` is `d`. */
export function expectWidth(b: GraphBuilder, x: NodeId, d: number, what: string, at: Span): void {
  const s = b.shape(x);
  if (s[s.length - 1] !== d) throw rewriteError(`${what} has shape ${shapeToString(s)}, expected a last axis of ${d}`, at);
}
