/**
 * What the scheduler hands the renderer and the planner: a `Kernel` (the nodes one dispatch
 * computes and the buffers it binds), how it reads a source (`SourceRef`), and the kind of
 * processor the kernels are for (`KernelTarget`). These sit in `fuse/` because the scheduler
 * produces them; `wgsl/` and `plan/` only consume them, so the folders depend one way.
 */
import type { NodeId } from '../ir/graph.ts';

/** WebGPU's guaranteed `maxStorageBuffersPerShaderStage`: what every kernel must fit in. */
export const MAX_STORAGE_BUFFERS = 8;

export interface Kernel {
  id: number;
  /** The nodes computed here, in topological order (one today; a fused chain later). */
  nodes: NodeId[];
  /** The realized node this kernel writes. */
  output: NodeId;
  /**
   * Epilogue fusion: the node whose renderer runs (a matmul), when it is not `output`.
   * `output` is then an elementwise op of `core` (a bias or residual add, a scale) applied
   * to each result as it is stored, so `core` never gets a buffer of its own.
   */
  core?: NodeId;
  /** The nodes whose buffers it reads (storage nodes: aliases resolved, literals dropped), each once. */
  inputs: NodeId[];
  /**
   * For a `concat` with more sources than fit in one kernel's bindings: this kernel
   * writes the output region of sources `[first, first + count)`. The kernels of one concat
   * are consecutive and together write the whole output.
   */
  concatPart?: { first: number; count: number };
}

/** How a kernel reads one of its node's sources. */
export type SourceRef = { kind: 'buffer'; node: NodeId } | { kind: 'literal'; value: number };

/**
 * What kind of processor runs the kernels. `gpu`: shared-memory tiles and workgroup tree
 * reductions pay off. `cpu`: a software adapter (lavapipe, SwiftShader) runs each workgroup
 * on one CPU thread, looping over its invocations in SIMD lanes; workgroup memory is just
 * memory behind the same caches, and every barrier splits the shader into resumable pieces,
 * so kernels without barriers that keep more work per invocation in registers win (2.9× for a
 * 512³ matmul in `npm run bench`; 5–15× for softmax and layer norm over 64-wide rows in a
 * MISS-tiny step profile, on lavapipe).
 */
export type KernelTarget = 'gpu' | 'cpu';
