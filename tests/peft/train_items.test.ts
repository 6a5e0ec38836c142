/**
 * The methods that add nothing: LN-tuning (`ln_tuning()`, which trains the selected LayerNorms'
 * own weight and bias), BitFit (`train **.bias`) and full fine-tuning (`train **`, or no tune).
 */
import { describe, expect, it } from 'vitest';
import { B, compile, expectClose, floats, gradCheck, initParams, randomParams, run, trainableCount, type Inputs } from './helpers.ts';

const T = 3;
const dim = 6;
const hidden = 8;

const text = `use std.nn, std.attention

model N1 {
  config { dim = ${dim}, hidden = ${hidden} }
  input x: f32[B, ${T}, dim]
  input y: f32[B, ${T}, dim]
  block = TransformerBlock(dim, 2, hidden)
  norm  = LayerNorm(dim, 1e-5)
  forward {
    output out = norm(block(x))
    loss mean((out - y) * (out - y))
  }
}

tune ln for N1 { ln_tuning() on block.{norm1, norm2}, norm }
tune bitfit for N1 { train **.bias }
tune full for N1 { train ** }
`;

const inputs = (): Inputs =>
  new Map([
    ['x', floats(B * T * dim, 51)],
    ['y', floats(B * T * dim, 52)],
  ]);

const trainableNames = (tune: string | undefined) =>
  compile(text, tune)
    .forward.params.filter((p) => p.trainable)
    .map((p) => p.name);

describe('LN-tuning, BitFit and full fine-tuning', () => {
  it('ln_tuning trains exactly the selected LayerNorms, adds nothing and leaves the forward unchanged', () => {
    const fe = compile(text, 'ln');
    expect(fe.forward.params.some((p) => p.addedBy)).toBe(false);
    expect(trainableNames('ln')).toEqual([
      'block.norm1.weight',
      'block.norm1.bias',
      'block.norm2.weight',
      'block.norm2.bias',
      'norm.weight',
      'norm.bias',
    ]);
    expect(trainableCount(fe)).toBe(3 * 2 * dim);
    const full = compile(text, 'full');
    const p = randomParams(fe.forward, 1, { B });
    expectClose(run(fe.forward, { B }, p, inputs()).out!, run(full.forward, { B }, p, inputs()).out!, 1e-15);
    gradCheck(fe, { B }, p, inputs(), () => true);
  });

  it('BitFit (`train **.bias`) trains every bias and nothing else: 2·2d (LN) + 4d (attention) + h + d (MLP) + d (final LN)', () => {
    const fe = compile(text, 'bitfit');
    const names = trainableNames('bitfit');
    expect(names.every((n) => n.endsWith('.bias'))).toBe(true);
    expect(names).toHaveLength(2 + 4 + 2 + 1);
    expect(trainableCount(fe)).toBe(2 * dim + 4 * dim + hidden + dim + dim);
    gradCheck(fe, { B }, randomParams(fe.forward, 2, { B }), inputs(), (n) => n.startsWith('block.attn'), 6);
  });

  it('full fine-tuning (`train **`, or no tune) trains everything; no tune at all is the same graph', () => {
    const full = compile(text, 'full');
    const none = compile(text, undefined);
    expect(full.forward.params.every((p) => p.trainable)).toBe(true);
    expect(none.forward.params.every((p) => p.trainable)).toBe(true);
    expect(Object.keys(none.train!.grads).sort()).toEqual(Object.keys(full.train!.grads).sort());
    const init = initParams(full.forward, { B });
    expect(Array.from(run(none.forward, { B }, init, inputs()).out!)).toEqual(Array.from(run(full.forward, { B }, init, inputs()).out!));
  });
});
