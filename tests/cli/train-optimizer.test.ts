/**
 * `milec train` with a tune's `optimizer { lr = … }`: its learning rate, unless `--lr` overrides
 * it; the start line and the `--json` summary state the settings it trained with.
 */
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

const train = (tune: string, ...extra: string[]) =>
  milec(
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
    ...extra,
  );

/** The losses of the logged steps, and the summary record (`--json`'s last line). */
async function losses(tune: string, ...extra: string[]): Promise<{ losses: number[]; done: Record<string, unknown> }> {
  const r = await train(tune, '--json', ...extra);
  expect(r.code, r.err).toBe(0);
  const lines = jsonLines(r.out);
  return { losses: lines.filter((l) => 'step' in l && !('done' in l)).map((l) => l.loss as number), done: lines[lines.length - 1]! };
}

describe('milec train: the tune’s optimizer block', () => {
  it('its lr changes the loss after step 1; --lr overrides it', async () => {
    const plain = await losses('lora_qv');
    const fast = await losses('lora_fast');
    const overridden = await losses('lora_fast', '--lr', '3e-3');
    expect(plain.losses).toHaveLength(2);
    // The same start: step 1's loss is before any update.
    expect(fast.losses[0]).toBe(plain.losses[0]);
    expect(fast.losses[1]).not.toBe(plain.losses[1]);
    // `--lr 3e-3` (train's default) gives the tune without the block's losses.
    expect(overridden.losses).toEqual(plain.losses);
    // The summary records the settings each run trained with.
    const settings = ({ done }: { done: Record<string, unknown> }) => [done.lr, done.schedule, done.warmup, done.weightDecay];
    expect(settings(plain)).toEqual([3e-3, 'constant', 0, 0]);
    expect(settings(fast)).toEqual([5e-2, 'constant', 0, 0]);
    expect(settings(overridden)).toEqual([3e-3, 'constant', 0, 0]);
  });

  it('the start line states the settings: the tune’s lr with the command line’s schedule', async () => {
    const r = await train('lora_fast', '--schedule', 'cosine', '--warmup', '1');
    expect(r.code, r.err).toBe(0);
    expect(r.err).toContain('  optimizer: AdamW, lr 5e-2, cosine, warm-up 1, weight decay 0\n');
  });
});
