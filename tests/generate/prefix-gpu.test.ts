/**
 * Generation with prefix tuning on the decoder (and the encoder): every decoding step uses the
 * training graph's position offset (the prefix length, HF's past_key_values_length). The GPU
 * generator's next-token logits for a growing answer equal, row for row, the float64 training
 * forward's teacher-forced logits at the same positions.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileFrontEnd } from '../../compiler/pipeline.ts';
import { specialize } from '../../compiler/ir/specialize.ts';
import { type GpuContext, openDevice } from '../../runtime/device.ts';
import { Generator } from '../../runtime/generate.ts';
import { mulberry32 } from '../../runtime/init.ts';
import { initialParams } from '../../runtime/params.ts';
import { runReference } from '../../runtime/reference-run.ts';
import { fileHost } from '../../runtime/source-files.ts';
import { special, tinyItems } from './items.ts';

let ctx: GpuContext;
beforeAll(async () => {
  ctx = await openDevice();
});
afterAll(() => ctx?.close());

const text = `${readFileSync('examples/vqa_tiny.mile', 'utf8')}
tune prefixed for VqaTiny {
  prefix(tokens = 3, hidden = 8) on text_encoder.encoder.layer.*.attention.self
  ptv2(tokens = 4) on text_decoder.bert.encoder.layer.*.attention.self
}
`;

const compile = (training: boolean) => {
  const fe = compileFrontEnd({ host: fileHost(), file: 'vqa_prefixed.mile', text, tune: 'prefixed', training });
  expect(fe.diagnostics).toEqual([]);
  return fe.result!;
};

describe('generation with prefixes', () => {
  it("each step's logits equal the training forward's at the same positions (same position offset)", async () => {
    const inference = compile(false).forward;
    const training = compile(true).forward;
    // The decoder's positions start after its 4 virtual tokens, the encoder's after its 3, in both graphs.
    for (const g of [inference, training]) {
      const starts = g.params
        .filter((p) => p.name.endsWith('position_embeddings.weight'))
        .map(
          (p) => (g.nodes.find((x) => x.op === 'slice' && x.src[0] === p.node)!.attrs as { ranges: { start: number }[] }).ranges[0]!.start,
        );
      expect(starts).toEqual([3, 4]);
    }
    const params = initialParams(inference, 3);
    const rng = mulberry32(99);
    for (const [name, v] of params)
      if (name.endsWith('word_embeddings.weight') || name.endsWith('predictions.bias'))
        for (let i = 0; i < v.length; i++) v[i] = v[i]! * 50 + (rng() - 0.5);
    for (const [name, v] of params)
      if (name.startsWith('ptv2_') || name.startsWith('prefix_')) for (let i = 0; i < v.length; i++) v[i] = v[i]! * 0.5;

    const items = tinyItems(2, 5);
    const answers = [
      [4, 7, 9, 11, 3, 0],
      [4, 12, 5, 3, 0, 0],
    ];
    // Teacher forcing on the float64 reference, training graph: logits[:, t] continues answer[:, 0..t].
    const g = specialize({ ...training, outputs: { logits: training.outputs.logits! } }, { B: 2 });
    const vals = runReference(g, {
      params: new Map([...params].map(([k, v]) => [k, Float64Array.from(v)])),
      inputs: new Map<string, Float64Array | Int32Array>([
        ['image', Float64Array.from(items.flatMap((it) => [...it.image!]))],
        ['question', Int32Array.from(items.flatMap((it) => [...it.question!]))],
        ['answer', Int32Array.from(answers.flat())],
      ]),
    });
    const logits = vals[g.outputs.logits!]!;
    const [, T, V] = logits.shape as [number, number, number];

    const gen = await Generator.create(ctx, inference, params, { batch: 4 });
    try {
      const rows = answers.flatMap((a, item) => [1, 2, 3, 4].map((k) => ({ item, prefix: a.slice(0, k) })));
      const got = await gen.nextTokenLogits(items, special)(rows);
      rows.forEach((r, i) => {
        const t = r.prefix.length - 1;
        const want = logits.data.subarray((r.item * T + t) * V, (r.item * T + t + 1) * V);
        for (let v = 0; v < V; v++)
          expect(Math.abs(got[i]![v]! - want[v]!), `item ${r.item}, position ${t}, token ${v}`).toBeLessThan(
            1e-3 * Math.max(1, Math.abs(want[v]!)),
          );
      });
    } finally {
      gen.destroy();
    }
  });
});
