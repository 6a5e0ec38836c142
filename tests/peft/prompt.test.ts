/** Prompt tuning: n virtual-token embeddings prepended to an Embedding's output; positions after. */
import { describe, expect, it } from 'vitest';
import { addedCount, B, compile, expectClose, gradCheck, randomParams, run, type Inputs, type Params } from './helpers.ts';

const vocab = 7;
const dim = 4;
const seq = 3;
const n = 2;

const text = `use std.nn

model P1 {
  config { vocab = ${vocab}, dim = ${dim}, seq = ${seq} }
  input ids: i32[B, seq]
  embed = Embedding(vocab, dim)
  pos   = Positions(8, dim)
  forward {
    output out = pos(embed(ids))
    loss mean(out * out * out) + mean(out)
  }
}

tune base for P1 { train pos }
tune prompt for P1 { prompt(tokens = ${n}) on embed }
`;

const inputs = (): Inputs => new Map([['ids', Int32Array.from({ length: B * seq }, (_, i) => (i * 5 + 1) % vocab)]]);

/** [P; E(ids)] + positions[0 : n + seq], per batch row. */
function formula(p: Params, ids: Int32Array, prompt: number): Float64Array {
  const E = p.get('embed.weight')!;
  const P = p.get('embed.prompt_embeddings');
  const pos = p.get('pos.weight')!;
  const L = prompt + seq;
  return Float64Array.from({ length: B * L * dim }, (_, i) => {
    const [b, t, c] = [Math.floor(i / (L * dim)), Math.floor(i / dim) % L, i % dim];
    const e = t < prompt ? P![t * dim + c]! : E[ids[b * seq + t - prompt]! * dim + c]!;
    return e + pos[t * dim + c]!;
  });
}

describe('prompt tuning', () => {
  it('the base model adds positions to the embeddings', () => {
    const fe = compile(text, 'base');
    const p = randomParams(fe.forward, 1, { B });
    expectClose(run(fe.forward, { B }, p, inputs()).out!, formula(p, inputs().get('ids') as Int32Array, 0));
  });

  it('prepends the virtual tokens, and positions cover the longer sequence', () => {
    const fe = compile(text, 'prompt');
    const p = randomParams(fe.forward, 2, { B });
    const out = fe.forward.outputs.out!;
    expect(fe.forward.nodes[out]!.shape).toEqual(['B', n + seq, dim]);
    expectClose(run(fe.forward, { B }, p, inputs()).out!, formula(p, inputs().get('ids') as Int32Array, n));
  });

  it('adds n·dim parameters, normal(0, 1) as a fresh nn.Embedding', () => {
    const fe = compile(text, 'prompt');
    expect(addedCount(fe, 'prompt')).toBe(n * dim);
    expect(fe.forward.params.find((q) => q.name === 'embed.prompt_embeddings')!.init).toEqual({ kind: 'normal', mean: 0, std: 1 });
  });

  it('gradients of the prompt match finite differences', () => {
    const fe = compile(text, 'prompt');
    gradCheck(fe, { B }, randomParams(fe.forward, 3, { B }), inputs(), (name) => name.endsWith('prompt_embeddings'));
  });
});
