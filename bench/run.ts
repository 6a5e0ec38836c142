/**
 * `npm run bench`: side-by-side timings in one run, printed as ratios.
 *  - the tiny example's training step under LoRA vs full fine-tuning (same plan machinery),
 *  - each on the WebGPU device vs the float64 reference executor on the CPU,
 *  - the tiled matmul kernel vs a naive one-thread-per-output kernel, both on the device,
 *  - planning every tune of the 361M-parameter MISS model (front end + `milec plan` report),
 *  - peers (`bench/peers.ts`): the same LoRA step written in TF.js (WebGPU on the same Dawn
 *    adapter, WASM) and PyTorch (CPU), run as child processes; `BENCH_PEERS=0` skips them,
 *    `BENCH_PEERS=only` runs nothing else;
 *  - issue 10's targets next to this run's measurements (`bench/targets.ts`), after the peers.
 * Timings are medians over repeated runs after a warm-up.
 */
import { compileFrontEnd } from '../compiler/pipeline.ts';
import { planTraining } from '../compiler/cost/report.ts';
import { loadProgram } from '../compiler/sema/load.ts';
import { SEED_INPUT } from '../compiler/ir/graph.ts';
import { openDataset } from '../runtime/data/index.ts';
import { type GpuContext, openDevice } from '../runtime/device.ts';
import { initialParams } from '../runtime/params.ts';
import { runReference } from '../runtime/reference-run.ts';
import { Trainer } from '../runtime/train.ts';
import { fileHost } from '../runtime/source-files.ts';
import { benchTrainConfig, peersSection } from './peers.ts';
import { targetsSection } from './targets.ts';

const batch = Number(process.env.BENCH_BATCH ?? 32);
const reps = Number(process.env.BENCH_REPS ?? 10);
const peers = process.env.BENCH_PEERS ?? '1';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function stepTimes(ctx: GpuContext, tune: string) {
  const fe = compileFrontEnd({ host: fileHost(), file: 'examples/tiny_classifier.mile', tune, training: true }).result!;
  const data = openDataset('synthetic', fe.model, 0);
  const cfg = benchTrainConfig(batch, 1);
  const trainer = await Trainer.create(ctx, fe.train!, cfg);
  try {
    const init = initialParams(trainer.backend.graph, 0);
    trainer.load(init);
    for (let i = 0; i < 3; i++) await trainer.step(data, i);
    const gpu: number[] = [];
    for (let i = 0; i < reps; i++) {
      const t = performance.now();
      await trainer.step(data, 3 + i);
      gpu.push(performance.now() - t);
    }
    const g = trainer.backend.graph;
    const params = new Map([...init].map(([k, v]) => [k, Float64Array.from(v)]));
    const cpu: number[] = [];
    for (let i = 0; i < Math.max(3, Math.floor(reps / 3)); i++) {
      const b = data.batch(i, batch, 'train');
      const inputs = new Map<string, Float64Array | Int32Array>();
      for (const inp of g.inputs) inputs.set(inp.name, inp.name === SEED_INPUT ? Int32Array.of(i) : (b.inputs[inp.name] as Int32Array));
      const t = performance.now();
      runReference(g, { params, inputs });
      cpu.push(performance.now() - t);
    }
    return { gpu: median(gpu), cpu: median(cpu), dispatches: trainer.executor.dispatchCount, kernels: trainer.backend.plan.steps.length };
  } finally {
    trainer.destroy();
  }
}

async function matmulTimes(ctx: GpuContext, n: number) {
  const device = ctx.device;
  const { renderKernel } = await import('../compiler/wgsl/render.ts');
  const { GraphBuilder } = await import('../compiler/ir/graph.ts');
  const b = new GraphBuilder();
  const x = b.op('input', [], { name: 'a', shape: [n, n], dtype: 'f32' });
  const y = b.op('input', [], { name: 'b', shape: [n, n], dtype: 'f32' });
  const mm = b.op('matmul', [x, y], { transA: false, transB: false });
  const g = b.build();
  const tiled = renderKernel(g, { id: 0, nodes: [mm], output: mm, inputs: [x, y] });
  const register = renderKernel(g, { id: 0, nodes: [mm], output: mm, inputs: [x, y] }, { target: 'cpu' });
  const naive = {
    code: `@group(0) @binding(0) var<storage, read_write> o: array<f32>;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@compute @workgroup_size(16, 16) fn main(@builtin(global_invocation_id) id: vec3u) {
  if (id.x >= ${n}u || id.y >= ${n}u) { return; }
  var s = 0.0;
  for (var k = 0u; k < ${n}u; k++) { s += a[id.y * ${n}u + k] * b[k * ${n}u + id.x]; }
  o[id.y * ${n}u + id.x] = s;
}`,
    entryPoint: 'main',
    workgroups: [Math.ceil(n / 16), Math.ceil(n / 16), 1] as [number, number, number],
  };
  const bytes = n * n * 4;
  const mk = () => device.createBuffer({ size: bytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC });
  const [o, a, bb] = [mk(), mk(), mk()];
  const rnd = Float32Array.from({ length: n * n }, (_, i) => Math.sin(i));
  device.queue.writeBuffer(a, 0, rnd);
  device.queue.writeBuffer(bb, 0, rnd);
  const time = async (code: string, entryPoint: string, wg: [number, number, number]) => {
    const pipeline = await device.createComputePipelineAsync({
      layout: 'auto',
      compute: { module: device.createShaderModule({ code }), entryPoint },
    });
    const bind = device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: [o, a, bb].map((buffer, i) => ({ binding: i, resource: { buffer } })),
    });
    const run = async () => {
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bind);
      pass.dispatchWorkgroups(...wg);
      pass.end();
      device.queue.submit([enc.finish()]);
      await device.queue.onSubmittedWorkDone();
    };
    await run();
    const ts: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      await run();
      ts.push(performance.now() - t);
    }
    return median(ts);
  };
  const tTiled = await time(tiled.code, tiled.entryPoint, tiled.workgroups);
  const tNaive = await time(naive.code, naive.entryPoint, naive.workgroups);
  const tRegister = await time(register.code, register.entryPoint, register.workgroups);
  for (const buf of [o, a, bb]) buf.destroy();
  return { tiled: tTiled, naive: tNaive, register: tRegister, gflops: (2 * n ** 3) / (tTiled * 1e6) };
}

/** A MISS-tiny training step with the kernels of each target, on this one device. */
async function targetStepTimes(ctx: GpuContext, tune: string) {
  const fe = compileFrontEnd({ host: fileHost(), file: 'examples/miss_tiny.mile', tune, training: true }).result!;
  const data = openDataset('synthetic', fe.model, 0);
  const out: Record<string, { ms: number; dispatches: number }> = {};
  for (const target of ['gpu', 'cpu'] as const) {
    const cfg = benchTrainConfig(16);
    const trainer = await Trainer.create({ ...ctx, target }, fe.train!, cfg);
    try {
      trainer.load(initialParams(trainer.backend.graph, 0));
      for (let i = 0; i < 2; i++) await trainer.step(data, i);
      const ms: number[] = [];
      for (let i = 0; i < Math.max(3, Math.floor(reps / 2)); i++) {
        const t = performance.now();
        await trainer.step(data, 2 + i);
        ms.push(performance.now() - t);
      }
      out[target] = { ms: median(ms), dispatches: trainer.executor.dispatchCount };
    } finally {
      trainer.destroy();
    }
  }
  return out as Record<'gpu' | 'cpu', { ms: number; dispatches: number }>;
}

function planTimes() {
  const file = 'examples/miss_vqa.mile';
  const tunes = loadProgram(fileHost(), file).program!.tunes.map((t) => t.name.name);
  compileFrontEnd({ host: fileHost(), file, training: true }); // warm-up: JIT and parser set-up, as a running CLI has
  const ms: number[] = [];
  for (const tune of tunes) {
    const t = performance.now();
    planTraining(compileFrontEnd({ host: fileHost(), file, tune, training: true }).result!, { bindings: { B: 8 } });
    ms.push(performance.now() - t);
  }
  return { tunes: tunes.length, median: median(ms), worst: Math.max(...ms) };
}

const ctx = await openDevice();
try {
  console.log(`milec bench on ${ctx.description}, batch ${batch}, median of ${reps}\n`);
  if (peers !== 'only') await sections(ctx);
  if (peers !== '0') await targetsSection(ctx, await peersSection(ctx, reps));
} finally {
  ctx.close();
}

async function sections(ctx: GpuContext) {
  const lora = await stepTimes(ctx, 'lora_qv');
  const full = await stepTimes(ctx, 'full');
  const row = (name: string, r: typeof lora) =>
    `| ${name.padEnd(8)} | ${r.gpu.toFixed(1).padStart(9)} | ${r.cpu.toFixed(1).padStart(13)} | ${(r.cpu / r.gpu).toFixed(2).padStart(12)} | ${String(r.dispatches).padStart(10)} |`;
  console.log('training step of examples/tiny_classifier.mile');
  console.log('| tune     | WebGPU ms | reference ms | reference/GPU | dispatches |');
  console.log('|----------|-----------|---------------|--------------|------------|');
  console.log(row('lora_qv', lora));
  console.log(row('full', full));
  console.log(`\nfull / lora_qv step time on WebGPU: ${(full.gpu / lora.gpu).toFixed(2)}×\n`);
  const n = Number(process.env.BENCH_MATMUL ?? 512);
  const mm = await matmulTimes(ctx, n);
  console.log(
    `matmul ${n}³: tiled ${mm.tiled.toFixed(1)} ms (${mm.gflops.toFixed(2)} GFLOP/s), naive ${mm.naive.toFixed(1)} ms — tiled is ${(mm.naive / mm.tiled).toFixed(2)}× faster`,
  );
  console.log(
    `matmul ${n}³, kernel targets: gpu (workgroup-memory tiles) ${mm.tiled.toFixed(1)} ms, cpu (register tiles, no barriers) ${mm.register.toFixed(1)} ms — ${(mm.tiled / mm.register).toFixed(2)}× on this device`,
  );
  const tt = await targetStepTimes(ctx, 'f_f_lora_r8');
  console.log(
    `MISS-tiny f_f_lora_r8 step, batch 16: gpu kernels ${tt.gpu.ms.toFixed(1)} ms (${tt.gpu.dispatches} dispatches), cpu kernels ${tt.cpu.ms.toFixed(1)} ms (${tt.cpu.dispatches}) — ${(tt.gpu.ms / tt.cpu.ms).toFixed(2)}× on this device (${ctx.target} is what it gets)`,
  );
  const pl = planTimes();
  console.log(
    `plan of MISS (361M parameters), ${pl.tunes} tunes: median ${pl.median.toFixed(0)} ms, worst ${pl.worst.toFixed(0)} ms per tune (in-process)`,
  );
}
