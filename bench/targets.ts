/**
 * The "targets" section of `npm run bench`: issue 10's performance goals next to what this
 * run measured, each marked met or with its gap and the cause the numbers point at.
 *  - the peers' LoRA step (bench/peers.ts): milec / best WebGPU peer ≤ 0.2×, and faster than
 *    the best CPU-native peer;
 *  - that step's dispatches ≤ 60, with the step's kernels counted by op;
 *  - its largest matmul kernels at ≥ 60 % of the adapter's FMA rate, measured here by a kernel
 *    of independent register FMAs;
 *  - the study model's (examples/miss_vqa.mile, f_lora_lora_r4, batch 1) dispatches per step
 *    < 1,500 from its plan for this adapter's kernel target, and with `BENCH_STUDY=1` its step
 *    time < 25 s (minutes on lavapipe, so not by default);
 *  - cold start < 5 s: `milec train` of the default example to its first step, as a child
 *    process with an empty Mesa shader cache.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildBackend } from '../compiler/backend.ts';
import { compileFrontEnd } from '../compiler/pipeline.ts';
import { openDataset } from '../runtime/data/index.ts';
import type { GpuContext } from '../runtime/device.ts';
import { initialParams } from '../runtime/params.ts';
import { fileHost } from '../runtime/source-files.ts';
import { Trainer } from '../runtime/train.ts';
import { benchTrainConfig, type PeerResult, planProfile } from './peers.ts';

const WEBGPU_PEERS = ['tfjs-webgpu'];
const CPU_PEERS = ['tfjs-wasm', 'torch-cpu'];
const STUDY = { file: 'examples/miss_vqa.mile', tune: 'f_lora_lora_r4', batch: 1 };

interface Row {
  readonly what: string;
  readonly measured: string;
  readonly goal: string;
  readonly met: boolean | undefined;
  readonly cause?: string;
}

/** GFLOP/s of a kernel doing only fused multiply-adds on 8 independent vec4 accumulators per invocation. */
async function fmaRate(ctx: GpuContext): Promise<number> {
  const device = ctx.device;
  const iters = 4096;
  const groups = 256;
  const code = `@group(0) @binding(0) var<storage, read_write> o: array<vec4f>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3u) {
  let x = vec4f(f32(id.x) * 1e-7, 0.5, 0.25, 0.125);
  var a0 = x; var a1 = x + 1.0; var a2 = x + 2.0; var a3 = x + 3.0;
  var a4 = x + 4.0; var a5 = x + 5.0; var a6 = x + 6.0; var a7 = x + 7.0;
  let m = vec4f(0.999999);
  for (var i = 0u; i < ${iters}u; i++) {
    a0 = fma(a0, m, x); a1 = fma(a1, m, x); a2 = fma(a2, m, x); a3 = fma(a3, m, x);
    a4 = fma(a4, m, x); a5 = fma(a5, m, x); a6 = fma(a6, m, x); a7 = fma(a7, m, x);
  }
  o[id.x] = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
}`;
  const out = device.createBuffer({ size: groups * 64 * 16, usage: GPUBufferUsage.STORAGE });
  try {
    const pipeline = await device.createComputePipelineAsync({
      layout: 'auto',
      compute: { module: device.createShaderModule({ code }), entryPoint: 'main' },
    });
    const bind = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: out } }] });
    let best = Infinity;
    for (let r = 0; r < 4; r++) {
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bind);
      pass.dispatchWorkgroups(groups);
      pass.end();
      const t = performance.now();
      device.queue.submit([enc.finish()]);
      await device.queue.onSubmittedWorkDone();
      if (r > 0) best = Math.min(best, performance.now() - t);
    }
    // 8 accumulators × 4 lanes × 2 FLOPs per fma.
    return (groups * 64 * iters * 8 * 4 * 2) / (best * 1e6);
  } finally {
    out.destroy();
  }
}

/** Seconds from starting `milec train` on the default example with an empty shader cache to its first step's line. */
function coldStart(): Promise<number | string> {
  const cache = mkdtempSync(join(tmpdir(), 'milec-cold-'));
  const out = mkdtempSync(join(tmpdir(), 'milec-cold-run-'));
  const args = ['bin/milec.js', 'train', 'examples/tiny_classifier.mile', '--tune', 'lora_qv', '--steps', '1', '--eval-batches', '0'];
  return new Promise((resolve) => {
    const t = performance.now();
    const child = spawn(process.execPath, [...args, '--json', '--out', out], {
      env: { ...process.env, MESA_SHADER_CACHE_DIR: cache },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let first: number | undefined;
    let text = '';
    child.stdout.on('data', (d: Buffer) => {
      text += d;
      if (first === undefined && /"step":1\b/.test(text)) first = (performance.now() - t) / 1000;
    });
    child.on('close', (code) => {
      rmSync(cache, { recursive: true, force: true });
      rmSync(out, { recursive: true, force: true });
      resolve(first ?? `no first step (exit ${code})`);
    });
  });
}

/** The study model's plan for this adapter's kernel target; with `BENCH_STUDY=1` also a timed step. */
export async function studyModel(ctx: GpuContext): Promise<{
  dispatches: number;
  matmuls: number;
  measured: boolean;
  stepSeconds?: number;
  compileSeconds: number;
  /** With BENCH_STUDY=1: each op's kernels timed alone (ms, summed over the step) and the matmuls' FLOPs. */
  profile?: { byOpMs: [string, number][]; matmulFlops: number; matmulMs: number; totalMs: number };
}> {
  const t0 = performance.now();
  const fe = compileFrontEnd({ host: fileHost(), file: STUDY.file, tune: STUDY.tune, training: true }).result!;
  const backend = buildBackend(fe.train!, { B: STUDY.batch }, { target: ctx.target });
  const compileSeconds = (performance.now() - t0) / 1000;
  const steps = backend.plan.steps;
  const matmuls = steps.filter((st) => backend.graph.nodes[st.kernel.core ?? st.kernel.output]!.op === 'matmul').length;
  // Without a device run: the plan's kernels and the optimizer's one packed update.
  const planned = { dispatches: steps.length + (backend.plan.updates.length ? 1 : 0), matmuls, measured: false, compileSeconds };
  if (process.env.BENCH_STUDY !== '1') return planned;
  const data = openDataset('synthetic', fe.model, 0);
  const trainer = await Trainer.create(ctx, fe.train!, benchTrainConfig(STUDY.batch));
  try {
    trainer.load(initialParams(trainer.backend.graph, 0));
    await trainer.step(data, 0);
    const t = performance.now();
    await trainer.step(data, 1);
    const stepSeconds = (performance.now() - t) / 1000;
    // Where the step's time goes: every kernel timed on its own, summed per op.
    const best = await trainer.executor.profile(1);
    const g = trainer.backend.graph;
    const ms = new Map<string, number>();
    for (const [i, st] of trainer.backend.plan.steps.entries()) {
      const op = g.nodes[st.kernel.core ?? st.kernel.output]!.op;
      ms.set(op, (ms.get(op) ?? 0) + best[i]!.ms);
    }
    const { matmuls: mm } = planProfile(trainer, best);
    const profile = {
      byOpMs: [...ms].sort((a, b) => b[1] - a[1]),
      matmulFlops: mm.reduce((n, m) => n + m.flops, 0),
      matmulMs: mm.reduce((n, m) => n + m.ms, 0),
      totalMs: best.reduce((n, b) => n + b.ms, 0),
    };
    return { ...planned, dispatches: trainer.executor.dispatchCount, measured: true, stepSeconds, profile };
  } finally {
    trainer.destroy();
  }
}

const fmt = (x: number, digits = 2) => x.toFixed(digits);

export async function targetsSection(ctx: GpuContext, rows: readonly PeerResult[]): Promise<void> {
  const milec = rows.find((r) => r.peer === 'milec' && r.msPerStep !== undefined);
  const table: Row[] = [];
  const best = (names: string[]) =>
    rows.filter((r) => names.includes(r.peer) && r.msPerStep !== undefined).sort((a, b) => a.msPerStep! - b.msPerStep!)[0];
  if (milec) {
    const web = best(WEBGPU_PEERS);
    const cpu = best(CPU_PEERS);
    const ratio = (p: PeerResult | undefined) => (p ? milec.msPerStep! / p.msPerStep! : undefined);
    const rw = ratio(web);
    const rc = ratio(cpu);
    table.push({
      what: `LoRA step vs best WebGPU peer${web ? ` (${web.peer})` : ''}`,
      measured: rw === undefined ? 'peer not run' : `${fmt(rw)}×`,
      goal: '≤ 0.20×',
      met: rw === undefined ? undefined : rw <= 0.2,
      cause: 'the step is bound by its matmul kernels (below), not by dispatch overhead, which is what the peer loses on',
    });
    table.push({
      what: `LoRA step vs best CPU-native peer${cpu ? ` (${cpu.peer})` : ''}`,
      measured: rc === undefined ? 'peer not run' : `${fmt(rc)}×`,
      goal: '< 1.00×',
      met: rc === undefined ? undefined : rc < 1,
      cause: 'lavapipe runs WGSL through LLVM with 4-lane vectors and no cache blocking; the native peers call tuned GEMMs',
    });
    const byOp = Object.entries(milec.dispatchesByOp ?? {})
      .sort((a, b) => b[1] - a[1])
      .map(([op, n]) => `${op} ${n}`)
      .join(', ');
    table.push({
      what: 'dispatches per LoRA step',
      measured: String(milec.kernelsPerStep),
      goal: '≤ 60',
      met: (milec.kernelsPerStep ?? Infinity) <= 60,
      cause: `${byOp}: the q/k/v and LoRA A products of a block are separate kernels (no horizontal fusion yet) and attention takes 3 kernels forward`,
    });
    const peak = await fmaRate(ctx);
    const largest = [...(milec.matmuls ?? [])].sort((a, b) => b.flops - a.flops).slice(0, 3);
    const rates = largest.map((m) => m.flops / (m.ms * 1e6));
    const share = rates.length ? Math.min(...rates) / peak : 0;
    table.push({
      what: `largest matmuls (${largest.map((m) => `[${m.shape.join(',')}]`).join(' ')}) vs FMA rate ${fmt(peak, 1)} GFLOP/s`,
      measured: `${rates.map((r) => fmt(r, 1)).join(', ')} GFLOP/s (${fmt(100 * share, 0)} %)`,
      goal: '≥ 60 %',
      met: share >= 0.6,
      cause: 'these products are small (K = 128–512): loads of A and B per FMA stay high in register tiles of 4×4–8×8',
    });
  }
  const study = await studyModel(ctx);
  table.push({
    what: `study model ${STUDY.tune}, batch ${STUDY.batch}: dispatches per step (${ctx.target} kernels${study.measured ? '' : ', from the plan'})`,
    measured: String(study.dispatches),
    goal: '< 1,500',
    met: study.dispatches < 1500,
    cause: `${study.matmuls} of them are matmuls (forward, input gradients through every frozen layer, the LoRA factors): horizontal fusion (q, k, v and LoRA A of a block in one product) and one-kernel attention are not built`,
  });
  table.push({
    what: `study model ${STUDY.tune}, batch ${STUDY.batch}: step time`,
    measured: study.stepSeconds === undefined ? 'BENCH_STUDY=1 to time' : `${fmt(study.stepSeconds, 1)} s`,
    goal: '< 25 s',
    met: study.stepSeconds === undefined ? undefined : study.stepSeconds < 25,
    cause: study.profile
      ? `kernels timed alone sum to ${fmt(study.profile.totalMs / 1000, 1)} s: ${study.profile.byOpMs
          .slice(0, 6)
          .map(([op, ms]) => `${op} ${fmt(ms / 1000, 1)} s`)
          .join(
            ', ',
          )}; the matmuls do ${fmt(study.profile.matmulFlops / 1e9, 0)} GFLOP at ${fmt(study.profile.matmulFlops / (study.profile.matmulMs * 1e6), 1)} GFLOP/s`
      : 'BENCH_STUDY=1 times the step and profiles its kernels by op',
  });
  const cold = await coldStart();
  table.push({
    what: 'cold start: default example to its first step, empty shader cache',
    measured: typeof cold === 'number' ? `${fmt(cold, 1)} s` : cold,
    goal: '< 5 s',
    met: typeof cold === 'number' ? cold < 5 : false,
    cause: 'lavapipe compiles each distinct kernel with LLVM at its first dispatch, one after another',
  });
  console.log('\ntargets (issue 10), measured in this run:');
  console.log('| target | measured | goal | status |');
  console.log('|---|---|---|---|');
  for (const r of table) {
    const status = r.met === undefined ? 'not measured' : r.met ? 'met' : 'gap';
    console.log(`| ${r.what} | ${r.measured} | ${r.goal} | ${status} |`);
  }
  for (const r of table.filter((r) => r.met === false && r.cause)) console.log(`  gap, ${r.what}: ${r.cause}`);
  console.log(`  study model front end + back end for ${ctx.target} kernels: ${fmt(study.compileSeconds, 1)} s`);
}
