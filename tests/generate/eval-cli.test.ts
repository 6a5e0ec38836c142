/** `milec eval` end to end on the tiny VQA model with the in-repo items fixture. */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileFrontEnd } from '../../compiler/pipeline.ts';
import { exactMatch } from '../../runtime/metrics.ts';
import { initialParams } from '../../runtime/params.ts';
import { type TensorToWrite, writeSafetensorsAtomic } from '../../runtime/safetensors.ts';
import { fileHost } from '../../runtime/source-files.ts';
import { milec } from '../helpers/milec.ts';

/** A checkpoint as `milec train` writes it: the trainable tensors (perturbed so they matter) and metadata. */
async function checkpoint(dir: string): Promise<string> {
  const g = compileFrontEnd({ host: fileHost(), file: 'examples/vqa_tiny.mile', tune: 'f_f_t', training: false }).result!.forward;
  const init = initialParams(g, 0);
  const tensors: Record<string, TensorToWrite> = {};
  for (const p of g.params) {
    if (!p.trainable) continue;
    const v = init.get(p.name)!;
    const data = p.name.endsWith('word_embeddings.weight') ? v.map((x, i) => x * 40 + ((i * 7919) % 13) / 13 - 0.5) : v;
    tensors[p.name] = { dtype: 'F32', shape: p.shape as number[], data };
  }
  const path = join(dir, 'adapter.safetensors');
  await writeSafetensorsAtomic(path, tensors, { model: 'VqaTiny', tune: 'f_f_t', step: '1', format: 'milec-adapter' });
  return path;
}

describe('milec eval', () => {
  it('prints open, closed and global accuracy; --json and --predictions agree with each other', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'milec-eval-'));
    const ckpt = await checkpoint(dir);
    const preds = join(dir, 'preds.jsonl');
    const data = 'items:tests/generate/fixtures/tiny-vqa.json';
    const r = await milec(
      'eval',
      'examples/vqa_tiny.mile',
      '--checkpoint',
      dir,
      '--data',
      data,
      '--beams',
      '2',
      '--json',
      '--predictions',
      preds,
    );
    expect(r.code, r.err).toBe(0);
    const acc = JSON.parse(r.out.trim());
    expect(Object.keys(acc).sort()).toEqual(['closed', 'global', 'n', 'nClosed', 'nOpen', 'open']);
    expect(acc).toMatchObject({ n: 8, nOpen: 5, nClosed: 3 });
    const lines = readFileSync(preds, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(8);
    for (const l of lines) {
      expect(Object.keys(l)).toEqual(expect.arrayContaining(['id', 'question', 'answer', 'prediction', 'correct']));
      expect(typeof l.prediction).toBe('string');
      expect(l.correct).toBe(exactMatch(l.prediction, l.answer));
    }
    const ok = (t?: string) => lines.filter((l) => !t || l.answerType === t).filter((l) => l.correct).length;
    expect(acc.global).toBeCloseTo(ok() / 8, 10);
    expect(acc.open).toBeCloseTo(ok('OPEN') / 5, 10);
    expect(acc.closed).toBeCloseTo(ok('CLOSED') / 3, 10);

    // Human-readable output, greedy, closed questions ranked: their answers come from the closed set.
    const h = await milec(
      'eval',
      'examples/vqa_tiny.mile',
      '--tune',
      'f_f_t',
      '--checkpoint',
      ckpt,
      '--data',
      data,
      '--beams',
      '1',
      '--rank-closed',
      '--predictions',
      preds,
    );
    expect(h.code, h.err).toBe(0);
    expect(h.out).toMatch(/open +\d+\.\d%  \(5 items\)/);
    expect(h.out).toMatch(/closed +\d+\.\d%  \(3 items\)/);
    expect(h.out).toMatch(/global +\d+\.\d%  \(8 items\)/);
    const ranked = readFileSync(preds, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    for (const l of ranked.filter((x) => x.answerType === 'CLOSED')) expect(['yes', 'no']).toContain(l.prediction);
  });

  it('rejects a checkpoint of another tune and a missing one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'milec-eval-'));
    const ckpt = await checkpoint(dir);
    const r = await milec(
      'eval',
      'examples/vqa_tiny.mile',
      '--tune',
      'f_f_lora',
      '--checkpoint',
      ckpt,
      '--data',
      'items:tests/generate/fixtures/tiny-vqa.json',
    );
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/trained with tune `f_f_t`, not `f_f_lora`/);
    const m = await milec('eval', 'examples/vqa_tiny.mile', '--checkpoint', join(dir, 'nope.safetensors'), '--data', 'items:x.json');
    expect(m.code).toBe(1);
    expect(m.err).toMatch(/does not exist/);
  });
});
