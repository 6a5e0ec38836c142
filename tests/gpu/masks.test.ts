/**
 * The padding masks and cross_entropy's ignore/reduction paths on Dawn against the float64
 * reference: they are compositions of existing ops (one_hot, slice, pad, eq, div), so this
 * checks the compositions as the fused kernels run them: forward values and gradients of a
 * small model using all of them. (The tiny VQA model's masks run on the GPU in
 * tests/generate/gpu.test.ts, whose questions are padded.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileFrontEnd } from '../../compiler/pipeline.ts';
import type { Graph } from '../../compiler/ir/graph.ts';
import { specialize } from '../../compiler/ir/specialize.ts';
import { type GpuContext, openDevice } from '../../runtime/device.ts';
import { runReference } from '../../runtime/reference-run.ts';
import { type Feeds, maxRelError, runOnGpu } from './harness.ts';
import { fileHost } from '../../runtime/source-files.ts';

let ctx: GpuContext;
beforeAll(async () => {
  ctx = await openDevice();
});
afterAll(() => ctx?.close());

function compiled(opts: { file?: string; text?: string; tune?: string }, B: number): Graph {
  const r = compileFrontEnd({ host: fileHost(), file: opts.file ?? 'test.mile', text: opts.text, tune: opts.tune, training: true });
  expect(r.diagnostics).toEqual([]);
  return specialize(r.result!.train!, { B });
}

/** Runs every output and gradient of `g` on the GPU and compares each with the reference. */
async function compare(g: Graph, feeds: Feeds, tol: number): Promise<number> {
  const named = [...Object.entries(g.outputs), ...Object.entries(g.grads).map(([k, v]) => [`d ${k}`, v] as const)];
  const ref = runReference(g, feeds);
  const { values, exec } = await runOnGpu(
    ctx,
    g,
    feeds,
    named.map(([, id]) => id),
  );
  exec.destroy();
  for (const [name, id] of named) {
    const { err, at } = maxRelError(values.get(id)!, ref[id]!.data);
    expect(err, `${name}[${at}]: gpu ${values.get(id)![at]} vs reference ${ref[id]!.data[at]}`).toBeLessThanOrEqual(tol);
  }
  return named.length;
}

describe('padding masks and ignore on the GPU', () => {
  it('cross_entropy reductions with ignore, attention_mask and attention_bias', async () => {
    const text = `
model CE {
  input x: f32[B, 4, 3]
  input labels: i32[B, 4]
  input pads: i32[B, 4]
  input ids: i32[B, 4]
  param w: f32[3, 6] = normal(0, 1)
  param v: f32[3, 4] = normal(0, 1)
  forward {
    let logits = x @ w
    output none0 = cross_entropy(logits, labels, smoothing = 0.1, ignore = 0, reduction = "none")
    output sum0 = cross_entropy(logits, labels, ignore = 0, reduction = "sum")
    output neg = cross_entropy(logits, labels, smoothing = 0.1, ignore = -100)
    output all_ignored = cross_entropy(logits, pads, ignore = 0)
    output bias = attention_bias(attention_mask(ids, pad = 1), 7)
    let scores = reshape(x @ v, [-1, 1, 4, 4]) + attention_bias(attention_mask(ids), 4)
    output att = softmax(scores)
    loss cross_entropy(logits, labels, smoothing = 0.1, ignore = 2) + sum(softmax(scores) * reshape(x @ v, [-1, 1, 4, 4]))
  }
}`;
    const g = compiled({ text }, 3);
    const feeds: Feeds = {
      params: new Map([
        ['w', Float64Array.from({ length: 18 }, (_, i) => Math.cos(0.9 * i))],
        ['v', Float64Array.from({ length: 12 }, (_, i) => Math.sin(0.7 * i + 1))],
      ]),
      inputs: new Map<string, Float64Array | Int32Array>([
        ['x', Float64Array.from({ length: 36 }, (_, i) => Math.sin(0.37 * i))],
        ['labels', Int32Array.of(0, 1, 2, 5, 0, 0, 3, -100, 2, 4, 0, 1)],
        ['pads', new Int32Array(12)],
        ['ids', Int32Array.of(2, 5, 0, 0, 1, 3, 1, 0, 2, 2, 2, 0)],
      ]),
    };
    expect(await compare(g, feeds, 1e-4)).toBeGreaterThan(5);
  });
});
