/**
 * The pretrained MISS-tiny the repository ships, made by scripts/pretrain.sh in two stages:
 * examples/pretrained/scenes_vit.safetensors (the image encoder alone on the scenes' attributes)
 * and examples/pretrained/miss_tiny_scenes.safetensors (all of MISS-tiny on the scenes' questions
 * and captions, from that encoder; the `weights { }` of examples/miss_tiny.mile). Each file's
 * metadata records the command, seed and milec version that made it, its tensors are its model's
 * own parameters, and re-running the recorded command's first steps reproduces the recorded losses.
 *
 * The re-run uses the float64 reference executor on the recorded command's settings (model file,
 * data, seed, batch, starting weights): step 1's loss is the forward of the starting values on
 * batch 0, and step 2's the forward of the same values on batch 1 with step 2's dropout masks,
 * because the learning rate of the first update is 0 during warm-up (lr · step / warmup at step
 * 0, HF's schedule), so that update changes nothing. On lavapipe the training step's kernels take
 * about a minute to compile on a cold shader cache; the reference gives the same numbers in seconds.
 */
import { describe, expect, it } from 'vitest';
import { compileFrontEnd } from '../../compiler/pipeline.ts';
import { eliminateDead } from '../../compiler/ir/simplify.ts';
import { SEED_INPUT } from '../../compiler/ir/graph.ts';
import { specialize } from '../../compiler/ir/specialize.ts';
import { displayPath } from '../../core/param-path.ts';
import { openDataset } from '../../runtime/data/index.ts';
import { initialParams } from '../../runtime/params.ts';
import { runReference } from '../../runtime/reference-run.ts';
import { readSafetensors } from '../../runtime/safetensors.ts';
import { seedFor } from '../../runtime/session.ts';
import { fileHost } from '../../runtime/source-files.ts';
import { startingWeights } from '../../runtime/starting-weights.ts';
import { loadWeights, weightsSources } from '../../runtime/weights.ts';

const STAGES = [
  { file: 'examples/pretrained/scenes_vit.safetensors', model: 'examples/scenes_vit.mile', from: 'none' },
  {
    file: 'examples/pretrained/miss_tiny_scenes.safetensors',
    model: 'examples/miss_tiny.mile',
    from: 'examples/pretrained/scenes_vit.safetensors',
  },
];

/** The recorded command's words (it quotes nothing that needs a shell: checked). */
function words(command: string): string[] {
  expect(command).not.toMatch(/['"\\]/);
  return command.split(/\s+/);
}

function option(argv: readonly string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

/** The command's `--config name=value` settings (the option repeats). */
function configOverrides(argv: readonly string[]): Map<string, string> {
  const pairs = argv.flatMap((a, i) => (a === '--config' ? [argv[i + 1]!.split('=') as [string, string]] : []));
  return new Map(pairs);
}

describe.each(STAGES)('the shipped $file', async ({ file: shipped, model, from }) => {
  const file = await readSafetensors(shipped);
  const meta = file.metadata;
  const argv = words(meta.command ?? '');
  const fe = compileFrontEnd({ host: fileHost(), file: model, config: configOverrides(argv), training: true }).result!;

  it('records the command, seed and milec version that made it', () => {
    expect(argv.slice(0, 3)).toEqual(['milec', 'train', model]);
    expect(option(argv, '--data')).toBe('synthetic-scenes');
    expect(option(argv, '--weights')).toBe(from);
    expect(option(argv, '--save-weights')).toBe(shipped);
    expect(meta.seed).toBe(option(argv, '--seed') ?? '0');
    expect(meta.milec_version).toMatch(/^\d+\.\d+\.\d+/);
    expect(meta.steps).toBe(option(argv, '--steps'));
    expect(meta.format).toBe('milec-weights');
  });

  it("holds exactly its model's parameters", () => {
    const want = fe.train!.params.filter((p) => !p.addedBy);
    expect([...file.names].sort()).toEqual(want.map((p) => displayPath(p.name)).sort());
    for (const p of want) expect(file.tensors[displayPath(p.name)]!.shape).toEqual(p.shape.map(Number));
  });

  it("re-running the recorded command's first two steps gives its recorded losses", async () => {
    const recorded = JSON.parse(meta.losses_first!) as number[];
    const seed = Number(option(argv, '--seed') ?? 0);
    const batch = Number(option(argv, '--batch'));
    // The argument above needs the first update's learning rate to be 0: a warm-up of at least 2 steps.
    expect(Number(option(argv, '--warmup'))).toBeGreaterThanOrEqual(2);
    const train = specialize(fe.train!, { B: batch });
    // The forward only: the loss and what it depends on.
    const forward = eliminateDead({ ...train, outputs: { loss: train.outputs.loss! }, grads: {} });
    const start =
      from === 'none'
        ? undefined
        : await loadWeights(weightsSources(from), forward.params, { allowMissing: argv.includes('--allow-missing') });
    const params = new Map([...initialParams(forward, seed, start?.values)].map(([k, v]) => [k, Float64Array.from(v)]));
    const data = openDataset(option(argv, '--data')!, fe.model, seed);
    for (const step of [0, 1]) {
      const inputs = new Map<string, Float64Array | Int32Array>();
      for (const [k, v] of Object.entries(data.batch(step, batch, 'train').inputs))
        inputs.set(k, v instanceof Float32Array ? Float64Array.from(v) : v);
      inputs.set(SEED_INPUT, seedFor(seed, step));
      const loss = runReference(forward, { params, inputs })[forward.outputs.loss!]!.data[0]!;
      expect(Math.abs(loss - recorded[step]!) / recorded[step]!).toBeLessThan(2e-5);
    }
  });
});

it('examples/miss_tiny.mile starts from the second stage', () => {
  const fe = compileFrontEnd({ host: fileHost(), file: 'examples/miss_tiny.mile', training: true }).result!;
  expect(startingWeights({}, fe.model).weights).toBe(STAGES[1]!.file);
});
