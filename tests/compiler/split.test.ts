/**
 * Splitting a graph at one input (`compiler/ir/split.ts`): on the tiny VQA model's inference
 * forward split at `answer`, the head holds the image and question towers, the tail only the
 * decoder, and head-then-tail on the float64 reference gives exactly the unsplit logits.
 */
import { describe, expect, it } from 'vitest';
import type { Graph } from '../../compiler/ir/graph.ts';
import { specialize } from '../../compiler/ir/specialize.ts';
import { splitAtInput } from '../../compiler/ir/split.ts';
import { buildBackend } from '../../compiler/backend.ts';
import { compileFrontEnd } from '../../compiler/pipeline.ts';
import { mulberry32 } from '../../runtime/init.ts';
import { initialParams } from '../../runtime/params.ts';
import { runReference } from '../../runtime/reference-run.ts';
import { TestGraph } from '../gpu/harness.ts';
import { fileHost } from '../../runtime/source-files.ts';

function forward(): Graph {
  const fe = compileFrontEnd({ host: fileHost(), file: 'examples/vqa_tiny.mile', training: false });
  expect(fe.diagnostics).toEqual([]);
  const g = fe.result!.forward;
  return { ...g, outputs: { logits: g.outputs.logits! } };
}

/** Node ids of `g` that depend (transitively) on input `name`. */
function dependents(g: Graph, name: string): Set<number> {
  const out = new Set<number>();
  for (const n of g.nodes)
    if ((n.op === 'input' && (n.attrs as { name: string }).name === name) || n.src.some((s) => out.has(s))) out.add(n.id);
  return out;
}

describe('splitAtInput', () => {
  it('splits the VQA forward into the towers (head) and the decoder (tail), with the same logits', () => {
    const g = forward();
    const { head, tail, boundary } = splitAtInput(g, 'answer');
    expect(boundary.length).toBeGreaterThan(0);
    // The head reads the image and the question, never the answer; the tail reads the answer and the boundary only.
    expect(head.inputs.map((i) => i.name).sort()).toEqual(['image', 'question']);
    expect(tail.inputs.map((i) => i.name).sort()).toEqual(['answer', ...boundary.map((b) => b.name)].sort());
    expect(dependents(head, 'answer').size).toBe(0);
    expect(Object.keys(head.outputs).sort()).toEqual(boundary.map((b) => b.name).sort());
    for (const b of boundary) {
      expect(head.outputs[b.name]).toBe(b.headOutput);
      const hn = head.nodes[b.headOutput]!;
      const tn = tail.nodes[b.tailInput]!;
      expect(tn.op).toBe('input');
      expect(tn.shape).toEqual(hn.shape);
      expect(tn.dtype).toBe(hn.dtype);
      // Per-item values: batch-major.
      expect(hn.shape[0]).toBe('B');
    }
    // The towers (ViT, text encoder) are in the head: the tail is far smaller than the whole.
    const work = (x: Graph) => x.nodes.filter((n) => n.src.length > 0).length;
    expect(work(tail)).toBeLessThan(work(g) / 2);
    expect(tail.params.some((p) => p.name.startsWith('visual_encoder.') || p.name.startsWith('text_encoder.'))).toBe(false);
    expect(head.params.some((p) => p.name.startsWith('visual_encoder.'))).toBe(true);
    expect(head.params.some((p) => p.name.startsWith('text_encoder.'))).toBe(true);

    // Both halves plan for the GPU.
    expect(buildBackend(head, { B: 2 }, { target: 'cpu' }).plan.steps.length).toBeGreaterThan(0);
    expect(buildBackend(tail, { B: 5 }, { target: 'cpu' }).plan.steps.length).toBeGreaterThan(0);

    // Head then tail equals the whole, exactly, in float64.
    const B = 3;
    const rng = mulberry32(5);
    const params = new Map([...initialParams(g, 3)].map(([k, v]) => [k, Float64Array.from(v)]));
    const inputs = new Map<string, Float64Array | Int32Array>([
      ['image', Float64Array.from({ length: B * 3 * 16 * 16 }, () => 2 * rng() - 1)],
      [
        'question',
        Int32Array.from({ length: B * 8 }, (_, i) =>
          i % 8 === 0 ? 2 : i % 8 >= 6 + (Math.floor(i / 8) % 2) ? 0 : 5 + Math.floor(rng() * 19),
        ),
      ],
      ['answer', Int32Array.from({ length: B * 6 }, (_, i) => (i % 6 === 0 ? 4 : i % 6 >= 4 ? 0 : 5 + Math.floor(rng() * 19)))],
    ]);
    const whole = specialize(g, { B });
    const want = runReference(whole, { params, inputs })[whole.outputs.logits!]!;
    const h = specialize(head, { B });
    const hv = runReference(h, { params, inputs });
    const t = specialize(tail, { B });
    const tailInputs = new Map(inputs);
    tailInputs.delete('image');
    tailInputs.delete('question');
    for (const b of boundary) tailInputs.set(b.name, hv[h.outputs[b.name]!]!.data);
    const got = runReference(t, { params, inputs: tailInputs })[t.outputs.logits!]!;
    expect(got.shape).toEqual(want.shape);
    expect(Array.from(got.data)).toEqual(Array.from(want.data));
  });

  it('gives an empty head when nothing is independent of the input', () => {
    const t = new TestGraph(1);
    const x = t.input([4, 3]);
    const w = t.param([3, 2]);
    // A free node (param-only): recomputed by the tail, not a boundary.
    const wt = t.b.op('neg', [w], {});
    t.b.outputs.y = t.b.op('matmul', [x, wt], { transA: false, transB: false });
    const g = t.build();
    const s = splitAtInput(g, g.inputs[0]!.name);
    expect(s.headNodes).toBe(0);
    expect(s.boundary).toEqual([]);
    expect(s.head.nodes).toEqual([]);
    expect(s.tail.nodes.length).toBe(g.nodes.length);
  });
});
