/**
 * `milec train --resume` and `--adapter`, end to end through the CLI. The steps share one set
 * of run folders and run in order (vitest runs a file's tests sequentially): the whole run,
 * the first half, the resumed half, then starting from the saved adapter.
 */
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { milec } from '../helpers/milec.ts';

const train = (...extra: string[]) =>
  milec(
    'train',
    'examples/tiny_classifier.mile',
    '--tune',
    'lora_qv',
    '--batch',
    '4',
    '--log-every',
    '1',
    '--eval-batches',
    '1',
    '--json',
    ...extra,
  );
const losses = (out: string) =>
  out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
    .filter((l) => 'step' in l && !('done' in l))
    .map((l) => [l.step, l.loss]);

describe('milec train --resume / --adapter', () => {
  const whole = mkdtempSync(join(tmpdir(), 'milec-whole-'));
  const halves = mkdtempSync(join(tmpdir(), 'milec-halves-'));
  const other = mkdtempSync(join(tmpdir(), 'milec-other-'));
  let wholeLosses: number[][] = [];
  let firstHalf: number[][] = [];

  it('a 6-step run writes its checkpoints and the peft adapter folder', async () => {
    const r = await train('--steps', '6', '--checkpoint-every', '3', '--out', whole);
    expect(r.code, r.err).toBe(0);
    wholeLosses = losses(r.out);
    expect(wholeLosses).toHaveLength(6);
    expect(existsSync(join(whole, 'adapter', 'adapter_config.json'))).toBe(true);
  });

  it('3 steps, then --resume to 6, equal the 6-step run loss for loss', async () => {
    const half = await train('--steps', '3', '--out', halves);
    expect(half.code, half.err).toBe(0);
    expect(existsSync(join(halves, 'checkpoint', 'state.json'))).toBe(true);
    firstHalf = losses(half.out);
    const rest = await train('--steps', '6', '--out', halves, '--resume', halves);
    expect(rest.code, rest.err).toBe(0);
    expect([...firstHalf, ...losses(rest.out)]).toEqual(wholeLosses);
  });

  it('--adapter starts from the saved adapter; a wrong tune, checkpoint or weights file is a one-line error', async () => {
    const fromAdapter = await milec(
      'train',
      'examples/tiny_classifier.mile',
      '--tune',
      'lora_qv',
      '--batch',
      '4',
      '--steps',
      '1',
      '--eval-batches',
      '0',
      '--json',
      '--out',
      other,
      '--adapter',
      join(whole, 'adapter'),
    );
    expect(fromAdapter.code, fromAdapter.err).toBe(0);
    const wrong = await milec(
      'train',
      'examples/tiny_classifier.mile',
      '--tune',
      'ia3',
      '--steps',
      '1',
      '--out',
      other,
      '--adapter',
      join(whole, 'adapter'),
    );
    expect(wrong.code).toBe(1);
    expect(wrong.err).toMatch(/error: .*adapter_config\.json: does not match the compiled tune/);
    const bad = await train('--steps', '2', '--out', other, '--resume', '/nonexistent/run');
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/error: \/nonexistent\/run\/state\.json: missing/);
    const w = await train('--steps', '2', '--out', other, '--weights', '/nonexistent/w.safetensors');
    expect(w.code).toBe(1);
    expect(w.err).toMatch(/error: \/nonexistent\/w\.safetensors: no such file/);
  });
});
