/** The classifier-head VQA variant end to end: examples/miss_tiny_cls.mile trained, evaluated and swept. */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SYNTHETIC_VQA_ANSWERS } from '../../runtime/data/synthetic-vqa.ts';
import { milec } from '../helpers/milec.ts';

const file = 'examples/miss_tiny_cls.mile';
const fraction = (x: unknown) => typeof x === 'number' && Number.isFinite(x) && x >= 0 && x <= 1;

describe('classifier-head VQA (answer_class, answer_logits)', () => {
  // One trained run, evaluated three ways by the tests after it (a file's tests run in order).
  const out = mkdtempSync(join(tmpdir(), 'milec-cls-'));

  // The head alone first: it compiles the forward kernels (shared with f_t below and with the
  // sweep's head_only), so on a cold shader cache no single test compiles them all.
  it('trains the head alone', async () => {
    const t = await milec(
      'train',
      file,
      '--tune',
      'head_only',
      '--steps',
      '3',
      '--batch',
      '8',
      '--eval-batches',
      '0',
      '--out',
      mkdtempSync(join(tmpdir(), 'milec-cls-head-')),
      '--json',
    );
    expect(t.code, t.err).toBe(0);
    const done = JSON.parse(t.out.trim().split('\n').pop()!);
    expect(done).toMatchObject({ done: true, steps: 3, trainableParams: 780 });
  });

  it('trains on synthetic data', async () => {
    const t = await milec(
      'train',
      file,
      '--tune',
      'f_t',
      '--data',
      'synthetic',
      '--steps',
      '12',
      '--batch',
      '8',
      '--eval-batches',
      '0',
      '--out',
      out,
      '--json',
    );
    expect(t.code, t.err).toBe(0);
    const done = JSON.parse(t.out.trim().split('\n').pop()!);
    expect(done.done).toBe(true);
    expect(done.lossLast).toBeLessThan(done.lossFirst);
  });

  it('eval predicts from the answer list; --json and --predictions agree', async () => {
    const preds = join(out, 'preds.jsonl');
    const e = await milec('eval', file, '--checkpoint', out, '--data', 'synthetic-vqa:32', '--json', '--predictions', preds);
    expect(e.code, e.err).toBe(0);
    const acc = JSON.parse(e.out.trim().split('\n').pop()!);
    expect(acc).toMatchObject({ n: 32 });
    expect(acc.nOpen + acc.nClosed).toBe(32);
    for (const k of ['open', 'closed', 'global']) expect(fraction(acc[k]), k).toBe(true);
    const lines = readFileSync(preds, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(32);
    for (const p of lines) expect(SYNTHETIC_VQA_ANSWERS).toContain(p.prediction);
    expect(lines.filter((p) => p.correct).length / 32).toBeCloseTo(acc.global, 10);
  });

  it('eval prints the three accuracies; --rank-closed is an error for a classifier head', async () => {
    const text = await milec('eval', file, '--checkpoint', out, '--data', 'synthetic-vqa:32');
    expect(text.code, text.err).toBe(0);
    expect(text.out).toMatch(/classifier head over 12 answers/);
    expect(text.out).toMatch(/open .*\n.*closed .*\n.*global /);
    const rank = await milec('eval', file, '--checkpoint', out, '--data', 'synthetic-vqa:32', '--rank-closed');
    expect(rank.code).toBe(1);
    expect(rank.err).toMatch(/--rank-closed .*classifier head/);
  });

  it('sweep trains and evaluates a classifier tune', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'milec-cls-sweep-'));
    const s = await milec(
      'sweep',
      file,
      '--tunes',
      'head_only',
      '--steps',
      '3',
      '--batch',
      '8',
      '--eval-data',
      'synthetic-vqa:16',
      '--out',
      dir,
      '--json',
    );
    expect(s.code, s.err).toBe(0);
    const row = JSON.parse(
      s.out
        .trim()
        .split('\n')
        .find((l) => l.includes('"tune"'))!,
    );
    expect(row.tune).toBe('head_only');
    for (const k of ['open', 'closed', 'global']) expect(fraction(row[k]), k).toBe(true);
  });
});
