/**
 * A model's `weights { }` block as users meet it: `milec train --save-weights` writes a file with
 * what made it, a model naming that file starts from it without flags, `--weights none` starts
 * from random values, and a missing default file is an error that names its declaration.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSafetensors } from '../../runtime/safetensors.ts';
import { jsonLines, milec } from '../helpers/milec.ts';

const dir = mkdtempSync(join(tmpdir(), 'milec-model-weights-'));
const weightsFile = join(dir, 'pre', 'tiny.safetensors');

/** examples/tiny_classifier.mile with `block` after its config, in `dir`. */
function modelFile(name: string, block: string): string {
  const src = readFileSync('examples/tiny_classifier.mile', 'utf8').replace(/(\n  config \{[^\n]*\n)/, `$1  ${block}\n`);
  expect(src).toContain(block);
  const path = join(dir, name);
  writeFileSync(path, src);
  return path;
}

const train = (file: string, ...extra: string[]) =>
  milec('train', file, '--tune', 'lora_qv', '--steps', '1', '--batch', '4', '--eval-batches', '0', '--out', join(dir, 'run'), ...extra);

describe("a model's default weights", () => {
  it('--save-weights records the command, seed, version and first losses', async () => {
    const r = await milec(
      'train',
      'examples/tiny_classifier.mile',
      '--steps',
      '3',
      '--batch',
      '4',
      '--seed',
      '5',
      '--eval-batches',
      '0',
      '--log-every',
      '1',
      '--out',
      join(dir, 'pre-run'),
      '--save-weights',
      weightsFile,
      '--json',
    );
    expect(r.code, r.err).toBe(0);
    const losses = jsonLines(r.out)
      .filter((l) => 'step' in l)
      .map((l) => l.loss as number);
    const f = await readSafetensors(weightsFile);
    expect(f.metadata).toMatchObject({ format: 'milec-weights', model: 'TinyClassifier', seed: '5', steps: '3', data: 'synthetic' });
    expect(f.metadata.command).toBe(
      `milec train examples/tiny_classifier.mile --steps 3 --batch 4 --seed 5 --eval-batches 0 --log-every 1 --out ${join(dir, 'pre-run')} --save-weights ${weightsFile} --json`,
    );
    expect(f.metadata.milec_version).toMatch(/^\d+\.\d+\.\d+/);
    const recorded = JSON.parse(f.metadata.losses_first!) as number[];
    expect(recorded).toHaveLength(3);
    recorded.forEach((l, i) => expect(l).toBeCloseTo(losses[i]!, 5));
    expect(f.names).toContain('head.weight');
  });

  it('a model naming the file starts from it without flags; --weights none starts from random values', async () => {
    const file = modelFile('with-weights.mile', 'weights { file = "pre/tiny.safetensors" }');
    const r = await train(file);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(
      /loaded \d+ tensors from .*pre\/tiny\.safetensors \(the model's weights, .*with-weights\.mile:\d+; --weights none/,
    );
    const none = await train(file, '--weights', 'none');
    expect(none.code, none.err).toBe(0);
    expect(none.err).not.toMatch(/loaded \d+ tensors/);
  });

  it('a missing default file is an error naming its declaration and the way out', async () => {
    const file = modelFile('missing.mile', 'weights { file = "nowhere/x.safetensors" }');
    const r = await train(file);
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/nowhere\/x\.safetensors/);
    expect(r.err).toMatch(/declared at .*missing\.mile:\d+; --weights none starts from random values/);
  });
});
