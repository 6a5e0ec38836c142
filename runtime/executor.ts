/**
 * Runs a `Plan` on a WebGPU device. Everything is created once, at `PlanExecutor.create`:
 * the buffers, one compute pipeline per distinct kernel text (identical layers share
 * pipelines), one bind group per dispatch, and a staging buffer per node ever read back.
 * A `run` then only encodes: every dispatch of the plan (and the optimizer's, when asked)
 * in one compute pass, the copies of the requested results, one queue submission, and
 * one wait for the mapped results.
 */
import type { NodeId } from '../compiler/ir/graph.ts';
import type { BufferKind, Plan } from '../compiler/plan/buffers.ts';
import type { ShaderModule } from '../compiler/wgsl/render.ts';
import type { GpuContext } from './device.ts';
import { AdamW, type AdamWStep, type UpdateStage } from './optim.ts';

interface Dispatch {
  pipeline?: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  workgroups: [number, number, number];
}

export interface RunOptions {
  /** Nodes to read back: leaves, or nodes the plan keeps. */
  read?: readonly NodeId[];
  /** Apply the optimizer after the backward pass, in the same submission. */
  update?: AdamWStep;
}

/** Where a plan buffer lives: its own GPU buffer, or a range of an arena. */
export interface BufferSlot {
  readonly buffer: GPUBuffer;
  /** Byte offset of the range (a multiple of `minStorageBufferOffsetAlignment`). */
  readonly offset: number;
  readonly size: number;
}

/**
 * Packs the optimizer's tensors so AdamW is one dispatch: every trainable parameter goes into
 * one arena, its gradient, first and second moment at the same offsets of three more. A plan
 * whose update buffers are shared or reused elsewhere keeps separate buffers (one AdamW
 * dispatch per parameter, as before). Padding between ranges stays zero, where AdamW is a
 * no-op.
 */
function arenaLayout(plan: Plan, alignBytes: number, maxBytes: number): { offsets: Map<number, number>; bytes: number } | undefined {
  if (plan.updates.length < 2) return undefined;
  const roles = new Set<number>();
  for (const u of plan.updates) {
    for (const slot of [u.param, u.grad, u.m, u.v]) {
      if (roles.has(slot) || plan.buffers[slot]!.bytes !== u.numel * 4) return undefined;
      roles.add(slot);
    }
  }
  const offsets = new Map<number, number>();
  let bytes = 0;
  for (const u of plan.updates) {
    for (const slot of [u.param, u.grad, u.m, u.v]) offsets.set(slot, bytes);
    bytes += Math.ceil((u.numel * 4) / alignBytes) * alignBytes;
  }
  // One binding covers a whole arena: a full fine-tune of a large model does not fit in one.
  return bytes <= maxBytes ? { offsets, bytes } : undefined;
}

/**
 * One distinct kernel on a device: module, layout and pipeline, cached by kernel text in
 * `GpuContext.pipelines`. Kernel text is a pure function of op and shapes, so the plans of one
 * process (training, eval, beam search's plans) share every kernel they have in common (a
 * frozen ViT's forward is the same in every tune) and compile it once.
 */
export interface CompiledKernel {
  shader: ShaderModule;
  module: GPUShaderModule;
  layout: GPUBindGroupLayout;
  pipeline: Promise<GPUComputePipeline>;
}

/** Pops the error scopes pushed by `pushScopes` into one message, or null. */
async function popScopes(device: GPUDevice, n: number): Promise<string | null> {
  const msgs: string[] = [];
  for (let i = 0; i < n; i++) {
    const e = await device.popErrorScope();
    if (e) msgs.push(e.message);
  }
  return msgs.length ? msgs.join('\n') : null;
}

function pushScopes(device: GPUDevice): number {
  device.pushErrorScope('validation');
  device.pushErrorScope('out-of-memory');
  device.pushErrorScope('internal');
  return 3;
}

export class PlanExecutor {
  /** Where each plan buffer lives on the device. */
  readonly slots: BufferSlot[];
  private readonly owned: GPUBuffer[] = [];
  /** Dispatches recorded by the last `run` (plan steps plus optimizer updates). */
  dispatchCount = 0;
  private readonly device: GPUDevice;
  private readonly staging = new Map<NodeId, GPUBuffer>();
  private readonly stages: UpdateStage[];
  private readonly dispatches: Dispatch[];
  /** Settles when every pipeline has compiled; rejects with the WGSL or validation errors. */
  readonly ready: Promise<void>;

  /**
   * Creates everything up front. Buffers, layouts and bind groups exist when this returns;
   * pipelines compile concurrently in the background (the driver may use threads), and
   * `run` waits for them. Prefer `await PlanExecutor.create(...)` to see compile errors at
   * once, with the kernel named and its WGSL lines quoted.
   */
  constructor(
    private readonly ctx: GpuContext,
    readonly plan: Plan,
  ) {
    const device = (this.device = ctx.device);
    const scopes = pushScopes(device);
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    const arena = arenaLayout(
      plan,
      device.limits.minStorageBufferOffsetAlignment,
      Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize),
    );
    const arenas = new Map<number, GPUBuffer>();
    if (arena) {
      for (const role of ['param', 'grad', 'm', 'v'] as const) {
        const buffer = device.createBuffer({ label: `arena of trainable ${role}`, size: arena.bytes, usage });
        this.owned.push(buffer);
        for (const u of plan.updates) arenas.set(u[role], buffer);
      }
    }
    this.slots = plan.buffers.map((b) => {
      const inArena = arenas.get(b.id);
      if (inArena) return { buffer: inArena, offset: arena!.offsets.get(b.id)!, size: b.bytes };
      const buffer = device.createBuffer({ label: `b${b.id} ${b.kind} ${b.label}`, size: b.bytes, usage });
      this.owned.push(buffer);
      return { buffer, offset: 0, size: b.bytes };
    });

    // One module, layout and pipeline per distinct kernel text, shared across executors.
    const kinds = ctx.pipelines;
    // This plan's distinct modules (cached ones too), whose compile errors `ready` reports.
    const modules = new Map<GPUShaderModule, ShaderModule>();
    const pending: Promise<GPUComputePipeline>[] = [];
    this.dispatches = plan.steps.map((s, i) => {
      let k = kinds.get(s.shader.code);
      if (!k) {
        const label = `kernel ${s.shader.kernel} (${s.shader.op})`;
        const module = device.createShaderModule({ label, code: s.shader.code });
        modules.set(module, s.shader);
        const layout = device.createBindGroupLayout({
          label,
          entries: s.shader.bindings.map((b, j) => ({
            binding: j,
            visibility: GPUShaderStage.COMPUTE,
            buffer: { type: b.access === 'read' ? 'read-only-storage' : 'storage' },
          })),
        });
        const pipeline = device.createComputePipelineAsync({
          label,
          layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
          compute: { module, entryPoint: s.shader.entryPoint },
        });
        k = { shader: s.shader, module, layout, pipeline };
        kinds.set(s.shader.code, k);
      } else if (!modules.has(k.module)) {
        modules.set(k.module, s.shader);
      }
      pending.push(k.pipeline);
      const bindGroup = device.createBindGroup({
        label: `step ${i} (${s.shader.op})`,
        layout: k.layout,
        entries: s.buffers.map((b, j) => ({ binding: j, resource: this.slots[b]! })),
      });
      return { bindGroup, workgroups: s.shader.workgroups };
    });
    this.stages = plan.updates.length ? [new AdamW(device, this.slots, plan.updates, arena ? arena.bytes / 4 : undefined)] : [];
    const created = popScopes(device, scopes);
    this.ready = (async () => {
      const compiled = await Promise.allSettled(pending);
      await throwCompileErrors([...modules].map(([module, shader]) => ({ module, shader })));
      const err = await created;
      if (err) throw new Error(`creating the plan's GPU objects failed: ${err}`);
      compiled.forEach((c, i) => {
        if (c.status === 'rejected') throw new Error(`pipeline creation failed for step ${i}: ${String(c.reason?.message ?? c.reason)}`);
        this.dispatches[i]!.pipeline = c.value;
      });
    })();
    // Reported by `run` or `create`; this keeps an unawaited rejection from crashing Node.
    this.ready.catch(() => {});
  }

  /** Builds an executor and waits until all its pipelines have compiled. */
  static async create(ctx: GpuContext, plan: Plan): Promise<PlanExecutor> {
    const exec = new PlanExecutor(ctx, plan);
    try {
      await exec.ready;
    } catch (e) {
      exec.destroy();
      throw e;
    }
    return exec;
  }

  private paramSlot(which: string | NodeId): { buffer: number; numel: number; name: string } {
    const p = this.plan.params.find((q) => q.name === which || q.node === which);
    if (!p) throw new Error(`no parameter ${typeof which === 'number' ? `%${which}` : which} in this plan`);
    return p;
  }

  writeParam(which: string | NodeId, data: Float32Array): void {
    const p = this.paramSlot(which);
    if (data.length !== p.numel) throw new Error(`parameter ${p.name} has ${p.numel} elements, got ${data.length}`);
    const s = this.slots[p.buffer]!;
    this.device.queue.writeBuffer(s.buffer, s.offset, data as Float32Array<ArrayBuffer>);
  }

  writeInput(which: string | NodeId, data: Float32Array | Int32Array): void {
    const i = this.plan.inputs.find((q) => q.name === which || q.node === which);
    if (!i) throw new Error(`no input ${typeof which === 'number' ? `%${which}` : which} in this plan`);
    if (data.length !== i.numel) throw new Error(`input ${i.name} has ${i.numel} elements, got ${data.length}`);
    const want = i.dtype === 'i32' ? 'Int32Array' : 'Float32Array';
    if (data.constructor.name !== want) throw new Error(`input ${i.name} is ${i.dtype}: pass an ${want}`);
    const s = this.slots[i.buffer]!;
    this.device.queue.writeBuffer(s.buffer, s.offset, data as Float32Array<ArrayBuffer> | Int32Array<ArrayBuffer>);
  }

  /** Overwrites buffers of the given kinds with `value` (NaN by default): tests use it to prove every element is written. */
  fill(kinds: readonly BufferKind[], value = NaN): void {
    for (const b of this.plan.buffers) {
      if (!kinds.includes(b.kind)) continue;
      const s = this.slots[b.id]!;
      this.device.queue.writeBuffer(s.buffer, s.offset, new Float32Array(b.bytes / 4).fill(value));
    }
  }

  /** Node -> bytes to read, checking that its buffer still holds it after the run. */
  private readable(id: NodeId): { buffer: number; bytes: number; i32: boolean } {
    const buffer = this.plan.nodeBuffer.get(id);
    if (buffer === undefined) throw new Error(`node %${id} has no buffer in this plan`);
    const kind = this.plan.buffers[buffer]!.kind;
    if (kind === 'temp') throw new Error(`node %${id} is a temporary whose buffer is reused; add it to the plan's keep list`);
    const t = this.plan.nodeType.get(id)!;
    return { buffer, bytes: Math.max(4, t.numel * 4), i32: t.dtype === 'i32' };
  }

  private stagingFor(id: NodeId, bytes: number): GPUBuffer {
    let s = this.staging.get(id);
    if (!s) {
      s = this.device.createBuffer({ label: `read %${id}`, size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      this.staging.set(id, s);
    }
    return s;
  }

  async run(opts: RunOptions = {}): Promise<Map<NodeId, Float32Array>> {
    await this.ready;
    const device = this.device;
    const reads = [...new Set(opts.read ?? [])].map((id) => ({ id, ...this.readable(id) }));
    if (opts.update) {
      if (!this.plan.optimizer) throw new Error('this plan has no optimizer state: plan it with `optimizer: true`');
      for (const s of this.stages) s.prepare(opts.update);
    }
    const scopes = pushScopes(device);
    const enc = device.createCommandEncoder({ label: 'step' });
    const pass = enc.beginComputePass({ label: 'step' });
    let n = 0;
    for (const d of this.dispatches) {
      if (d.workgroups.some((w) => w === 0)) continue;
      pass.setPipeline(d.pipeline!);
      pass.setBindGroup(0, d.bindGroup);
      pass.dispatchWorkgroups(...d.workgroups);
      n++;
    }
    if (opts.update) for (const s of this.stages) n += s.encode(pass);
    pass.end();
    const stagings = reads.map((r) => {
      const s = this.stagingFor(r.id, r.bytes);
      const from = this.slots[r.buffer]!;
      enc.copyBufferToBuffer(from.buffer, from.offset, s, 0, r.bytes);
      return s;
    });
    device.queue.submit([enc.finish()]);
    this.dispatchCount = n;
    const errs = popScopes(device, scopes);
    const maps = await Promise.allSettled(stagings.map((s) => s.mapAsync(GPUMapMode.READ)));
    const err = await errs;
    this.ctx.check();
    if (err) {
      for (const [i, m] of maps.entries()) if (m.status === 'fulfilled') stagings[i]!.unmap();
      throw new Error(`WebGPU error during the step: ${err}`);
    }
    const bad = maps.find((m): m is PromiseRejectedResult => m.status === 'rejected');
    if (bad) throw new Error(`reading results back failed: ${String(bad.reason?.message ?? bad.reason)}`);
    const out = new Map<NodeId, Float32Array>();
    reads.forEach((r, i) => {
      const s = stagings[i]!;
      const raw = s.getMappedRange(0, r.bytes);
      out.set(r.id, r.i32 ? Float32Array.from(new Int32Array(raw)) : new Float32Array(raw.slice(0)));
      s.unmap();
    });
    return out;
  }

  /**
   * Times every plan step on its own: one submission per dispatch, waited for, `repeats`
   * times, keeping each step's fastest run. Slow (no overlap between dispatches), so for
   * `npm run bench` and `milec train --profile`, never for training itself.
   */
  async profile(repeats = 3): Promise<{ step: number; kernel: number; op: string; ms: number }[]> {
    await this.ready;
    const best = this.dispatches.map(() => Infinity);
    for (let r = 0; r < repeats; r++) {
      for (const [i, d] of this.dispatches.entries()) {
        if (d.workgroups.some((w) => w === 0)) continue;
        const enc = this.device.createCommandEncoder();
        const pass = enc.beginComputePass();
        pass.setPipeline(d.pipeline!);
        pass.setBindGroup(0, d.bindGroup);
        pass.dispatchWorkgroups(...d.workgroups);
        pass.end();
        const t = performance.now();
        this.device.queue.submit([enc.finish()]);
        await this.device.queue.onSubmittedWorkDone();
        best[i] = Math.min(best[i]!, performance.now() - t);
      }
    }
    this.ctx.check();
    return this.plan.steps.map((s, i) => ({ step: i, kernel: s.shader.kernel, op: s.shader.op, ms: best[i]! === Infinity ? 0 : best[i]! }));
  }

  /** Reads any plan buffer (parameters for checkpoints, optimizer state for tests). */
  async readBuffer(slot: number, elements?: number): Promise<Float32Array> {
    const bytes = (elements ?? this.plan.buffers[slot]!.bytes / 4) * 4;
    const s = this.device.createBuffer({ label: `read b${slot}`, size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    try {
      const enc = this.device.createCommandEncoder();
      const from = this.slots[slot]!;
      enc.copyBufferToBuffer(from.buffer, from.offset, s, 0, bytes);
      this.device.queue.submit([enc.finish()]);
      await s.mapAsync(GPUMapMode.READ);
      this.ctx.check();
      return new Float32Array(s.getMappedRange().slice(0));
    } finally {
      s.destroy();
    }
  }

  /** A parameter's current value (after any updates), e.g. to save weights. */
  readParam(which: string | NodeId): Promise<Float32Array> {
    const p = this.paramSlot(which);
    return this.readBuffer(p.buffer, p.numel);
  }

  private update(name: string) {
    const u = this.plan.updates.find((q) => q.name === name);
    if (!u) throw new Error(`parameter ${name} has no optimizer state in this plan`);
    return u;
  }

  /** AdamW's first and second moments of a trainable parameter (training-state checkpoints). */
  async readMoments(name: string): Promise<{ m: Float32Array; v: Float32Array }> {
    const u = this.update(name);
    return { m: await this.readBuffer(u.m, u.numel), v: await this.readBuffer(u.v, u.numel) };
  }

  /** Restores AdamW's moments of a trainable parameter (resuming a run). */
  writeMoments(name: string, m: Float32Array, v: Float32Array): void {
    const u = this.update(name);
    if (m.length !== u.numel || v.length !== u.numel)
      throw new Error(`parameter ${name} has ${u.numel} elements, got moments of ${m.length} and ${v.length}`);
    const [sm, sv] = [this.slots[u.m]!, this.slots[u.v]!];
    this.device.queue.writeBuffer(sm.buffer, sm.offset, m as Float32Array<ArrayBuffer>);
    this.device.queue.writeBuffer(sv.buffer, sv.offset, v as Float32Array<ArrayBuffer>);
  }

  destroy(): void {
    for (const b of this.owned) b.destroy();
    for (const s of this.staging.values()) s.destroy();
    for (const s of this.stages) s.destroy();
    this.staging.clear();
  }
}

/** Turns WGSL compilation errors into one exception that names the kernel and quotes its lines. */
async function throwCompileErrors(modules: readonly { shader: ShaderModule; module: GPUShaderModule }[]): Promise<void> {
  const infos = await Promise.all(modules.map((m) => m.module.getCompilationInfo()));
  const problems: string[] = [];
  infos.forEach((info, i) => {
    const errors = info.messages.filter((m) => m.type === 'error');
    if (!errors.length) return;
    const { shader } = modules[i]!;
    const lines = shader.code.split('\n');
    for (const e of errors) {
      const near = lines.slice(Math.max(0, e.lineNum - 3), e.lineNum + 1).map((l, j) => `    ${Math.max(1, e.lineNum - 2) + j}| ${l}`);
      problems.push(`kernel ${shader.kernel} (${shader.op}) line ${e.lineNum}: ${e.message}\n${near.join('\n')}`);
    }
  });
  if (problems.length) throw new Error(`WGSL compilation failed:\n${problems.join('\n')}`);
}
