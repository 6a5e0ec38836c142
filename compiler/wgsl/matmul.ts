/**
 * Batched matmul `op(A)[..., M, K] @ op(B)[..., K, N]` as a tiled shared-memory kernel.
 *
 * A workgroup of 256 invocations computes a TM×TN output tile, stepping over K in slabs of
 * TK: it stages the A slab (TM×TK) and B slab (TK×TN) in workgroup memory, then each
 * invocation accumulates an RM×RN block of outputs from registers (register blocking:
 * each loaded value is reused RM or RN times). Transposed operands differ only in how
 * the slabs are loaded, and each load maps consecutive invocations to the operand's
 * contiguous axis so global reads stay coalesced. Edges are zero-filled, so any M, N, K
 * works. Batch axes broadcast: the batch index `wid.z` is decomposed into coordinates
 * and each operand skips the axes it broadcasts along.
 *
 * Two shape rewrites come first, for every target: a batched A times a shared B (a Linear
 * layer on [batch, seq, K]) is one [batch·seq, K] @ [K, N] product, so tiles are not wasted
 * on short sequences; and the `cpu` target (software adapters) gets a kernel with no
 * workgroup memory and no barriers, each invocation keeping a block of outputs in registers
 * (8×8 or 8×4 for large products, fitted to a side with fewer than 64 rows or columns).
 * The tile shapes of both targets live in `fuse/tiling.ts`, beside the scheduler's reload
 * cost model that depends on them.
 */
import { elementCount } from '../../core/dim.ts';
import { registerTiling, tiling } from '../fuse/tiling.ts';
import { type KernelBody, type RenderCtx, coordLines, loopCount, stridesOf, u32Lit } from './common.ts';

/** WGSL computing an operand's matrix offset from the batch coordinates `z0..`. */
function batchBase(opShape: readonly number[], batch: readonly number[], matrixSize: number): string {
  const own = opShape.slice(0, -2);
  const st = stridesOf(own);
  const lead = batch.length - own.length;
  const terms: string[] = [];
  batch.forEach((d, i) => {
    const j = i - lead;
    if (j < 0 || own[j] !== d || d === 1) return;
    terms.push(`z${i} * ${u32Lit(st[j]! * matrixSize)}`);
  });
  return terms.length ? terms.join(' + ') : '0u';
}

/**
 * The product as the kernel computes it. When A is stored [batch..., M, K] (not transposed,
 * not broadcast) and B is the same matrix for every batch index, the batch axes fold into M:
 * A's rows and the output's rows are both contiguous runs of batch·M.
 */
function matmulShape(ctx: RenderCtx<'matmul'>) {
  const { transA } = ctx.attrs;
  const [a, b] = [ctx.src[0]!, ctx.src[1]!];
  const r = ctx.shape.length;
  const [M, N] = [ctx.shape[r - 2]!, ctx.shape[r - 1]!];
  const K = transA ? a.shape[a.shape.length - 2]! : a.shape[a.shape.length - 1]!;
  const batch = ctx.shape.slice(0, -2);
  const aBatch = a.shape.slice(0, -2);
  const bShared = b.shape.slice(0, -2).every((d) => d === 1);
  const aFull = aBatch.length === batch.length && aBatch.every((d, i) => d === batch[i]);
  if (batch.length && !transA && bShared && aFull) {
    const rows = M * elementCount(batch);
    return { M: rows, N, K, batch: [] as number[], aShape: [rows, K], bShape: b.shape.slice(-2) };
  }
  return { M, N, K, batch, aShape: a.shape, bShape: b.shape };
}

export function renderMatmul(ctx: RenderCtx<'matmul'>): KernelBody {
  return ctx.target === 'cpu' ? renderRegisterMatmul(ctx) : renderTiledMatmul(ctx);
}

/**
 * For software adapters: each invocation accumulates an RM×RN block straight from storage
 * (the CPU's caches do what workgroup memory does on a GPU), with no barrier to split the
 * shader. Row and column indices are clamped so every load is in bounds and the inner
 * loop has no branch; only the stores are guarded.
 */
function renderRegisterMatmul(ctx: RenderCtx<'matmul'>): KernelBody {
  const { transA, transB } = ctx.attrs;
  const [a, b] = [ctx.src[0]!, ctx.src[1]!];
  const { M, N, K, batch, aShape, bShape } = matmulShape(ctx);
  const { RM, RN, WX, WY } = registerTiling(M, N, K, ctx.attrs.transB);
  const [TM, TN] = [RM * WY, RN * WX];
  const wg: [number, number, number] = [Math.ceil(N / TN), Math.ceil(M / TM), elementCount(batch)];
  if (wg.some((w) => w > ctx.maxWg))
    throw new Error(`matmul ${ctx.shape.join('×')}: dispatch ${wg.join('×')} exceeds ${ctx.maxWg} workgroups per dimension`);
  const rows = Array.from({ length: RM }, (_, i) => i);
  const cols = Array.from({ length: RN }, (_, j) => j);
  // Element (m, k) of op(A) and (k, n) of op(B), from the clamped row `ra_i` / column `cb_j`.
  const aAt = (i: number) => a.at(transA ? `ra${i} + k * ${u32Lit(M)}` : `ra${i} + k`);
  const bAt = (j: number) => b.at(transB ? `cb${j} + k` : `cb${j} + k * ${u32Lit(N)}`);
  const code = `
@compute @workgroup_size(${WX * WY})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let m0 = wid.y * ${TM}u + (lid / ${WX}u) * ${RM}u;
  let n0 = wid.x * ${TN}u + (lid % ${WX}u) * ${RN}u;
${coordLines(batch, 'wid.z', 'z')}  let abase = ${batchBase(aShape, batch, M * K)};
  let bbase = ${batchBase(bShape, batch, K * N)};
  let obase = wid.z * ${u32Lit(M * N)};
${rows.map((i) => `  let ra${i} = abase + min(m0 + ${i}u, ${u32Lit(Math.max(M - 1, 0))})${transA ? '' : ` * ${u32Lit(K)}`};`).join('\n')}
${cols.map((j) => `  let cb${j} = bbase + min(n0 + ${j}u, ${u32Lit(Math.max(N - 1, 0))})${transB ? ` * ${u32Lit(K)}` : ''};`).join('\n')}
  var acc: array<f32, ${RM * RN}>;
  for (var k = 0u; k < ${loopCount(ctx.target, K)}; k++) {
${rows.map((i) => `    let a${i} = ${aAt(i)};`).join('\n')}
${cols.map((j) => `    let b${j} = ${bAt(j)};`).join('\n')}
${rows.flatMap((i) => cols.map((j) => `    acc[${i * RN + j}] = fma(a${i}, b${j}, acc[${i * RN + j}]);`)).join('\n')}
  }
${rows.flatMap((i) => cols.map((j) => `  if (m0 + ${i}u < ${u32Lit(M)} && n0 + ${j}u < ${u32Lit(N)}) { ${ctx.store(`obase + (m0 + ${i}u) * ${u32Lit(N)} + n0 + ${j}u`, `acc[${i * RN + j}]`)} }`)).join('\n')}
}
`;
  return { code, workgroups: wg };
}

function renderTiledMatmul(ctx: RenderCtx<'matmul'>): KernelBody {
  const { transA, transB } = ctx.attrs;
  const [a, b] = [ctx.src[0]!, ctx.src[1]!];
  const { M, N, K, batch, aShape, bShape } = matmulShape(ctx);
  const B = elementCount(batch);
  const t = tiling(M, N);
  const T = (t.TM / t.RM) * (t.TN / t.RN);
  const TXN = t.TN / t.RN;
  const TYM = t.TM / t.RM;
  const wg: [number, number, number] = [Math.ceil(N / t.TN), Math.ceil(M / t.TM), B];
  if (wg.some((w) => w > ctx.maxWg))
    throw new Error(`matmul ${ctx.shape.join('×')}: dispatch ${wg.join('×')} exceeds ${ctx.maxWg} workgroups per dimension`);

  // Slab loads: `idx` walks the slab so that consecutive invocations read consecutive
  // addresses of the operand as stored.
  const loadA = (idx: string) =>
    transA
      ? { mm: `${idx} % ${t.TM}u`, kk: `${idx} / ${t.TM}u`, off: `abase + k * ${u32Lit(M)} + m` }
      : { mm: `${idx} / ${t.TK}u`, kk: `${idx} % ${t.TK}u`, off: `abase + m * ${u32Lit(K)} + k` };
  const loadB = (idx: string) =>
    transB
      ? { nn: `${idx} / ${t.TK}u`, kk: `${idx} % ${t.TK}u`, off: `bbase + n * ${u32Lit(K)} + k` }
      : { nn: `${idx} % ${t.TN}u`, kk: `${idx} / ${t.TN}u`, off: `bbase + k * ${u32Lit(N)} + n` };
  const la = loadA('e');
  const lb = loadB('e');

  const fmas: string[] = [];
  for (let i = 0; i < t.RM; i++)
    for (let j = 0; j < t.RN; j++) fmas.push(`      acc[${i * t.RN + j}] = fma(av[${i}], bv[${j}], acc[${i * t.RN + j}]);`);
  const stores: string[] = [];
  for (let i = 0; i < t.RM; i++) {
    for (let j = 0; j < t.RN; j++) {
      stores.push(`  { let m = m0 + ty + ${i * TYM}u; let n = n0 + tx + ${j * TXN}u;
    if (m < ${u32Lit(M)} && n < ${u32Lit(N)}) { ${ctx.store(`obase + m * ${u32Lit(N)} + n`, `acc[${i * t.RN + j}]`)} } }`);
    }
  }
  const code = `
var<workgroup> As: array<f32, ${t.TK * t.TM}>;
var<workgroup> Bs: array<f32, ${t.TK * t.TN}>;

@compute @workgroup_size(${T})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let n0 = wid.x * ${t.TN}u;
  let m0 = wid.y * ${t.TM}u;
${coordLines(batch, 'wid.z', 'z')}  let abase = ${batchBase(aShape, batch, M * K)};
  let bbase = ${batchBase(bShape, batch, K * N)};
  let obase = wid.z * ${u32Lit(M * N)};
  let tx = lid % ${TXN}u;
  let ty = lid / ${TXN}u;
  var acc: array<f32, ${t.RM * t.RN}>;
  var av: array<f32, ${t.RM}>;
  var bv: array<f32, ${t.RN}>;
  for (var k0 = 0u; k0 < ${u32Lit(K)}; k0 += ${t.TK}u) {
    for (var e = lid; e < ${t.TM * t.TK}u; e += ${T}u) {
      let mm = ${la.mm};
      let kk = ${la.kk};
      let m = m0 + mm;
      let k = k0 + kk;
      var v = 0.0;
      if (m < ${u32Lit(M)} && k < ${u32Lit(K)}) { v = ${a.at(la.off)}; }
      As[kk * ${t.TM}u + mm] = v;
    }
    for (var e = lid; e < ${t.TK * t.TN}u; e += ${T}u) {
      let nn = ${lb.nn};
      let kk = ${lb.kk};
      let n = n0 + nn;
      let k = k0 + kk;
      var v = 0.0;
      if (n < ${u32Lit(N)} && k < ${u32Lit(K)}) { v = ${b.at(lb.off)}; }
      Bs[kk * ${t.TN}u + nn] = v;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < ${t.TK}u; kk++) {
${Array.from({ length: t.RM }, (_, i) => `      av[${i}] = As[kk * ${t.TM}u + ty + ${i * TYM}u];`).join('\n')}
${Array.from({ length: t.RN }, (_, j) => `      bv[${j}] = Bs[kk * ${t.TN}u + tx + ${j * TXN}u];`).join('\n')}
${fmas.join('\n')}
    }
    workgroupBarrier();
  }
${stores.join('\n')}
}
`;
  return { code, workgroups: wg };
}
