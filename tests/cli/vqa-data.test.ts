import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { milec } from '../helpers/milec.ts';

const data = ['--data', 'vqa-rad:tests/fixtures/vqa/vqa-rad', '--vocab', 'tests/fixtures/tokenizer/vocab.txt'];

describe('training and evaluating on a VQA-RAD-format folder', () => {
  it('trains, reports the corrupt image by path, and prints the three accuracies', async () => {
    const out = mkdtempSync(join(tmpdir(), 'milec-rad-'));
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
    const acc = JSON.parse(e.out.trim().split('\n').pop()!);
    expect(acc).toMatchObject({ n: 2 });
    expect(acc.nOpen + acc.nClosed).toBe(2);
    expect(acc.global).toBeGreaterThanOrEqual(0);
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
