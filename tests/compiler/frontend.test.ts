import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { compileFrontEnd } from '../../compiler/pipeline.ts';
import { specialize } from '../../compiler/ir/specialize.ts';
import { runReference } from '../../runtime/reference-run.ts';
import { initialParams } from '../../runtime/params.ts';
import { compileOk } from './helpers.ts';
import { fileHost } from '../../runtime/source-files.ts';
import { elementCount } from '../../core/dim.ts';

const tiny = 'examples/tiny_classifier.mile';

describe('the tiny example', () => {
  it('compiles every tune, with the trainable counts of their formulas', () => {
    const full = compileFrontEnd({ host: fileHost(), file: tiny, tune: 'full', training: true }).result!;
    const lora = compileFrontEnd({ host: fileHost(), file: tiny, tune: 'lora_qv', training: true }).result!;
    const base = full.forward.params.reduce((n, p) => n + elementCount(p.shape), 0);
    // vocab·dim + max_len·dim (positions) + depth·(2 LN + 4 attention Linear + MLP) + final LN + head
    const dim = 32,
      hidden = 64,
      depth = 2,
      classes = 4,
      vocab = 64,
      maxLen = 32;
    const block = 2 * 2 * dim + 4 * (dim * dim + dim) + (dim * hidden + hidden) + (hidden * dim + dim);
    expect(base).toBe(vocab * dim + maxLen * dim + depth * block + 2 * dim + dim * classes + classes);
    expect(full.forward.params.every((p) => p.trainable)).toBe(true);
    const trainable = lora.forward.params.filter((p) => p.trainable);
    // LoRA r=8 on query and value of 2 blocks: r·(in+out) each; plus the head.
    expect(trainable.reduce((n, p) => n + elementCount(p.shape), 0)).toBe(depth * 2 * 8 * (dim + dim) + dim * classes + classes);
    expect(trainable.filter((p) => p.addedBy === 'lora').map((p) => p.name)).toEqual([
      'blocks[0].attn.query.lora_A',
      'blocks[0].attn.query.lora_B',
      'blocks[0].attn.value.lora_A',
      'blocks[0].attn.value.lora_B',
      'blocks[1].attn.query.lora_A',
      'blocks[1].attn.query.lora_B',
      'blocks[1].attn.value.lora_A',
      'blocks[1].attn.value.lora_B',
    ]);
    expect(lora.tune.matches.find((m) => m.method === 'lora')!.sites).toEqual([
      'blocks[0].attn.query',
      'blocks[0].attn.value',
      'blocks[1].attn.query',
      'blocks[1].attn.value',
    ]);
    // Gradients exist for exactly the trainable parameters.
    expect(Object.keys(lora.train!.grads).sort()).toEqual(trainable.map((p) => p.name).sort());
  });

  it('LoRA with B = 0 leaves the forward output equal to the base model', () => {
    const text = readFileSync(tiny, 'utf8');
    const base = compileOk(text, { tune: 'full' });
    const lora = compileOk(text, { tune: 'lora_qv' });
    const feedsFor = (g: typeof base.forward) => {
      const c = specialize(g, { B: 3 });
      const init = initialParams(c, 7);
      const params = new Map([...init].map(([k, v]) => [k, Float64Array.from(v)]));
      const tokens = Float64Array.from({ length: 3 * 16 }, (_, i) => (i * 37 + 5) % 64);
      const labels = Float64Array.of(0, 1, 3);
      return {
        c,
        out: runReference(c, {
          params,
          inputs: new Map([
            ['tokens', tokens],
            ['labels', labels],
          ]),
        }),
      };
    };
    const a = feedsFor(base.forward);
    const b = feedsFor(lora.forward);
    const la = a.out[a.c.outputs.logits!]!.data;
    const lb = b.out[b.c.outputs.logits!]!.data;
    expect(Array.from(lb)).toEqual(Array.from(la));
    expect(la.some((x) => x !== 0)).toBe(true);
  });

  it('never builds a weight gradient for a frozen weight', () => {
    const lora = compileFrontEnd({ host: fileHost(), file: tiny, tune: 'lora_qv', training: true }).result!;
    const g = lora.train!;
    const frozen = new Set(g.params.filter((p) => !p.trainable).map((p) => p.node));
    // A weight gradient of a frozen Linear would be a matmul shaped like the weight.
    const frozenShapes = new Set(g.params.filter((p) => !p.trainable && p.shape.length === 2).map((p) => p.shape.join('x')));
    const backward = g.nodes.slice(lora.forward.nodes.length);
    const weightGrads = backward.filter((n) => n.op === 'matmul' && frozenShapes.has(n.shape.slice(-2).join('x')));
    expect(weightGrads).toEqual([]);
    expect(frozen.size).toBeGreaterThan(0);
  });
});
