/**
 * `milec sweep` runs each tune with its own `optimizer { ... }` settings unless the command line
 * gives them, and every report shows the settings each row trained with.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jsonLines, milec } from '../helpers/milec.ts';

const dir = mkdtempSync(join(tmpdir(), 'milec-sweep-opt-'));
const file = join(dir, 'miss.mile');
writeFileSync(
  file,
  readFileSync('examples/miss_tiny.mile', 'utf8') +
    `
tune plain_lora for MissTiny {
  lora(r = 4, alpha = 32, dropout = 0.1) on text_decoder.**.{query, value}
}
tune lora_fast for MissTiny {
  lora(r = 4, alpha = 32, dropout = 0.1) on text_decoder.**.{query, value}
  optimizer { lr = 2e-2, schedule = cosine, warmup = 1, weight_decay = 0.01 }
}
`,
);

const sweep = (out: string, ...extra: string[]) =>
  milec(
    'sweep',
    file,
    '--tunes',
    'plain_lora,lora_fast',
    // The copy in a temporary folder lacks the pretrained file its weights block names.
    '--weights',
    'none',
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

type Row = { tune: string; lr: number; schedule: string; warmup: number; weightDecay: number };
const rowsOf = (out: string): Row[] => JSON.parse(readFileSync(join(out, 'sweep.json'), 'utf8')).rows;
const settings = (r: Row) => [r.tune, r.lr, r.schedule, r.warmup, r.weightDecay];

/** The CSV's optimizer columns, by name, per tune line. */
function csvSettings(out: string): string[][] {
  const [head, ...lines] = readFileSync(join(out, 'sweep.csv'), 'utf8').trim().split('\n');
  const at = ['tune', 'lr', 'schedule', 'warmup', 'weight_decay'].map((c) => head!.split(',').indexOf(c));
  return lines.filter((l) => !l.startsWith('baseline,')).map((l) => at.map((i) => l.split(',')[i]!));
}

describe('milec sweep: each tune’s optimizer block', () => {
  it('each tune trains with its own settings (the defaults without a block); --lr overrides every tune’s lr', async () => {
    const own = await sweep(join(dir, 'own'));
    expect(own.code, own.err).toBe(0);
    expect(rowsOf(join(dir, 'own')).map(settings)).toEqual([
      ['plain_lora', 1e-3, 'constant', 0, 0],
      ['lora_fast', 2e-2, 'cosine', 1, 0.01],
    ]);
    // Every report shows each tune's own settings: CSV columns, one table column in sweep.md and report.html.
    expect(csvSettings(join(dir, 'own'))).toEqual([
      ['plain_lora', '0.001', 'constant', '0', '0'],
      ['lora_fast', '0.02', 'cosine', '1', '0.01'],
    ]);
    const md = readFileSync(join(dir, 'own', 'sweep.md'), 'utf8');
    expect(md).toContain('| plain_lora | synthetic | lr 1e-3, constant |');
    expect(md).toContain('| lora_fast | synthetic | lr 2e-2, cosine, warm-up 1, weight decay 1e-2 |');
    expect(readFileSync(join(dir, 'own', 'report.html'), 'utf8')).toContain('<td>lr 2e-2, cosine, warm-up 1, weight decay 1e-2</td>');
    // The tune's --json line is its row, settings included.
    expect(jsonLines(own.out)[1]).toMatchObject({ tune: 'lora_fast', lr: 2e-2, schedule: 'cosine', warmup: 1, weightDecay: 0.01 });

    const flag = await sweep(join(dir, 'flag'), '--lr', '5e-4');
    expect(flag.code, flag.err).toBe(0);
    // --lr replaces every tune's lr; the block's other settings still apply.
    expect(rowsOf(join(dir, 'flag')).map(settings)).toEqual([
      ['plain_lora', 5e-4, 'constant', 0, 0],
      ['lora_fast', 5e-4, 'cosine', 1, 0.01],
    ]);
    expect(readFileSync(join(dir, 'flag', 'sweep.md'), 'utf8')).toContain(
      '| lora_fast | synthetic | lr 5e-4, cosine, warm-up 1, weight decay 1e-2 |',
    );
  });
});
