import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileFrontEnd } from '../../compiler/pipeline.ts';
import { paramsWithAdapter, readAdapterFolder } from '../../runtime/eval/adapter.ts';
import { paramsWithCheckpoint, readEvalCheckpoint } from '../../runtime/eval/checkpoint.ts';
import { fileHost } from '../../runtime/source-files.ts';
import { startingWeights } from '../../runtime/starting-weights.ts';
import { loadWeights, weightsSources } from '../../runtime/weights.ts';
import { milec } from '../helpers/milec.ts';

const data = ['--data', 'vqa-rad:tests/fixtures/vqa/vqa-rad', '--vocab', 'tests/fixtures/tokenizer/vocab.txt'];

describe('training and evaluating on a VQA-RAD-format folder', () => {
  // The run of the first test, which the second evaluates again through its adapter folder.
  const out = mkdtempSync(join(tmpdir(), 'milec-rad-'));
  let acc: unknown;

  it('trains, reports the corrupt image by path, and prints the three accuracies', async () => {
    const t = await milec(
      'train',
      'examples/miss_tiny.mile',
      '--tune',
      'f_f_lora_r4',
      ...data,
      '--steps',
      '2',
      '--batch',
      '2',
      '--out',
      out,
      '--json',
    );
    expect(t.code, t.err).toBe(0);
    expect(t.err).toMatch(/VQA_RAD Image Folder\/synpic300\.jpg: .*item skipped/);
    const e = await milec('eval', 'examples/miss_tiny.mile', '--checkpoint', out, ...data, '--beams', '1', '--json');
    expect(e.code, e.err).toBe(0);
    acc = JSON.parse(e.out.trim().split('\n').pop()!);
    expect(acc).toMatchObject({ n: 2 });
    const { nOpen, nClosed, global } = acc as { nOpen: number; nClosed: number; global: number };
    expect(nOpen + nClosed).toBe(2);
    expect(global).toBeGreaterThanOrEqual(0);
  });

  it("eval --adapter on the same run's peft folder: the same weights as its checkpoint, the same answers", async () => {
    expect(acc, 'the training test failed').toBeDefined();
    // The same run's peft folder (as `train.py` of `milec export --torch` writes one) gives the
    // same weights, value for value, as its checkpoint, and evaluates to the same answers.
    const folder = await readAdapterFolder(join(out, 'adapter'), 'f_f_lora_r4');
    expect(folder.peftType).toBe('LORA');
    const fe = compileFrontEnd({ host: fileHost(), file: 'examples/miss_tiny.mile', tune: 'f_f_lora_r4', training: false }).result!;
    const ckpt = await readEvalCheckpoint(out);
    const backbone = await loadWeights(weightsSources(ckpt.weights!, ckpt.weightsMap), fe.infer.params, { allowMissing: true });
    const fromCheckpoint = paramsWithCheckpoint(fe.infer, ckpt, ckpt.seed ?? 0, backbone.values);
    const fromAdapter = await paramsWithAdapter(fe, folder, startingWeights({}, fe.model), 0);
    expect(fromAdapter.adapterTensors).toBeGreaterThan(0);
    expect([...fromAdapter.params.keys()].sort()).toEqual([...fromCheckpoint.keys()].sort());
    for (const [name, value] of fromCheckpoint) expect(fromAdapter.params.get(name), name).toEqual(value);
    const a = await milec(
      'eval',
      'examples/miss_tiny.mile',
      '--adapter',
      join(out, 'adapter'),
      '--tune',
      'f_f_lora_r4',
      ...data,
      '--beams',
      '1',
      '--json',
    );
    expect(a.code, a.err).toBe(0);
    expect(JSON.parse(a.out.trim().split('\n').pop()!)).toEqual(acc);
  });

  it('eval --adapter: a peft folder needs --tune, and only one source of weights is taken', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'milec-adapter-'));
    writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', r: 4 }));
    const r = await milec('eval', 'examples/miss_tiny.mile', '--adapter', dir, '--data', 'synthetic-vqa:2');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/peft LORA adapter, which does not record milec's tune: name it with --tune/);
    const both = await milec('eval', 'examples/miss_tiny.mile', '--adapter', dir, '--checkpoint', dir, '--data', 'synthetic-vqa:2');
    expect(both.code).toBe(1);
    expect(both.err).toMatch(/one of --checkpoint .* or --adapter/);
    const none = await milec(
      'eval',
      'examples/miss_tiny.mile',
      '--adapter',
      join(dir, 'nope'),
      '--tune',
      'f_f_lora_r4',
      '--data',
      'synthetic-vqa:2',
    );
    expect(none.code).toBe(1);
    expect(none.err).toMatch(/nope\/adapter_config\.json: missing \(not an adapter folder\)/);
  });

  it('a missing vocabulary is a one-line error naming the option', async () => {
    const r = await milec(
      'train',
      'examples/miss_tiny.mile',
      '--tune',
      'f_f_lora_r4',
      '--data',
      'vqa-rad:tests/fixtures/vqa/vqa-rad',
      '--steps',
      '1',
    );
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/vocab/);
    expect(r.err).not.toMatch(/\bat .*\.ts:\d+/);
  });
});
