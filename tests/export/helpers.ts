/**
 * Shared by the PyTorch export tests: MISS-tiny (examples/miss_tiny.mile) shrunk with config
 * overrides, four dropout-free tunes of it (one per exported method family), the export of a
 * tune, and Debian's PyTorch (`/usr/bin/python3` with `python3-torch`; the `python3` on PATH
 * may be a shim without it).
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { compileFrontEnd, type FrontEnd } from '../../compiler/pipeline.ts';
import { specialize } from '../../compiler/ir/specialize.ts';
import { openDataset, type Dataset } from '../../runtime/data/index.ts';
import { exportTorch, type TorchExportSummary } from '../../runtime/export/torch.ts';
import { initialParams } from '../../runtime/params.ts';
import { mulberry32 } from '../../runtime/reference-run.ts';
import { readSafetensors } from '../../runtime/safetensors.ts';
import { fileHost } from '../../runtime/source-files.ts';

export const PYTHON = process.env.MILEC_TORCH_PYTHON ?? '/usr/bin/python3';

/** Why the PyTorch tests cannot run here (no python3-torch), or undefined. */
export function torchMissing(): string | undefined {
  try {
    execFileSync(PYTHON, ['-c', 'import torch'], { stdio: 'pipe', timeout: 30_000 });
    return undefined;
  } catch {
    return `${PYTHON} cannot import torch: install Debian's python3-torch (scripts/setup.sh does as root) to run the PyTorch export tests`;
  }
}

export const MISS_TINY = 'examples/miss_tiny.mile';
/**
 * Small enough for a test: one layer of width 16 everywhere, 16×16 images (5 tokens with the
 * class token), questions and answers of 5 tokens, no dropout. Equal sizes make equal kernels:
 * every attention is 5 × 5, every projection and MLP 16 → 16, so the towers share their kernels
 * and a cold shader cache compiles about a quarter fewer of them.
 */
export const SMALL = new Map(
  Object.entries({ image: '16', dim: '16', depth: '1', heads: '2', hidden: '16', qlen: '5', alen: '5', p: '0.0' }),
);

/** The tunes of the parity test: the example's methods at its sites, without dropout (PyTorch's RNG is not Dawn's). */
export const TUNES: Record<string, string> = {
  lora: `tune x_lora for MissTiny {
  lora(r = 4, alpha = 32, dropout = 0.0) on {text_encoder, text_decoder}.**.{query, value}, visual_encoder.blocks.*.mlp.fc1,
    visual_encoder.patch_embed.proj
}`,
  ia3: `tune x_ia3 for MissTiny {
  ia3() on {text_encoder, text_decoder}.**.{key, value}, visual_encoder.blocks.*.attn.qkv
  ia3(feedforward = true) on text_decoder.**.output.dense
}`,
  prefix: `tune x_prefix for MissTiny {
  prefix(tokens = 3, hidden = 8) on text_decoder.bert.encoder.layer.*.attention.self
}`,
  ptv2: `tune x_ptv2 for MissTiny {
  ptv2(tokens = 3) on text_encoder.encoder.layer.*.attention.self
}`,
  // The other exported methods in one tune (saved in milec's own adapter format).
  more: `tune x_more for MissTiny {
  dora(r = 2, alpha = 4) on text_decoder.**.attention.self.{query, value}
  adapter(size = 4) on visual_encoder.blocks.*.mlp, text_decoder.**.output.dense
  adapter(size = 4, parallel = true, scale = 0.5) on text_encoder.encoder.layer.*.attention.output.dense
  ln_tuning() on text_decoder.bert.encoder.layer.*.output.LayerNorm
}`,
};

/** A tune of another example (its own tune, unchanged): prompt tuning, which MISS-tiny's masks do not allow. */
const OTHER: Record<string, { file: string; tune: string }> = { prompt: { file: 'examples/tiny_classifier.mile', tune: 'prompt' } };

export function compileTune(method: string): FrontEnd {
  const other = OTHER[method];
  const r = other
    ? compileFrontEnd({ host: fileHost(), file: other.file, tune: other.tune, training: true })
    : compileFrontEnd({
        host: fileHost(),
        file: MISS_TINY,
        text: readFileSync(MISS_TINY, 'utf8') + '\n' + TUNES[method] + '\n',
        tune: `x_${method}`,
        training: true,
        config: SMALL,
      });
  if (!r.result) throw new Error(r.diagnostics.map((d) => `${d.span.line}:${d.span.col} ${d.message}`).join('; '));
  return r.result;
}

/**
 * Starting values: milec's initial values with every PEFT-added parameter moved off its
 * no-op start (LoRA's B is zero at first, which would make A's gradient zero on both sides).
 */
export function startingParams(fe: FrontEnd, batch: number, seed = 5): Map<string, Float32Array> {
  const g = specialize(fe.forward, { B: batch });
  const params = initialParams(g, seed);
  const rng = mulberry32(seed + 1);
  for (const p of g.params) {
    if (!p.addedBy) continue;
    const v = params.get(p.name)!;
    params.set(
      p.name,
      v.map((x) => x + 0.2 * (rng() - 0.5)),
    );
  }
  return params;
}

export interface Exported {
  readonly fe: FrontEnd;
  readonly data: Dataset;
  readonly params: Map<string, Float32Array>;
  readonly summary: TorchExportSummary;
}

export async function exportTune(method: string, out: string, o: { batch: number; steps: number; lr?: number }): Promise<Exported> {
  const fe = compileTune(method);
  const data = openDataset('synthetic', fe.model, 3);
  const params = startingParams(fe, o.batch);
  const summary = await exportTorch(fe, {
    out,
    source: OTHER[method]?.file ?? MISS_TINY,
    data,
    steps: o.steps,
    batch: o.batch,
    seed: 1,
    optimizer: { lr: o.lr ?? 1e-2, schedule: 'cosine', warmup: 1, weightDecay: 0.01 },
    params,
  });
  return { fe, data, params, summary };
}

/** Runs `PYTHON args…` (extra environment in `env`); resolves with stdout, rejects with stderr on failure. */
export function python(args: readonly string[], env: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(PYTHON, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${PYTHON} ${args.join(' ')} exited ${code}:\n${err}`))));
  });
}

/** Every tensor of a safetensors file as a Float32Array (or Int32Array), by name. */
export async function tensorsOf(path: string): Promise<Map<string, Float32Array | Int32Array>> {
  const f = await readSafetensors(path);
  return new Map(Object.entries(f.tensors).map(([k, t]) => [k, t.data]));
}

/** max |a − b| / max |b|: the error relative to the tensor's scale. */
export function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return scale === 0 ? diff : diff / scale;
}
