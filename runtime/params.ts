/** Initial parameter values, deterministic per (seed, parameter name). */
import type { Graph } from '../compiler/ir/graph.ts';
import { initParam, mulberry32 } from './init.ts';

export function initialParams(g: Graph, seed: number): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const p of g.params) {
    // Each parameter draws from its own stream, so adding a parameter elsewhere (a new
    // adapter) does not change the initial values of the others.
    let h = (seed ^ 0x811c9dc5) >>> 0;
    for (const c of p.name) h = Math.imul(h ^ c.charCodeAt(0), 16777619) >>> 0;
    out.set(p.name, Float32Array.from(initParam(p.init, p.shape as number[], mulberry32(h))));
  }
  return out;
}
