/** `milec plan` on the command line: text and JSON output, exit codes, a large model. */
import { describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { compileFrontEnd } from '../../compiler/pipeline.ts';
import { planTraining } from '../../compiler/cost/report.ts';
import { wideTransformer } from '../report/wide-model.ts';
import { fileHost } from '../../runtime/source-files.ts';
import { milec } from '../helpers/milec.ts';

const tiny = 'examples/tiny_classifier.mile';

describe('milec plan', () => {
  it('prints sites, parameter counts and a memory estimate', async () => {
    const r = await milec('plan', tiny, '--tune', 'lora_qv');
    expect(r.code).toBe(0);
    expect(r.out).toContain('TinyClassifier / tune lora_qv');
    expect(r.out).toContain('lora r=8 alpha=16 dropout=0 on blocks.*.attn.{query, value}: 4 sites');
    expect(r.out).toContain('train on head: 2 parameters');
    expect(r.out).toMatch(/trainable: 2,180 of [\d,]+ \([\d.]+% = trainable \/ \(base [\d,]+ \+ added 2,048\)\)/);
    expect(r.out).toMatch(/estimated training memory \(B=1; f32, AdamW\)/);
    for (const k of ['weights', 'gradients', 'optimizer', 'activations', 'peak'])
      expect(r.out).toMatch(new RegExp(`^  ${k} +[\\d.]+ (B|KiB|MiB)`, 'm'));
  });

  it('--json prints one object with the same numbers as the library', async () => {
    const r = await milec('plan', tiny, '--tune', 'lora_qv', '--json', '--batch', '4');
    expect(r.code).toBe(0);
    expect(r.out.trim().split('\n')).toHaveLength(1);
    const j = JSON.parse(r.out);
    const fe = compileFrontEnd({ host: fileHost(), file: tiny, tune: 'lora_qv', training: true }).result!;
    const want = planTraining(fe, { bindings: { B: 4 } });
    expect(j).toEqual({ source: tiny, ...JSON.parse(JSON.stringify(want)) });
    for (const k of ['model', 'tune', 'totalParams', 'trainableParams', 'trainablePercent', 'addedParams', 'sites', 'modules', 'memory'])
      expect(j).toHaveProperty(k);
    for (const k of ['weightsBytes', 'gradientsBytes', 'optimizerBytes', 'activationsBytes', 'peakBytes'])
      expect(typeof j.memory[k]).toBe('number');
    expect(j.sites[1]).toEqual({
      method: 'lora',
      options: { r: 8, alpha: 16, dropout: 0, rslora: false },
      selector: 'blocks.*.attn.{query, value}',
      paths: expect.any(Array),
    });
    expect(j.memory.batch).toBe(4);
  });

  it('an unknown tune exits 1 with a suggestion', async () => {
    const r = await milec('plan', tiny, '--tune', 'lora_vq');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/no tune named `lora_vq`/);
    expect(r.err).toMatch(/did you mean `lora_qv`\?/);
    expect(r.out).toBe('');
  });

  it('input errors exit 1', async () => {
    expect((await milec('plan', 'no/such.mile', '--tune', 'x')).code).toBe(1);
    const dim = await milec('plan', tiny, '--tune', 'lora_qv', '--dim', 'T=zero');
    expect(dim.code).toBe(1);
    expect(dim.err).toMatch(/--dim expects NAME=SIZE/);
  });

  it('usage errors exit 2', async () => {
    const noTune = await milec('plan', tiny);
    expect(noTune.code).toBe(2);
    expect(noTune.err).toMatch(/--tune/);
    expect((await milec('plan')).code).toBe(2);
    expect((await milec('plan', tiny, '--tune', 'lora_qv', '--batch', '0')).code).toBe(2);
    expect((await milec('plan', tiny, '--tune', 'lora_qv', '--batch', 'x')).code).toBe(2);
    const typo = await milec('plan', tiny, '--tune', 'lora_qv', '--jsn');
    expect(typo.code).toBe(2);
    expect(typo.err).toMatch(/--json/);
  });

  it('plans a ~390M-parameter model', async () => {
    mkdirSync('out', { recursive: true });
    const dir = mkdtempSync(join(resolve('out'), 'plan-cli-'));
    try {
      const file = join(dir, 'wide.mile');
      writeFileSync(file, wideTransformer());
      const r = await milec('plan', file, '--tune', 'lora_qv', '--batch', '8', '--json');
      expect(r.code).toBe(0);
      const j = JSON.parse(r.out);
      expect(j.totalParams).toBeGreaterThan(380e6);
      expect(j.memory.weightsBytes).toBe(4 * j.totalParams);
      // The whole process (tsx start-up, module loading, compile, plan); the front end's own
      // budget is checked in-process in tests/report/plan.test.ts.
      console.log(`milec plan on a ${(j.totalParams / 1e6).toFixed(0)}M-parameter model: ${r.ms.toFixed(0)} ms wall, whole process`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
