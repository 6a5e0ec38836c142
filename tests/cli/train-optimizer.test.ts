/** `milec train` with a tune's `optimizer { lr = … }`: its learning rate, unless `--lr` overrides it. */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jsonLines, milec } from '../helpers/milec.ts';

const dir = mkdtempSync(join(tmpdir(), 'milec-train-opt-'));
const file = join(dir, 'tiny.mile');
writeFileSync(
  file,
  readFileSync('examples/tiny_classifier.mile', 'utf8') +
    `
tune lora_fast for TinyClassifier {
  train head
  lora(r = 8, alpha = 16) on blocks.*.attn.{query, value}
  optimizer { lr = 5e-2 }
}
`,
);

async function losses(tune: string, ...extra: string[]): Promise<number[]> {
  const r = await milec(
    'train',
    file,
    '--tune',
    tune,
    '--steps',
    '2',
    '--batch',
    '4',
    '--log-every',
    '1',
    '--eval-batches',
    '0',
    '--out',
    join(dir, `${tune}${extra.join('')}`),
    '--json',
    ...extra,
  );
  expect(r.code, r.err).toBe(0);
  return jsonLines(r.out)
    .filter((l) => 'step' in l && !('done' in l))
    .map((l) => l.loss as number);
}

describe('milec train: the tune’s optimizer block', () => {
  it('its lr changes the loss after step 1; --lr overrides it', async () => {
    const plain = await losses('lora_qv');
    const fast = await losses('lora_fast');
    const overridden = await losses('lora_fast', '--lr', '3e-3');
    expect(plain).toHaveLength(2);
    // The same start: step 1's loss is before any update.
    expect(fast[0]).toBe(plain[0]);
    expect(fast[1]).not.toBe(plain[1]);
    // `--lr 3e-3` (train's default) gives the tune without the block's losses.
    expect(overridden).toEqual(plain);
  }, 120_000);
});
