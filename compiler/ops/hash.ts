/**
 * The counter-based random hash behind dropout. The float64 reference and the WGSL kernel
 * implement exactly this u32 arithmetic, so both draw the same mask for the same seed.
 * (PCG's output permutation, applied three times to mix seed, salt and element index.)
 */
export function pcgHash(v: number): number {
  const state = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const word = Math.imul(((state >>> (((state >>> 28) + 4) >>> 0)) ^ state) >>> 0, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

export function dropoutBits(seed: number, salt: number, index: number): number {
  return pcgHash((seed >>> 0) ^ pcgHash((salt >>> 0) ^ pcgHash(index >>> 0)));
}

/** Keeps an element when its hash, as a fraction of 2^32, is at least p. */
export function dropoutKeeps(seed: number, salt: number, index: number, p: number): boolean {
  return dropoutBits(seed, salt, index) / 4294967296 >= p;
}

/** The same function as WGSL source, for kernels to include. */
export const wgslPcgHash = /* wgsl */ `
fn pcg_hash(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}
fn dropout_bits(seed: u32, salt: u32, index: u32) -> u32 {
  return pcg_hash(seed ^ pcg_hash(salt ^ pcg_hash(index)));
}
`;
