/**
 * The "peers" section of `npm run bench`: milec's training step of
 *   examples/tiny_classifier.mile --tune lora_qv --config dim=128 --config hidden=512 --config seq=32 --config max_len=64
 * at batch 8, next to the same step written by hand in peer frameworks, each run as a child
 * process in the same invocation: TF.js on its `webgpu` backend (the same Dawn adapter),
 * TF.js on `wasm`, PyTorch on the CPU. The peers live in `bench/peers/`, a package of their own
 * (`bash bench/peers/setup.sh`), so the root `npm ci` and the tests stay lean; a missing
 * peer is skipped with a one-line note.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileFrontEnd } from '../compiler/pipeline.ts';
import { openDataset } from '../runtime/data/index.ts';
import type { GpuContext } from '../runtime/device.ts';
import { initialParams } from '../runtime/params.ts';
import { fileHost } from '../runtime/source-files.ts';
import { type TrainConfig, Trainer } from '../runtime/train.ts';

const PEERS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'peers');
const BATCH = 8;
const CONFIG: ReadonlyArray<[string, string]> = [
  ['dim', '128'],
  ['hidden', '512'],
  ['seq', '32'],
  ['max_len', '64'],
];

/** One system's measurement; the peers print this as a JSON line. */
export interface PeerResult {
  readonly peer: string;
  readonly msPerStep?: number;
  readonly steps?: number;
  readonly version?: string;
  readonly kernelsPerStep?: number;
  readonly threads?: number;
  readonly simd?: boolean;
  readonly params?: { readonly total: number; readonly trainable: number };
  readonly firstLoss?: number;
  readonly error?: string;
  /** milec only: each matmul dispatch's best time and floating-point operations (`PlanExecutor.profile`). */
  readonly matmuls?: readonly MatmulTiming[];
  /** milec only: the step's dispatches by op of the kernel (its core when it has one). */
  readonly dispatchesByOp?: Readonly<Record<string, number>>;
}

export interface MatmulTiming {
  readonly step: number;
  readonly shape: readonly number[];
  readonly flops: number;
  readonly ms: number;
}

/** Each matmul step of a plan with its FLOPs (2·M·N·K per output element row), and the step count by op. */
export function planProfile(trainer: Trainer, best: readonly { step: number; ms: number }[]) {
  const g = trainer.backend.graph;
  const matmuls: MatmulTiming[] = [];
  const byOp: Record<string, number> = {};
  for (const [i, st] of trainer.backend.plan.steps.entries()) {
    const coreId = st.kernel.core ?? st.kernel.output;
    const core = g.nodes[coreId]!;
    byOp[core.op] = (byOp[core.op] ?? 0) + 1;
    if (core.op !== 'matmul') continue;
    const a = g.nodes[core.src[0]!]!.shape as number[];
    const { transA } = core.attrs as { transA: boolean };
    const k = transA ? a[a.length - 2]! : a[a.length - 1]!;
    const out = core.shape as number[];
    const numel = out.reduce((n, d) => n * d, 1);
    matmuls.push({ step: i, shape: out, flops: 2 * numel * k, ms: best[i]?.ms ?? 0 });
  }
  const updates = trainer.executor.dispatchCount - trainer.backend.plan.steps.length;
  if (updates > 0) byOp['optimizer'] = updates;
  return { matmuls, byOp };
}

/** A trainer's settings for timing steps only: no checkpoints, no evaluation, lr 1e-3. */
export function benchTrainConfig(batch: number, evalBatches = 0): TrainConfig {
  return {
    steps: 0,
    batch,
    lr: 1e-3,
    weightDecay: 0,
    seed: 0,
    bindings: { B: batch },
    checkpointEvery: 1e9,
    evalBatches,
    outDir: '/tmp',
    metadata: {},
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** milec's step: one fixed batch fed before timing, each timed step ends with the loss read back. */
async function milecStep(ctx: GpuContext, reps: number): Promise<PeerResult> {
  const fe = compileFrontEnd({
    host: fileHost(),
    file: 'examples/tiny_classifier.mile',
    tune: 'lora_qv',
    config: new Map(CONFIG),
    training: true,
  }).result!;
  const data = openDataset('synthetic', fe.model, 0);
  const cfg = benchTrainConfig(BATCH);
  const trainer = await Trainer.create(ctx, fe.train!, cfg);
  try {
    const g = trainer.backend.graph;
    trainer.load(initialParams(g, 0));
    trainer.session.feed(data.batch(0, BATCH, 'train').inputs, { step: 0 });
    const step = async (i: number) => (await trainer.session.step({ step: i + 1, lr: 1e-3 })).loss![0]!;
    const firstLoss = await step(0);
    for (let i = 1; i < 3; i++) await step(i);
    const ms: number[] = [];
    for (let i = 0; i < reps; i++) {
      const t = performance.now();
      await step(3 + i);
      ms.push(performance.now() - t);
    }
    const size = (s: readonly unknown[]) => s.reduce<number>((n, d) => n * (d as number), 1);
    const { matmuls, byOp } = planProfile(trainer, await trainer.executor.profile(3));
    return {
      matmuls,
      dispatchesByOp: byOp,
      peer: 'milec',
      msPerStep: median(ms),
      steps: reps,
      kernelsPerStep: trainer.executor.dispatchCount,
      params: {
        total: g.params.reduce((n, p) => n + size(p.shape), 0),
        trainable: g.params.filter((p) => p.trainable).reduce((n, p) => n + size(p.shape), 0),
      },
      firstLoss,
    };
  } finally {
    trainer.destroy();
  }
}

/** Runs a peer; its JSON lines on stdout, stderr kept for the note when it fails. */
function runPeer(cmd: string, args: string[], peer: string, timeoutMs: number): Promise<PeerResult[]> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: join(PEERS_DIR, '..', '..'), stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', (e) => resolve([{ peer, error: e.message }]));
    child.on('close', (code, signal) => {
      const lines = out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as PeerResult);
      if (lines.length) return resolve(lines);
      const why = signal ? `killed by ${signal}` : `exit ${code}`;
      const last =
        err
          .trim()
          .split('\n')
          .filter((l) => !/artificially reduced/.test(l))
          .pop() ?? '';
      resolve([{ peer, error: `${why}${last ? `: ${last.slice(0, 200)}` : ''}` }]);
    });
  });
}

/** A python3 that imports torch: BENCH_PYTHON, else `python3`, else /usr/bin/python3 (a pyenv shim may hide Debian's). */
function torchPython(): string | undefined {
  const candidates = process.env.BENCH_PYTHON ? [process.env.BENCH_PYTHON] : ['python3', '/usr/bin/python3'];
  return candidates.find((py) => spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore', timeout: 60_000 }).status === 0);
}

/** Prints the peer table; returns every system's result (milec first) for the targets section. */
export async function peersSection(ctx: GpuContext, reps: number): Promise<PeerResult[]> {
  const what = `examples/tiny_classifier.mile --tune lora_qv ${CONFIG.map(([k, v]) => `--config ${k}=${v}`).join(' ')}, batch ${BATCH}`;
  console.log(`\npeers: the training step of ${what}, median of ${reps} after 3 warm-up steps, loss read back each step`);
  const rows: PeerResult[] = [await milecStep(ctx, reps)];
  const notes: string[] = [];
  const timeout = 600_000;
  if (existsSync(join(PEERS_DIR, 'node_modules', '@tensorflow', 'tfjs-core'))) {
    for (const backend of ['webgpu', 'wasm']) {
      const script = join(PEERS_DIR, 'tfjs-step.mjs');
      rows.push(...(await runPeer(process.execPath, [script, '--backend', backend, '--steps', String(reps)], `tfjs-${backend}`, timeout)));
    }
  } else notes.push('tfjs-webgpu, tfjs-wasm: skipped, bench/peers/node_modules is missing (bash bench/peers/setup.sh)');
  const py = torchPython();
  if (py) rows.push(...(await runPeer(py, [join(PEERS_DIR, 'torch_step.py'), '--steps', String(reps)], 'torch-cpu', timeout)));
  else notes.push('torch-cpu: skipped, no python3 imports torch (bash bench/peers/setup.sh as root, or BENCH_PYTHON=…)');

  const milec = rows[0]!.msPerStep!;
  console.log('| system      | ms/step | kernels/step | milec speed-up |');
  console.log('|-------------|---------|--------------|----------------|');
  for (const r of rows) {
    if (r.error !== undefined) {
      notes.push(`${r.peer}: failed, ${r.error}`);
      continue;
    }
    const ms = r.msPerStep!;
    const speedup = r.peer === 'milec' ? '1.00×' : `${(ms / milec).toFixed(2)}×`;
    console.log(
      `| ${r.peer.padEnd(11)} | ${ms.toFixed(1).padStart(7)} | ${String(r.kernelsPerStep ?? '—').padStart(12)} | ${speedup.padStart(14)} |`,
    );
  }
  const detail = (r: PeerResult) =>
    [
      r.version && `${r.version}`,
      r.threads !== undefined && `${r.threads} thread${r.threads === 1 ? '' : 's'}`,
      r.simd && 'SIMD',
      r.params && `${r.params.total.toLocaleString('en-US')} parameters, ${r.params.trainable.toLocaleString('en-US')} trainable`,
      r.firstLoss !== undefined && `first loss ${r.firstLoss.toFixed(4)}`,
    ]
      .filter(Boolean)
      .join(', ');
  for (const r of rows) if (r.error === undefined) console.log(`  ${r.peer}: ${detail(r)}`);
  for (const n of notes) console.log(`  ${n}`);
  console.log(
    '  kernels/step: milec counts its GPU dispatches; TF.js counts the kernels it runs (tf.profile), some of them on the CPU; PyTorch is not counted',
  );
  return rows;
}
