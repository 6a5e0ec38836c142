/** Initial parameter values, deterministic per (seed, parameter name). */
import type { Graph } from '../compiler/ir/graph.ts';
import { internalPath } from '../core/param-path.ts';
import { initParam, mulberry32 } from './init.ts';

/**
 * `given` holds values loaded from elsewhere (`--weights`): they replace the drawn ones, and
 * inits derived from another parameter see them — DoRA's magnitude is the row norm of the
 * *loaded* base weight, as peft computes it when it wraps a pretrained layer.
 */
export function initialParams(g: Graph, seed: number, given: ReadonlyMap<string, Float32Array> = new Map()): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  // Inits computed from another parameter's initial value (`row_norm`) go after the rest.
  const derived = (p: (typeof g.params)[number]) => p.init.kind === 'row_norm';
  for (const p of [...g.params.filter((q) => !derived(q)), ...g.params.filter(derived)]) {
    const v = given.get(p.name);
    if (v) {
      out.set(p.name, v);
      continue;
    }
    // Each parameter draws from its own stream, so adding a parameter elsewhere (a new
    // adapter) does not change the initial values of the others. The stream is keyed by the
    // compiler's spelling of the path, so a graph named the user-facing way (a typed module's)
    // draws the same values.
    let h = (seed ^ 0x811c9dc5) >>> 0;
    for (const c of internalPath(p.name)) h = Math.imul(h ^ c.charCodeAt(0), 16777619) >>> 0;
    out.set(p.name, Float32Array.from(initParam(p.init, p.shape as number[], mulberry32(h), (name) => out.get(name))));
  }
  // Keep the graph's parameter order.
  return new Map(g.params.map((p) => [p.name, out.get(p.name)!]));
}
