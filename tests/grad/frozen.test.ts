/**
 * Frozen weights cost no backward work: in a LoRA-style layer `x @ Wᵀ + x @ Aᵀ @ Bᵀ` with W
 * frozen, autodiff must build gradients for A and B only, and never W's weight-gradient matmul.
 */
import { describe, expect, it } from 'vitest';
import { internalSpan } from '../../core/span.ts';
import { differentiate } from '../../compiler/grad/grad.ts';
import { type Graph, GraphBuilder, type NodeId } from '../../compiler/ir/graph.ts';
import type { DType } from '../../compiler/ops/kinds.ts';

const [N, D, O, R, D0] = [3, 5, 4, 2, 6];

function param(b: GraphBuilder, name: string, shape: number[], trainable: boolean): NodeId {
  const id = b.op('param', [], { name, shape });
  b.params.push({ name, node: id, shape, init: { kind: 'zeros' }, trainable, origin: internalSpan });
  return id;
}

function input(b: GraphBuilder, name: string, shape: number[], dtype: DType = 'f32'): NodeId {
  const id = b.op('input', [], { name, shape, dtype });
  b.inputs.push({ name, node: id, shape, dtype });
  return id;
}

const linT = (b: GraphBuilder, x: NodeId, w: NodeId) => b.op('matmul', [x, w], { transA: false, transB: true });

/** The LoRA layer; with `trainableInput`, x itself comes from a trainable projection P. */
function lora(trainableInput: boolean): { g: Graph; W: NodeId; x: NodeId } {
  const b = new GraphBuilder();
  const x = trainableInput ? b.op('relu', [linT(b, input(b, 'x0', [N, D0]), param(b, 'P', [D, D0], true))], {}) : input(b, 'x', [N, D]);
  const W = param(b, 'W', [O, D], false);
  const A = param(b, 'A', [R, D], true);
  const B = param(b, 'B', [O, R], true);
  const y = b.add(linT(b, x, W), linT(b, linT(b, x, A), B));
  b.outputs.loss = b.sum(b.mul(y, input(b, 'R', [N, O])), [0, 1], false);
  return { g: b.build(), W, x };
}

function backwardOf(fwd: Graph, full: Graph) {
  return full.nodes.slice(fwd.nodes.length);
}

describe('frozen weights', () => {
  it('builds gradients for the adapter only, with no weight-gradient matmul for W', () => {
    const { g, W, x } = lora(false);
    const full = differentiate(g);
    expect(Object.keys(full.grads).sort()).toEqual(['A', 'B']);
    const back = backwardOf(g, full);
    // Nothing in the backward pass reads W: x is an input, so not even dx = g·W is needed.
    expect(back.some((n) => n.src.includes(W))).toBe(false);
    // No node has W's shape (that would be dW = gᵀ·x).
    expect(back.some((n) => n.shape.length === 2 && n.shape[0] === O && n.shape[1] === D)).toBe(false);
    // dB = gᵀ·(x·Aᵀ), d(x·Aᵀ) = g·B, dA = d(x·Aᵀ)ᵀ·x: three matmuls, none touching W.
    const mms = back.filter((n) => n.op === 'matmul');
    expect(mms.length).toBe(3);
    expect(mms.map((n) => n.shape)).toEqual(
      expect.arrayContaining([
        [O, R],
        [N, R],
        [R, D],
      ]),
    );
    expect(mms.filter((n) => n.src.includes(x)).map((n) => n.shape)).toEqual([[R, D]]);
    expect(full.nodes[full.grads.A!]!.shape).toEqual([R, D]);
    expect(full.nodes[full.grads.B!]!.shape).toEqual([O, R]);
  });

  it('still passes the gradient through W to a trainable input, without computing dW', () => {
    const { g, W } = lora(true);
    const full = differentiate(g);
    expect(Object.keys(full.grads).sort()).toEqual(['A', 'B', 'P']);
    const back = backwardOf(g, full);
    const mms = back.filter((n) => n.op === 'matmul');
    // dB, d(x·Aᵀ), dA, dx via W, dx via A, dP.
    expect(mms.length).toBe(6);
    expect(mms.some((n) => n.shape[0] === O && n.shape[1] === D)).toBe(false);
    // W is read exactly once, by dx = g·W, whose result has x's shape.
    const readsW = back.filter((n) => n.src.includes(W));
    expect(readsW.map((n) => [n.op, n.shape])).toEqual([['matmul', [N, D]]]);
  });
});

describe('detach', () => {
  it('stops the gradient: d/dx sum(x * detach(x)) = x, not 2x', async () => {
    const { runReference } = await import('../../runtime/reference-run.ts');
    const b = new GraphBuilder();
    const x = param(b, 'x', [4], true);
    b.outputs.loss = b.sum(b.mul(x, b.op('detach', [x], {})), [0], false);
    const g = differentiate(b.build());
    const xs = Float64Array.of(0.5, -1.25, 2, 3.5);
    const vals = runReference(g, { params: new Map([['x', xs]]), inputs: new Map() });
    expect(Array.from(vals[g.grads.x!]!.data)).toEqual(Array.from(xs));
  });
});
