/**
 * AdamW on the GPU, with PyTorch's semantics (torch.optim.AdamW, non-amsgrad,
 * non-maximize):
 *   p ← p·(1 − lr·wd)                     decoupled weight decay, applied first
 *   m ← β₁m + (1 − β₁)g,  v ← β₂v + (1 − β₂)g²
 *   p ← p − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
 *
 * Encoded by the executor into the same compute pass as the forward and backward dispatches,
 * so a whole training step is one queue submission. When the executor packs the trainable
 * tensors into arenas (`packed`), a step is one dispatch over all of them while every
 * parameter has the same hyperparameters; otherwise, and when weight decay differs per
 * parameter, one dispatch per parameter. The hyperparameters live in one uniform buffer,
 * one 256-byte slot each (the guaranteed uniform offset alignment), written once per step.
 * `adamwReference` is the float64 definition the kernel is tested against.
 */
import type { PlanUpdate } from '../compiler/plan/buffers.ts';
import type { BufferSlot } from './executor.ts';

/** AdamW's settings besides the step number and learning rate (what a `Session` holds). */
export interface AdamWSettings {
  readonly beta1?: number;
  readonly beta2?: number;
  readonly eps?: number;
  /** A function gives per-parameter decay (e.g. 0 for biases and norms). */
  readonly weightDecay?: number | ((name: string) => number);
}

/**
 * The one set of AdamW defaults (`milec train`'s, the typed module's): PyTorch's betas and
 * eps, and no weight decay (PyTorch's default is 0.01; milec asks for it with `--weight-decay`).
 */
export const ADAMW_DEFAULTS = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 } as const satisfies Required<AdamWSettings>;

/** One optimizer step: the executor's `run({ update })`. */
export interface AdamWStep extends AdamWSettings {
  /** 1-based step number, for the bias corrections. */
  readonly step: number;
  readonly lr: number;
}

export interface AdamWHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export function resolveHyper(s: AdamWStep, name: string): AdamWHyper {
  const d = ADAMW_DEFAULTS;
  const wd = s.weightDecay ?? d.weightDecay;
  return {
    lr: s.lr,
    beta1: s.beta1 ?? d.beta1,
    beta2: s.beta2 ?? d.beta2,
    eps: s.eps ?? d.eps,
    weightDecay: typeof wd === 'function' ? wd(name) : wd,
  };
}

/** Work the executor adds after the plan's dispatches, inside the same pass. */
export interface UpdateStage {
  /** Writes this step's uniforms; called before the command buffer is encoded. */
  prepare(step: AdamWStep): void;
  /** Records the dispatches; returns how many. */
  encode(pass: GPUComputePassEncoder): number;
  destroy(): void;
}

const WG = 256;
const SLOT = 256;

const adamwWgsl = /* wgsl */ `
struct Hyper {
  lr_over_bc1: f32,
  beta1: f32,
  beta2: f32,
  eps: f32,
  decay: f32,     // 1 - lr * weight_decay
  bc2_sqrt: f32,  // sqrt(1 - beta2^step)
  numel: u32,
  row: u32,       // invocations per row of a 2-D dispatch
}
@group(0) @binding(0) var<storage, read_write> p: array<f32>;
@group(0) @binding(1) var<storage, read_write> m: array<f32>;
@group(0) @binding(2) var<storage, read_write> v: array<f32>;
@group(0) @binding(3) var<storage, read> g: array<f32>;
@group(0) @binding(4) var<uniform> h: Hyper;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * h.row;
  if (i >= h.numel) { return; }
  let gi = g[i];
  let mi = h.beta1 * m[i] + (1.0 - h.beta1) * gi;
  let vi = h.beta2 * v[i] + (1.0 - h.beta2) * gi * gi;
  m[i] = mi;
  v[i] = vi;
  p[i] = p[i] * h.decay - h.lr_over_bc1 * mi / (sqrt(vi) / h.bc2_sqrt + h.eps);
}
`;

export class AdamW implements UpdateStage {
  private readonly pipeline: GPUComputePipeline;
  private readonly uniforms: GPUBuffer;
  private readonly groups: { bindGroup: GPUBindGroup; workgroups: [number, number] }[];
  /** The one dispatch over the packed arenas, when the executor packed them. */
  private readonly whole?: { bindGroup: GPUBindGroup; workgroups: [number, number]; numel: number };
  private sameHyper = false;
  private readonly staging: ArrayBuffer;

  /**
   * `packed`: the element count of the arenas when every update's tensors are ranges of four
   * arenas at equal offsets (see `PlanExecutor`), so one dispatch can cover them all.
   */
  constructor(
    private readonly device: GPUDevice,
    buffers: readonly BufferSlot[],
    private readonly updates: readonly PlanUpdate[],
    packed?: number,
    maxWorkgroupsPerDim = device.limits.maxComputeWorkgroupsPerDimension,
  ) {
    const entries: GPUBindGroupLayoutEntry[] = [0, 1, 2, 3].map((binding) => ({
      binding,
      visibility: GPUShaderStage.COMPUTE,
      buffer: { type: binding === 3 ? 'read-only-storage' : 'storage' },
    }));
    entries.push({ binding: 4, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform', hasDynamicOffset: false } });
    const layout = device.createBindGroupLayout({ label: 'adamw', entries });
    this.pipeline = device.createComputePipeline({
      label: 'adamw',
      layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module: device.createShaderModule({ label: 'adamw', code: adamwWgsl }), entryPoint: 'main' },
    });
    const size = (updates.length + 1) * SLOT;
    this.uniforms = device.createBuffer({ label: 'adamw hyperparameters', size, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    this.staging = new ArrayBuffer(size);
    const dispatch = (numel: number): [number, number] => {
      const groups = Math.ceil(numel / WG);
      const wx = Math.min(groups, maxWorkgroupsPerDim);
      return [wx, Math.ceil(groups / Math.max(wx, 1))];
    };
    const bind = (label: string, [p, m, v, g]: GPUBufferBinding[], slot: number) =>
      device.createBindGroup({
        label,
        layout,
        entries: [
          { binding: 0, resource: p! },
          { binding: 1, resource: m! },
          { binding: 2, resource: v! },
          { binding: 3, resource: g! },
          { binding: 4, resource: { buffer: this.uniforms, offset: slot * SLOT, size: 32 } },
        ],
      });
    this.groups = updates.map((u, j) => ({
      bindGroup: bind(`adamw ${u.name}`, [buffers[u.param]!, buffers[u.m]!, buffers[u.v]!, buffers[u.grad]!], j),
      workgroups: dispatch(u.numel),
    }));
    if (packed !== undefined && updates.length) {
      const u = updates[0]!;
      const whole = (slot: number): GPUBufferBinding => ({ buffer: buffers[slot]!.buffer, offset: 0, size: packed * 4 });
      this.whole = {
        bindGroup: bind('adamw (packed)', [whole(u.param), whole(u.m), whole(u.v), whole(u.grad)], updates.length),
        workgroups: dispatch(packed),
        numel: packed,
      };
    }
  }

  prepare(s: AdamWStep): void {
    if (!(s.step >= 1)) throw new Error(`AdamW step numbers start at 1, got ${s.step}`);
    const f = new Float32Array(this.staging);
    const u = new Uint32Array(this.staging);
    const write = (slot: number, h: AdamWHyper, numel: number, row: number) => {
      const o = (slot * SLOT) / 4;
      f[o] = h.lr / (1 - Math.pow(h.beta1, s.step));
      f[o + 1] = h.beta1;
      f[o + 2] = h.beta2;
      f[o + 3] = h.eps;
      f[o + 4] = 1 - h.lr * h.weightDecay;
      f[o + 5] = Math.sqrt(1 - Math.pow(h.beta2, s.step));
      u[o + 6] = numel;
      u[o + 7] = row;
    };
    const hypers = this.updates.map((up) => resolveHyper(s, up.name));
    hypers.forEach((h, j) => write(j, h, this.updates[j]!.numel, this.groups[j]!.workgroups[0] * WG));
    const first = hypers[0];
    this.sameHyper =
      first !== undefined &&
      hypers.every(
        (h) =>
          h.lr === first.lr &&
          h.beta1 === first.beta1 &&
          h.beta2 === first.beta2 &&
          h.eps === first.eps &&
          h.weightDecay === first.weightDecay,
      );
    if (this.whole && first) write(this.updates.length, first, this.whole.numel, this.whole.workgroups[0] * WG);
    this.device.queue.writeBuffer(this.uniforms, 0, this.staging);
  }

  encode(pass: GPUComputePassEncoder): number {
    pass.setPipeline(this.pipeline);
    if (this.whole && this.sameHyper) {
      pass.setBindGroup(0, this.whole.bindGroup);
      pass.dispatchWorkgroups(...this.whole.workgroups);
      return 1;
    }
    let n = 0;
    for (const { bindGroup, workgroups } of this.groups) {
      if (workgroups[0] === 0) continue;
      pass.setBindGroup(0, bindGroup);
      pass.dispatchWorkgroups(workgroups[0], workgroups[1]);
      n++;
    }
    return n;
  }

  destroy(): void {
    this.uniforms.destroy();
  }
}

/** How the learning rate moves over a run (`--schedule`, `--warmup`). */
export interface LrSchedule {
  readonly kind: 'constant' | 'cosine';
  /** Steps of linear warm-up from 0 (HF's `num_warmup_steps`). */
  readonly warmup: number;
  /** Steps of the whole run (HF's `num_training_steps`). */
  readonly total: number;
}

/**
 * The learning rate of 0-based step `step`, as HF's `get_constant_schedule_with_warmup` and
 * `get_cosine_schedule_with_warmup` (half a cosine period, down to 0 at `total`; the study's
 * schedule) define it: `lr · step / warmup` during warm-up, then constant or
 * `lr · ½(1 + cos(π · (step − warmup) / (total − warmup)))`.
 */
export function scheduledLr(lr: number, step: number, s: LrSchedule): number {
  if (step < s.warmup) return (lr * step) / Math.max(1, s.warmup);
  if (s.kind === 'constant') return lr;
  const progress = (step - s.warmup) / Math.max(1, s.total - s.warmup);
  return lr * Math.max(0, 0.5 * (1 + Math.cos(Math.PI * progress)));
}

/** Float64 AdamW state of one parameter. */
export interface AdamWState {
  p: Float64Array;
  m: Float64Array;
  v: Float64Array;
}

/** One AdamW step in float64, in place: the definition the GPU kernel must match. */
export function adamwReference(state: AdamWState, grad: ArrayLike<number>, s: AdamWStep, name = ''): void {
  const h = resolveHyper(s, name);
  const bc1 = 1 - Math.pow(h.beta1, s.step);
  const bc2Sqrt = Math.sqrt(1 - Math.pow(h.beta2, s.step));
  const { p, m, v } = state;
  for (let i = 0; i < p.length; i++) {
    const g = grad[i]!;
    p[i]! *= 1 - h.lr * h.weightDecay;
    m[i] = h.beta1 * m[i]! + (1 - h.beta1) * g;
    v[i] = h.beta2 * v[i]! + (1 - h.beta2) * g * g;
    p[i]! -= (h.lr / bc1) * (m[i]! / (Math.sqrt(v[i]!) / bc2Sqrt + h.eps));
  }
}
