/**
 * Opening a WebGPU device through Dawn (npm `webgpu`). This is the only module that
 * imports Dawn; everything else receives a `GpuContext`.
 *
 * Dawn keeps the Node process alive while its GPU object is referenced, so `close()`
 * destroys the device and drops every reference. Validation errors that Dawn reports
 * asynchronously are collected and rethrown by `check()`, which the executor calls after
 * each readback: a bad dispatch fails loudly at the next result instead of yielding zeros.
 */
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create, globals } from 'webgpu';
import type { KernelTarget } from '../compiler/wgsl/render.ts';
import type { CompiledKernel } from './executor.ts';

export interface GpuContext {
  readonly device: GPUDevice;
  readonly adapterInfo: GPUAdapterInfo;
  /** e.g. "lavapipe (Mesa 25.0.7, software Vulkan)" or "nvidia: NVIDIA H100 (hopper)". */
  readonly description: string;
  /** True for a CPU rasterizer (lavapipe/llvmpipe, SwiftShader, WARP). */
  readonly software: boolean;
  /** The kernels to compile for it: `cpu` on a software adapter, else `gpu`. */
  readonly target: KernelTarget;
  /**
   * Compiled pipelines by kernel text, shared by every executor on this device, so the plans
   * of one process (a sweep's tunes, training then beam search) compile each kernel once.
   */
  readonly pipelines: Map<string, CompiledKernel>;
  /** Throws the first device error seen since the last check, if any. */
  check(): void;
  /** Destroys the device and releases Dawn so Node can exit. Idempotent. */
  close(): void;
}

export interface OpenOptions {
  /** Use the software adapter even when a GPU is present (deterministic CI). */
  preferSoftware?: boolean;
}

const SETUP_HINT =
  'no WebGPU adapter found: Dawn needs a Vulkan driver. On Debian/Ubuntu run scripts/setup-vulkan.sh ' +
  '(it installs Mesa lavapipe, a software Vulkan driver, from bookworm-backports).';

export function isSoftwareAdapter(info: GPUAdapterInfo): boolean {
  const text = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`;
  const fallback = (info as GPUAdapterInfo & { isFallbackAdapter?: boolean }).isFallbackAdapter === true;
  return fallback || info.architecture === 'software' || /llvmpipe|lavapipe|swiftshader|microsoft basic render|warp/i.test(text);
}

export function describeAdapter(info: GPUAdapterInfo): string {
  const text = `${info.device} ${info.description}`;
  if (/llvmpipe|lavapipe/i.test(text)) {
    const mesa = /Mesa (\d+(?:\.\d+)*)/.exec(info.description)?.[1];
    return `lavapipe (${mesa ? `Mesa ${mesa}, ` : ''}software Vulkan)`;
  }
  if (/swiftshader/i.test(text)) return 'SwiftShader (software Vulkan)';
  const name = info.description || info.device || 'unknown device';
  const arch = info.architecture ? ` (${info.architecture})` : '';
  return `${info.vendor ? `${info.vendor}: ` : ''}${name}${arch}${isSoftwareAdapter(info) ? ', software' : ''}`;
}

/** The limits we raise to the adapter's maximum: binding counts and sizes decide what plans fit. */
const RAISED_LIMITS = [
  'maxStorageBuffersPerShaderStage',
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupsPerDimension',
] as const;

/**
 * Notices Dawn prints when it clamps an adapter's limits to its own maxima (lavapipe and RADV
 * report 10^6 dynamic buffers). They say nothing a user can act on, so they are dropped.
 */
const DAWN_LIMIT_NOTICE =
  /^Warning: maxDynamic(?:Uniform|Storage)BuffersPerPipelineLayout artificially reduced from \d+ to \d+ to fit dynamic offset allocation limit\.$/;

/**
 * Runs `fn` with file descriptor 2 pointed at a temporary file, then restores it and replays
 * what native code wrote there, minus Dawn's limit notices. Dawn writes those from C++
 * straight to fd 2 while it enumerates adapters (inside the synchronous part of
 * `requestAdapter`), where no JavaScript stream can filter them. POSIX `open` returns the
 * lowest free descriptor, which is how 2 is swapped without a native `dup2`. Where
 * `/dev/fd` does not exist (Windows), `fn` runs unfiltered.
 */
function filteringNativeStderr<T>(fn: () => T): T {
  // The swap relies on 2 being the lowest descriptor free once it is closed, and on fd 2 being
  // reopenable by path: true for a terminal, a pipe or a file, not for a socket (a Node parent's
  // 'pipe' stdio). Otherwise the notices are left alone.
  let saved: number;
  try {
    const probe = openSync('/dev/null', 'r');
    closeSync(probe);
    if (probe < 2) return fn();
    saved = openSync('/dev/fd/2', 'a');
  } catch {
    return fn();
  }
  const capture = join(tmpdir(), `milec-dawn-${process.pid}-${Date.now()}.log`);
  closeSync(2);
  const held = openSync(capture, 'w'); // fd 2
  try {
    return fn();
  } finally {
    closeSync(held);
    openSync(`/dev/fd/${saved}`, 'a'); // fd 2 again
    closeSync(saved);
    const text = readFileSync(capture, 'utf8');
    rmSync(capture, { force: true });
    const kept = text.split('\n').filter((line) => line && !DAWN_LIMIT_NOTICE.test(line));
    if (kept.length) process.stderr.write(kept.join('\n') + '\n');
  }
}

export async function openDevice(opts: OpenOptions = {}): Promise<GpuContext> {
  // Dawn's node binding needs XDG_RUNTIME_DIR set, and its enums (GPUBufferUsage, ...) global.
  process.env.XDG_RUNTIME_DIR ??= '/tmp';
  if (typeof (globalThis as { GPUBufferUsage?: unknown }).GPUBufferUsage === 'undefined') Object.assign(globalThis, globals);
  let gpu: GPU | undefined = create([]);
  let adapter: GPUAdapter | null = null;
  const request = (o?: GPURequestAdapterOptions) => filteringNativeStderr(() => gpu!.requestAdapter(o));
  if (opts.preferSoftware) adapter = await request({ forceFallbackAdapter: true });
  adapter ??= await request({ powerPreference: 'high-performance' });
  adapter ??= await request();
  if (!adapter) {
    gpu = undefined;
    throw new Error(SETUP_HINT);
  }
  const requiredLimits: Record<string, number> = {};
  for (const k of RAISED_LIMITS) if (typeof adapter.limits[k] === 'number') requiredLimits[k] = adapter.limits[k];
  let device: GPUDevice | undefined = await adapter.requestDevice({ requiredLimits });
  const info = adapter.info;
  const errors: string[] = [];
  let lost: string | undefined;
  device.onuncapturederror = (ev: GPUUncapturedErrorEvent) => {
    errors.push(ev.error.message);
  };
  let closing = false;
  void device.lost.then((l) => {
    if (!closing) lost = `device lost (${l.reason}): ${l.message}`;
  });

  return {
    get device(): GPUDevice {
      if (!device) throw new Error('GPU context is closed');
      return device;
    },
    adapterInfo: info,
    description: describeAdapter(info),
    software: isSoftwareAdapter(info),
    target: isSoftwareAdapter(info) ? 'cpu' : 'gpu',
    pipelines: new Map(),
    check() {
      if (lost) throw new Error(lost);
      if (errors.length) {
        const all = errors.splice(0);
        throw new Error(`WebGPU error${all.length > 1 ? `s (${all.length})` : ''}: ${all.join('\n')}`);
      }
    },
    close() {
      if (!device) return;
      closing = true;
      device.onuncapturederror = null;
      device.destroy();
      device = undefined;
      gpu = undefined;
      adapter = null;
    },
  };
}
