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

/** The `cpu` kernel: 8×8 invocations, each a 4×4 block. */
export const REGISTER = { RM: 4, RN: 4, WX: 8, WY: 8 } as const;

/**
 * How many times the kernel loads each element of operand `which` of an `[..., M, N]`
 * product (`A` is loaded once per column tile, `B` once per row tile). A producer fused
 * into the operand is recomputed that many times, so the scheduler asks before fusing.
 */
export function operandLoads(target: KernelTarget, which: 'A' | 'B', M: number, N: number): number {
  if (target === 'cpu') return Math.ceil((which === 'A' ? N : M) / (which === 'A' ? REGISTER.RN : REGISTER.RM));
  const t = tiling(M, N);
  return Math.ceil((which === 'A' ? N : M) / (which === 'A' ? t.TN : t.TM));
}
