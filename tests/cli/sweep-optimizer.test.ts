/** `milec sweep` runs each tune with its own `optimizer { lr = … }` unless `--lr` is given, and sweep.json records the lr. */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { milec } from '../helpers/milec.ts';

const dir = mkdtempSync(join(tmpdir(), 'milec-sweep-opt-'));
const file = join(dir, 'miss.mile');
writeFileSync(
  file,
  readFileSync('examples/miss_tiny.mile', 'utf8') +
    `
tune lora_fast for MissTiny {
  lora(r = 4, alpha = 32, dropout = 0.1) on text_decoder.**.{query, value}
  optimizer { lr = 2e-2, warmup = 1 }
}
`,
);

const sweep = (out: string, ...extra: string[]) =>
  milec(
    'sweep',
    file,
    '--tunes',
    'f_f_lora_r4,lora_fast',
    '--steps',
    '2',
    '--batch',
    '2',
    '--beams',
    '1',
    '--eval-data',
    'synthetic-vqa:4',
    '--out',
    out,
    '--json',
    ...extra,
  );

const rowsOf = (out: string): { tune: string; lr: number }[] => JSON.parse(readFileSync(join(out, 'sweep.json'), 'utf8')).rows;

describe('milec sweep: each tune’s optimizer block', () => {
  it('each tune trains with its own lr (the default without a block); --lr overrides every tune', async () => {
    const own = await sweep(join(dir, 'own'));
    expect(own.code, own.err).toBe(0);
    expect(rowsOf(join(dir, 'own')).map((r) => [r.tune, r.lr])).toEqual([
      ['f_f_lora_r4', 1e-3],
      ['lora_fast', 2e-2],
    ]);
    const flag = await sweep(join(dir, 'flag'), '--lr', '5e-4');
    expect(flag.code, flag.err).toBe(0);
    expect(rowsOf(join(dir, 'flag')).map((r) => [r.tune, r.lr])).toEqual([
      ['f_f_lora_r4', 5e-4],
      ['lora_fast', 5e-4],
    ]);
  }, 300_000);
});
