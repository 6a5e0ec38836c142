/**
 * Scheduling and buffer planning, without a GPU: which nodes get kernels, that every
 * kernel fits the binding limit, that pooled temporaries never clobber a value before its
 * last reader, that pooling saves memory, and that the printed plan is deterministic.
 */
import { describe, expect, it } from 'vitest';
import { MAX_STORAGE_BUFFERS, schedule } from '../../compiler/fuse/schedule.ts';
import { NodeStorage } from '../../compiler/fuse/storage.ts';
import { differentiate } from '../../compiler/grad/grad.ts';
import type { Graph, NodeId } from '../../compiler/ir/graph.ts';
import { type Plan, planGraph, printPlan } from '../../compiler/plan/buffers.ts';
import { TestGraph } from '../gpu/harness.ts';

/** A two-layer MLP with a softmax cross-entropy loss, differentiated. */
function mlp(): Graph {
  const t = new TestGraph(3);
  const b = t.b;
  const x = t.input([8, 16]);
  const w1 = t.param([16, 32]);
  const b1 = t.param([32]);
  const w2 = t.param([32, 10]);
  const labels = t.ids([8], 10);
  const h = b.op('gelu', [b.add(b.op('matmul', [x, w1], { transA: false, transB: false }), b1)], {});
  const logits = b.op('matmul', [h, w2], { transA: false, transB: false });
  const logp = b.op('log_softmax', [logits], {});
  const picked = b.mul(logp, b.op('one_hot', [labels], { classes: 10 }));
  b.outputs.loss = b.mul(b.op('sum', [picked], { axes: [0, 1], keepdims: false }), b.scalar(-1 / 8));
  return differentiate(b.build());
}

function rootsOf(g: Graph): NodeId[] {
  return [...Object.values(g.outputs), ...Object.values(g.grads)];
}

/**
 * Replays the plan, tracking which node each buffer holds: every binding a step reads
 * must still hold that node's value, and a step must not write a buffer it reads.
 */
function checkLiveness(g: Graph, p: Plan): void {
  const holds = new Map<number, NodeId>();
  for (const q of p.params) holds.set(q.buffer, q.node);
  for (const q of p.inputs) holds.set(q.buffer, q.node);
  p.steps.forEach((s, i) => {
    const [out, ...ins] = s.buffers;
    s.shader.bindings.slice(1).forEach((b, j) => {
      expect(holds.get(ins[j]!), `step ${i} (${s.shader.op}) reads %${b.node} from b${ins[j]}`).toBe(b.node);
      expect(ins[j], `step ${i} writes a buffer it reads`).not.toBe(out);
    });
    holds.set(out!, s.kernel.output);
  });
  for (const id of p.keep) expect(holds.get(p.nodeBuffer.get(id)!), `kept %${id} survives`).toBe(new NodeStorage(g).storageOf(id));
}

describe('schedule', () => {
  it('aliases reshapes, folds constants, and gives roots their own buffers', () => {
    const t = new TestGraph();
    const b = t.b;
    const x = t.input([2, 3]);
    const r = b.reshape(b.op('exp', [x], {}), [6]);
    const y = b.mul(r, b.scalar(3));
    const copy = b.reshape(t.param([6]), [2, 3]);
    const g = t.build();
    // Without fusion the reshape aliases exp's buffer.
    const ks = schedule(g, [y, copy], { fuse: false });
    expect(ks.map((k) => g.nodes[k.output]!.op)).toEqual(['exp', 'mul', 'reshape']);
    expect(ks[1]!.inputs).toEqual([new NodeStorage(g).storageOf(r)]);
    expect(new NodeStorage(g).storageOf(r)).toBe(g.nodes[r]!.src[0]);
    // With fusion the single-use reshape is an index identity, so exp fuses into mul through it.
    const fused = schedule(g, [y, copy]);
    expect(fused.map((k) => g.nodes[k.output]!.op)).toEqual(['mul', 'reshape']);
    expect(fused[0]!.nodes).toEqual([g.nodes[r]!.src[0], r, y]);
    expect(fused[0]!.inputs).toEqual([x]);
  });

  it('splits a concat whose sources exceed the storage-buffer limit', () => {
    const t = new TestGraph();
    const srcs = Array.from({ length: 11 }, () => t.input([1, 2]));
    const cat = t.b.op('concat', srcs, { axis: 0 });
    const g = t.build();
    const ks = schedule(g, [cat]);
    expect(ks.length).toBe(2);
    for (const k of ks) expect(k.inputs.length + 1).toBeLessThanOrEqual(MAX_STORAGE_BUFFERS);
    expect(ks.map((k) => k.concatPart)).toEqual([
      { first: 0, count: 7 },
      { first: 7, count: 4 },
    ]);
  });
});

describe('planGraph', () => {
  it('reuses temporaries by liveness without clobbering live values', () => {
    const g = mlp();
    const roots = rootsOf(g);
    const p = planGraph(g, { roots, keep: roots, optimizer: true });
    checkLiveness(g, p);
    expect(p.tempBytes).toBeLessThan(p.naiveTempBytes);
    expect(p.peakBytes).toBe(p.buffers.reduce((a, b) => a + b.bytes, 0));
    expect(p.updates.map((u) => u.name).sort()).toEqual(Object.keys(g.grads).sort());
    for (const s of p.steps) expect(s.buffers.length).toBeLessThanOrEqual(MAX_STORAGE_BUFFERS);
  });

  it('pools a long chain into two buffers', () => {
    const t = new TestGraph();
    let x = t.input([64]);
    for (let i = 0; i < 10; i++) x = t.b.op(i % 2 ? 'neg' : 'exp', [x], {});
    const root = t.b.op('sum', [x], { axes: [0], keepdims: false });
    const g = t.build();
    // Without fusion: every link of the chain is a temporary that pooling must recycle.
    const p = planGraph(g, { roots: [root], keep: [root], fuse: false });
    checkLiveness(g, p);
    expect(p.buffers.filter((b) => b.kind === 'temp').length).toBe(2);
    expect(p.tempBytes).toBe(2 * 64 * 4);
    expect(p.naiveTempBytes).toBe(10 * 64 * 4);
  });

  it('fuses the chain into the reduction that reads it', () => {
    const t = new TestGraph();
    let x = t.input([64]);
    for (let i = 0; i < 10; i++) x = t.b.op(i % 2 ? 'neg' : 'exp', [x], {});
    const root = t.b.op('sum', [x], { axes: [0], keepdims: false });
    const g = t.build();
    const p = planGraph(g, { roots: [root], keep: [root] });
    expect(p.steps.length).toBe(1);
    expect(p.kernels[0]!.nodes.length).toBe(11);
    expect(p.buffers.filter((b) => b.kind === 'temp').length).toBe(0);
  });

  it('stops fusing where a kernel would bind more than 8 buffers', () => {
    const t = new TestGraph();
    let x = t.input([16]);
    for (let i = 0; i < 9; i++) x = t.b.add(x, t.input([16]));
    const root = t.b.op('sum', [x], { axes: [0], keepdims: false });
    const g = t.build();
    const p = planGraph(g, { roots: [root], keep: [root] });
    for (const s of p.steps) expect(s.buffers.length).toBeLessThanOrEqual(8);
    expect(p.steps.length).toBe(2);
  });

  it('never fuses a node with two consumers, or a root, when recompute is off', () => {
    const t = new TestGraph();
    const x = t.input([8]);
    const shared = t.b.op('exp', [x], {});
    const a = t.b.op('neg', [shared], {});
    const b = t.b.mul(shared, a);
    const g = t.build();
    const p = planGraph(g, { roots: [b, a], keep: [b, a], recompute: false });
    const owners = p.kernels.map((k) => k.output);
    expect(owners).toContain(shared);
    expect(owners).toContain(a);
  });

  it('recomputes a cheap shared producer in each reader, one level deep, never a root', () => {
    const t = new TestGraph();
    const inner = t.b.op('exp', [t.b.op('matmul', [t.input([2, 8]), t.input([8, 8])], { transA: false, transB: false })], {});
    const shared = t.b.neg(inner);
    const a = t.b.op('exp', [shared], {});
    const b = t.b.mul(shared, a);
    const g = t.build();
    const p = planGraph(g, { roots: [b, a], keep: [b, a] });
    checkLiveness(g, p);
    const owners = p.kernels.map((k) => k.output);
    expect(owners).not.toContain(shared);
    expect(owners).toContain(a);
    // Copies read what they need from buffers: the shared node's own source is realized.
    expect(owners).toContain(inner);
    for (const k of p.kernels) if (k.output !== inner) expect(k.nodes).toContain(shared);
  });

  it('copies below a shared producer only what reads nothing but leaves (a dropout mask)', () => {
    const t = new TestGraph();
    const mask = t.b.op('exp', [t.input([2, 8])], {});
    const shared = t.b.mul(t.b.op('matmul', [t.input([2, 8]), t.input([8, 8])], { transA: false, transB: false }), mask);
    const a = t.b.op('exp', [shared], {});
    const b = t.b.mul(shared, a);
    const g = t.build();
    const p = planGraph(g, { roots: [b, a], keep: [b, a] });
    checkLiveness(g, p);
    expect(p.kernels.map((k) => g.nodes[k.output]!.op).sort()).toEqual(['exp', 'matmul', 'mul']);
    for (const k of p.kernels.filter((k) => k.output !== shared && g.nodes[k.output]!.op !== 'matmul'))
      expect(k.nodes).toEqual(expect.arrayContaining([mask, shared]));
  });

  it('realizes a shared producer after all when a reader cannot take a copy', () => {
    const t = new TestGraph();
    const shared = t.b.op('exp', [t.input([2, 4])], {});
    // A reshape that is itself a root shares its source's buffer: the source must have one.
    const viaAlias = t.b.reshape(shared, [8]);
    const direct = t.b.op('sum', [t.b.mul(shared, shared)], { axes: [0, 1], keepdims: false });
    const g = t.build();
    const p = planGraph(g, { roots: [viaAlias, direct], keep: [viaAlias, direct] });
    checkLiveness(g, p);
    expect(p.kernels.map((k) => k.output)).toContain(shared);
    // The copy the sum's kernel had taken is withdrawn: it reads the buffer instead.
    expect(p.kernels.filter((k) => k.nodes.includes(shared)).length).toBe(1);
    expect(p.nodeBuffer.get(viaAlias)).toBe(p.nodeBuffer.get(shared));
  });

  it('prints deterministically', () => {
    const a = printPlan(planGraph(mlp(), { roots: rootsOf(mlp()), keep: rootsOf(mlp()), optimizer: true }));
    const b = printPlan(planGraph(mlp(), { roots: rootsOf(mlp()), keep: rootsOf(mlp()), optimizer: true }));
    expect(a).toBe(b);
    expect(a).toMatch(/^plan: \d+ buffers, \d+ dispatches/);
    expect(a).toMatch(/^  b0 +param +2048 B  p1$/m);
    expect(a).toMatch(/matmul %\d+ \[8, 32\]/);
    expect(a).toMatch(/adamw p1: param b\d+ grad b\d+ m b\d+ v b\d+/);
  });
});
