/**
 * `planTraining` (milec plan): the tiny example's numbers against their closed forms, the
 * memory breakdown's consistency with the buffer planner, linear growth of activations with
 * the batch size, and planning a ~390M-parameter synthetic transformer in well under a second.
 */
import { describe, expect, it } from 'vitest';
import { buildBackend } from '../../compiler/backend.ts';
import { SEED_INPUT } from '../../compiler/ir/graph.ts';
import { compileFrontEnd, type FrontEnd } from '../../compiler/pipeline.ts';
import { planTraining, printTrainingPlan, savedForBackward, topLevelOf } from '../../compiler/cost/report.ts';
import { wideTransformer } from './wide-model.ts';
import { fileHost } from '../../runtime/source-files.ts';

const tiny = 'examples/tiny_classifier.mile';

function frontEnd(tune: string, file = tiny, text?: string): FrontEnd {
  const r = compileFrontEnd({ host: fileHost(), file, text, tune, training: true });
  if (!r.result) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
  return r.result;
}

/** The tiny example's config values. */
function config(fe: FrontEnd): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of fe.model.config) if (v.kind === 'int') out[k] = Number(v.v);
  return out;
}

describe('planTraining on the tiny example', () => {
  const fe = frontEnd('lora_qv');
  const { vocab: V, dim: d, hidden: h, depth: L, classes: c, seq, max_len } = config(fe);
  const P = max_len ?? seq!; // learned positions: one row per position
  const r = 8;
  const block = 2 * 2 * d! + 4 * (d! * d! + d!) + (d! * h! + h!) + (h! * d! + d!);
  const base = V! * d! + P * d! + L! * block + 2 * d! + (d! * c! + c!);
  const added = L! * 2 * r * (d! + d!);
  const trainable = added + d! * c! + c!;
  const plan = planTraining(fe, { bindings: { B: 1 } });

  it('counts parameters by their closed forms, trainable % as HF peft does', () => {
    expect(plan.totalParams).toBe(base + added);
    expect(plan.baseParams).toBe(base);
    expect(plan.addedParams).toBe(added);
    expect(plan.trainableParams).toBe(trainable);
    expect(plan.trainablePercent).toBeCloseTo((100 * trainable) / (base + added), 10);
    expect(plan.addedByMethod).toEqual([{ method: 'lora', params: added, tensors: 2 * 2 * L! }]);
    const mod = Object.fromEntries(plan.modules.map((m) => [m.name, m]));
    expect(mod.embed).toEqual({ name: 'embed', totalParams: V! * d!, trainableParams: 0, addedParams: 0 });
    expect(mod.blocks).toEqual({ name: 'blocks', totalParams: L! * block + added, trainableParams: added, addedParams: added });
    expect(mod.head).toEqual({ name: 'head', totalParams: d! * c! + c!, trainableParams: d! * c! + c!, addedParams: 0 });
    expect(plan.modules.reduce((a, m) => a + m.totalParams, 0)).toBe(plan.totalParams);
  });

  it('lists every matched site, with the method options', () => {
    expect(plan.sites).toEqual([
      { method: 'train', selector: 'head', paths: ['head.weight', 'head.bias'] },
      {
        method: 'lora',
        options: { r: 8, alpha: 16, dropout: 0, rslora: false },
        selector: 'blocks.*.attn.{query, value}',
        paths: Array.from({ length: L! }, (_, i) => [`blocks.${i}.attn.query`, `blocks.${i}.attn.value`]).flat(),
      },
    ]);
  });

  it('full fine-tuning trains 100%, adds nothing', () => {
    const full = planTraining(frontEnd('full'), { bindings: { B: 1 } });
    expect(full.totalParams).toBe(base);
    expect(full.trainableParams).toBe(base);
    expect(full.trainablePercent).toBe(100);
    expect(full.addedParams).toBe(0);
    expect(full.memory.gradientsBytes).toBe(4 * base);
  });

  it('memory: weights 4·total, gradients 4·trainable, AdamW 8·trainable, peak the sum', () => {
    const m = plan.memory;
    expect(m.weightsBytes).toBe(4 * plan.totalParams);
    expect(m.gradientsBytes).toBe(4 * plan.trainableParams);
    expect(m.optimizerBytes).toBe(8 * plan.trainableParams);
    expect(m.activationsBytes).toBeGreaterThan(0);
    const seed = fe.train!.inputs.some((i) => i.name === SEED_INPUT) ? 4 : 0; // dropout's seed, when there is dropout
    expect(m.inputsBytes).toBe(4 * (seq! + 1) + seed); // tokens [1, seq], labels [1]
    expect(m.peakBytes).toBe(m.weightsBytes + m.gradientsBytes + m.optimizerBytes + m.activationsBytes + m.inputsBytes);
  });

  it('activations grow linearly with the batch size', () => {
    const act = [1, 2, 3, 8].map((B) => planTraining(fe, { bindings: { B } }).memory.activationsBytes);
    const step = act[1]! - act[0]!;
    expect(step).toBeGreaterThan(0);
    expect(act[2]! - act[1]!).toBe(step);
    expect(act[3]! - act[0]!).toBe(7 * step);
  });

  it('agrees with the buffer planner: same weights and AdamW state, saved activations fit in what it allocates', () => {
    const B = 4;
    const be = buildBackend(fe.train!, { B });
    const bytes = (kind: string) => be.plan.buffers.filter((b) => b.kind === kind).reduce((a, b) => a + b.bytes, 0);
    const m = planTraining(fe, { bindings: { B } }).memory;
    expect(bytes('param')).toBe(m.weightsBytes);
    expect(bytes('optim')).toBe(m.optimizerBytes);
    expect(bytes('grad')).toBe(m.gradientsBytes);
    // Every saved tensor is written in the forward pass and read in the backward pass, so all
    // are live at once in the planner's pool (or have buffers of their own, as outputs).
    expect(m.activationsBytes).toBeLessThanOrEqual(bytes('temp') + bytes('output'));
    expect(m.activationsBytes).toBeGreaterThan(0.1 * (bytes('temp') + bytes('output')));
  });

  it('saved activations are forward nodes read by backward nodes, never params or inputs', () => {
    const g = fe.train!;
    const saved = savedForBackward(g);
    expect(saved.length).toBeGreaterThan(0);
    for (const id of saved) expect(['param', 'input', 'const']).not.toContain(g.nodes[id]!.op);
    // a frozen model's forward-only graph has nothing to save: no gradients, no backward
    expect(savedForBackward({ ...g, grads: {} })).toEqual([]);
  });

  it('groups parameters by top-level module', () => {
    expect(topLevelOf('blocks[3].attn.query.weight')).toBe('blocks');
    expect(topLevelOf('pos')).toBe('pos');
    expect(topLevelOf('prefix_0.emb')).toBe('prefix_0');
  });

  it('prints a readable report', () => {
    const text = printTrainingPlan(plan, tiny);
    expect(text).toContain('lora r=8 alpha=16 dropout=0 on blocks.*.attn.{query, value}: 4 sites');
    expect(text).toMatch(/trainable: 2,180 of [\d,]+ \(\d+\.\d{4}% = trainable \/ \(base [\d,]+ \+ added 2,048\)\)/);
    expect(text).toMatch(/peak\s+[\d.]+ KiB/);
  });
});

describe('planning a large model', () => {
  // Its speed is measured by `npm run bench`, not asserted here.
  it('counts a ~390M-parameter transformer without allocating it', () => {
    const text = wideTransformer();
    const plan = planTraining(frontEnd('lora_qv', 'wide.mile', text), { bindings: { B: 8 } });
    const d = 1536;
    const block = 4 * d + 4 * (d * d + d) + 2 * 4 * d * d + 4 * d + d;
    expect(plan!.baseParams).toBe(30522 * d + 512 * d + 12 * block + 2 * d + (2 * d + 2));
    expect(plan!.totalParams).toBeGreaterThan(380e6);
    expect(plan!.addedParams).toBe(12 * 2 * 16 * 2 * d);
  }, 30_000);
});
