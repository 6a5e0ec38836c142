/**
 * The matmul kernels' tile shapes per target, and what they imply for fusion: how often
 * the kernel loads each operand element. The renderer (`wgsl/matmul.ts`) draws its tiles
 * from here and the scheduler's reload cost model asks `operandLoads`, so the two cannot
 * disagree; the scheduler owns the model because it is the one that decides with it.
 */
import type { KernelTarget } from './kernel.ts';

export interface Tiling {
  TM: number;
  TN: number;
  TK: number;
  RM: number;
  RN: number;
}

/** The `gpu` kernel: 64×64 tiles with 4×4 blocks for large products; 16×16 with one output each otherwise. */
export function tiling(M: number, N: number): Tiling {
  if (M >= 64 && N >= 64) return { TM: 64, TN: 64, TK: 16, RM: 4, RN: 4 };
  return { TM: 16, TN: 16, TK: 16, RM: 1, RN: 1 };
}

/**
 * The `cpu` kernel: 8×8 invocations, each an RM×RN block of outputs in registers. A software
 * adapter runs the invocations of a workgroup in SIMD lanes, so every operand load that differs
 * across lanes is a gather, and a larger block amortises more of them per FMA: for products of
 * at least `LARGE_BLOCK_OUTPUTS` outputs 8×8 when B is read transposed (a Linear's weight: both
 * operands contiguous along K), 8×4 otherwise. On lavapipe (2 cores), a [256, 128] @ [128, 512]
 * product took 3.7 ms with 8×8 against 5.9 ms with 4×4 (9.0 against 5.7 GFLOP/s), and with B not
 * transposed 4.8 ms with 8×4 against 10.3 ms. Smaller products keep 4×4: a large block's
 * unrolled code (64 accumulators, 64 guarded stores, each through the epilogue) takes LLVM
 * several times longer to compile, which a cold shader cache pays for every kernel (the GPU
 * generation test went from 15 s to 44 s with 8×8 everywhere) and a small product never earns back.
 */
export const LARGE_BLOCK_OUTPUTS = 32768;

/**
 * A product with fewer rows (or columns) than this gets a tile fitted to them: the 8×8 grid of
 * invocations with 4-row blocks covers 32 rows, so a product of 9 rows (an answer's tokens) left
 * most lanes computing clamped duplicates. Measured on lavapipe, [9, 3072] @ [3072, 768]: 0.9 →
 * 5.2 GFLOP/s; 35 rows, K = 768: 3.6 → 11.8; a LoRA factor [901, 768] @ [768, 4]: 0.7 → 3.6.
 */
export const SMALL_SIDE = 64;
/**
 * Fitted tiles only for products of at least this many FMAs (per matrix); smaller ones keep 4×4,
 * which compiles fastest (see above). The default example's small-side products do at most
 * 1.05 M FMAs: with fitted tiles its cold start went from 9–10 s to 15 s for 3 ms/step less. The
 * study model's question-row attention products do 2.0 M (35 × 901 × 64) and its projections more.
 */
export const FITTED_MIN_FMAS = 1_500_000;
/** At most this many rows (columns) of a fitted side in one invocation's registers. */
const MAX_FITTED = 9;

export function registerTiling(M: number, N: number, K: number, transB: boolean): { RM: number; RN: number; WX: number; WY: number } {
  const clamp = (x: number) => Math.min(8, Math.max(4, x));
  if (M * N * K >= FITTED_MIN_FMAS && M < SMALL_SIDE) {
    // The rows fit one workgroup (WY × RM ≥ M); lanes spread along N.
    const WY = Math.ceil(M / MAX_FITTED);
    const RM = Math.ceil(M / WY);
    return { RM, RN: clamp(Math.floor(32 / RM)), WX: Math.min(16, Math.floor(64 / WY)), WY };
  }
  if (M * N * K >= FITTED_MIN_FMAS && N < SMALL_SIDE) {
    const WX = Math.ceil(N / MAX_FITTED);
    const RN = Math.ceil(N / WX);
    return { RM: clamp(Math.floor(32 / RN)), RN, WX, WY: Math.min(16, Math.floor(64 / WX)) };
  }
  if (M * N < LARGE_BLOCK_OUTPUTS) return { RM: 4, RN: 4, WX: 8, WY: 8 };
  return transB ? { RM: 8, RN: 8, WX: 8, WY: 8 } : { RM: 8, RN: 4, WX: 8, WY: 8 };
}

/**
 * How many times the kernel loads each element of operand `which` of an `[..., M, N]`
 * product over `K` (`A` is loaded once per column tile, `B` once per row tile). A producer
 * fused into the operand is recomputed that many times, so the scheduler asks before fusing.
 */
export function operandLoads(target: KernelTarget, which: 'A' | 'B', M: number, N: number, K: number, transB = false): number {
  if (target === 'cpu') {
    const r = registerTiling(M, N, K, transB);
    return Math.ceil((which === 'A' ? N : M) / (which === 'A' ? r.RN : r.RM));
  }
  const t = tiling(M, N);
  return Math.ceil((which === 'A' ? N : M) / (which === 'A' ? t.TN : t.TM));
}
