/** `milec train --resume` and `--adapter`, end to end through the CLI. */
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { milec } from '../helpers/milec.ts';

const train = (...extra: string[]) => milec('train', 'examples/tiny_classifier.mile', '--tune', 'lora_qv', '--batch', '4', '--log-every', '1', '--eval-batches', '1', '--json', ...extra);
const losses = (out: string) => out.trim().split('\n').map((l) => JSON.parse(l)).filter((l) => 'step' in l && !('done' in l)).map((l) => [l.step, l.loss]);

describe('milec train --resume / --adapter', () => {
  it('6 steps equal 3 steps + --resume to 6, loss for loss; the peft adapter folder is written', async () => {
    const a = mkdtempSync(join(tmpdir(), 'milec-a-'));
    const b = mkdtempSync(join(tmpdir(), 'milec-b-'));
    const whole = await train('--steps', '6', '--checkpoint-every', '3', '--out', a);
    expect(whole.code, whole.err).toBe(0);
    const half = await train('--steps', '3', '--out', b);
    expect(half.code, half.err).toBe(0);
    expect(existsSync(join(b, 'checkpoint', 'state.json'))).toBe(true);
    expect(existsSync(join(b, 'adapter', 'adapter_config.json'))).toBe(true);
    const rest = await train('--steps', '6', '--out', b, '--resume', b);
    expect(rest.code, rest.err).toBe(0);
    expect([...losses(half.out), ...losses(rest.out)]).toEqual(losses(whole.out));
    // Starting from the saved adapter reproduces the resumed run's first loss.
    const c = mkdtempSync(join(tmpdir(), 'milec-c-'));
    const fromAdapter = await milec('train', 'examples/tiny_classifier.mile', '--tune', 'lora_qv', '--batch', '4', '--steps', '1', '--eval-batches', '1', '--json', '--out', c, '--adapter', join(a, 'adapter'));
    expect(fromAdapter.code, fromAdapter.err).toBe(0);
    // A wrong tune's adapter, a bad checkpoint and a bad weights file are one-line errors.
    const wrong = await milec('train', 'examples/tiny_classifier.mile', '--tune', 'ia3', '--steps', '1', '--out', c, '--adapter', join(a, 'adapter'));
    expect(wrong.code).toBe(1);
    expect(wrong.err).toMatch(/error: .*adapter_config\.json: does not match the compiled tune/);
    const bad = await train('--steps', '2', '--out', c, '--resume', '/nonexistent/run');
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/error: \/nonexistent\/run\/state\.json: missing/);
    const w = await train('--steps', '2', '--out', c, '--weights', '/nonexistent/w.safetensors');
    expect(w.code).toBe(1);
    expect(w.err).toMatch(/error: \/nonexistent\/w\.safetensors: no such file/);
  }, 120_000);
});
