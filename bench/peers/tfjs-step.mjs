/**
 * TF.js peer of `npm run bench`: the training step of
 *   milec train examples/tiny_classifier.mile --tune lora_qv --config dim=128 --config hidden=512 --config seq=32 --config max_len=64
 * at batch 8, written by hand in TF.js and timed on its `webgpu` backend (Dawn through the root's
 * `webgpu` package, the adapter milec uses) and its `wasm` backend.
 *
 *   node bench/peers/tfjs-step.mjs [--backend webgpu|wasm|all] [--steps N] [--warmup N]
 *
 * Prints one JSON line per backend: {"peer":"tfjs-webgpu","msPerStep":…,"steps":…,"version":"…",…}.
 * The model (std/nn.mile, std/attention.mile, examples/tiny_classifier.mile): token embedding
 * (vocab 64) + learned positions, 2 pre-LN transformer blocks (LayerNorm eps 1e-5, 4-head
 * attention with biased q/k/v/out Linears and scale 1/√head_dim, residual; LayerNorm, MLP
 * 128→512, exact (erf) GELU, 512→128, residual), final LayerNorm, mean over tokens, Linear head to 4 classes,
 * softmax cross-entropy averaged over the batch. Trainable: LoRA r=8, α=16 (scale α/r, B zero as
 * peft initialises it) on every block's attn.query and attn.value, and the head; every other
 * weight is a plain tensor (no gradient). Adam (AdamW with weight decay 0), lr 1e-3, ε 1e-8.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const args = process.argv.slice(2);
const arg = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const which = arg('backend', 'all');
const steps = Number(arg('steps', process.env.BENCH_REPS ?? 10));
const warmup = Math.max(3, Number(arg('warmup', 3)));

const cfg = { vocab: 64, seq: 32, maxLen: 64, dim: 128, heads: 4, hidden: 512, depth: 2, classes: 4, batch: 8, r: 8, alpha: 16 };

// A `navigator.gpu` on Dawn before the WebGPU backend registers itself (it checks at import).
let gpu;
if (which !== 'wasm') {
  const { create, globals } = await import('../../node_modules/webgpu/index.js');
  Object.assign(globalThis, globals);
  gpu = create([]);
  globalThis.navigator = { gpu };
}
const tf = require('@tensorflow/tfjs-core');
// The gradients: tfjs-core's Node bundle registers none, and its `register_all_gradients` is
// ESM that Node cannot load; the union package's Node bundle registers them all.
require('@tensorflow/tfjs');
require('@tensorflow/tfjs-backend-webgpu');
const wasm = require('@tensorflow/tfjs-backend-wasm');

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** A fixed-seed normal(0, std) tensor (TF.js's own seeded generator). */
let seed = 1;
const normal = (shape, std = 0.02) => tf.randomNormal(shape, 0, std, 'float32', seed++);

function buildModel() {
  const { vocab, maxLen, dim, hidden, depth, classes, r } = cfg;
  const frozen = [];
  const trainable = [];
  const fz = (t) => (frozen.push(t), t);
  const tr = (t, name) => {
    const v = tf.variable(t, true, name);
    trainable.push(v);
    return v;
  };
  const linear = (din, dout) => ({ w: fz(normal([dout, din])), b: fz(tf.zeros([dout])) });
  const layerNorm = (d) => ({ w: fz(tf.ones([d])), b: fz(tf.zeros([d])) });
  // LoRA as peft initialises it: A Kaiming-uniform (a = √5, bound 1/√in), B zeros.
  const lora = (din, dout, name) => ({
    A: tr(tf.randomUniform([r, din], -1 / Math.sqrt(din), 1 / Math.sqrt(din), 'float32', seed++), `${name}.lora_A`),
    B: tr(tf.zeros([dout, r]), `${name}.lora_B`),
  });
  const m = {
    embed: fz(normal([vocab, dim])),
    pos: fz(normal([maxLen, dim])),
    blocks: Array.from({ length: depth }, (_, i) => ({
      norm1: layerNorm(dim),
      query: { ...linear(dim, dim), lora: lora(dim, dim, `blocks.${i}.attn.query`) },
      key: linear(dim, dim),
      value: { ...linear(dim, dim), lora: lora(dim, dim, `blocks.${i}.attn.value`) },
      out: linear(dim, dim),
      norm2: layerNorm(dim),
      fc1: linear(dim, hidden),
      fc2: linear(hidden, dim),
    })),
    norm: layerNorm(dim),
    head: { w: tr(normal([classes, dim]), 'head.weight'), b: tr(tf.zeros([classes]), 'head.bias') },
  };
  return { m, frozen, trainable };
}

/** The forward pass and loss; `tokens` int32 [B, T], `onehot` float32 [B, classes]. */
function lossOf(m, tokens, onehot) {
  const { dim, heads, seq } = cfg;
  const B = cfg.batch;
  const hd = dim / heads;
  const scale = cfg.alpha / cfg.r;
  // x: [N, din] (N = B·T) -> [N, dout]; x @ Wᵀ + b (+ s · (x @ Aᵀ) @ Bᵀ).
  const lin = (x, p) => {
    let y = tf.add(tf.matMul(x, p.w, false, true), p.b);
    if (p.lora) y = tf.add(y, tf.mul(tf.matMul(tf.matMul(x, p.lora.A, false, true), p.lora.B, false, true), scale));
    return y;
  };
  const ln = (x, p) => {
    const { mean, variance } = tf.moments(x, -1, true);
    return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5))), p.w), p.b);
  };
  const gelu = (x) => tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
  const splitHeads = (x) => tf.transpose(tf.reshape(x, [B, seq, heads, hd]), [0, 2, 1, 3]);
  const N = B * seq;
  let x = tf.add(tf.gather(m.embed, tokens), tf.slice(m.pos, [0, 0], [seq, dim])); // [B, T, dim]
  x = tf.reshape(x, [N, dim]);
  for (const blk of m.blocks) {
    const h0 = ln(x, blk.norm1);
    const q = splitHeads(lin(h0, blk.query));
    const k = splitHeads(lin(h0, blk.key));
    const v = splitHeads(lin(h0, blk.value));
    const att = tf.softmax(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(hd)));
    const ctx = tf.reshape(tf.transpose(tf.matMul(att, v), [0, 2, 1, 3]), [N, dim]);
    const h = tf.add(x, lin(ctx, blk.out));
    x = tf.add(h, lin(gelu(lin(ln(h, blk.norm2), blk.fc1)), blk.fc2));
  }
  const pooled = tf.mean(tf.reshape(ln(x, m.norm), [B, seq, dim]), 1);
  const logits = lin(pooled, m.head);
  return tf.losses.softmaxCrossEntropy(onehot, logits); // mean over the batch
}

async function bench(backend) {
  if (backend === 'wasm') {
    // tfjs-backend-wasm turns its threaded build off under Node (WASM_HAS_MULTITHREAD_SUPPORT is
    // false there, tensorflow/tfjs#3830), so this asks for the cores and reports what it got.
    wasm.setThreadsCount(Math.max(1, (await import('node:os')).availableParallelism()));
  }
  if (!(await tf.setBackend(backend))) throw new Error(`TF.js backend ${backend} did not initialise`);
  await tf.ready();
  const { m, frozen, trainable } = buildModel();
  const size = (ts) => ts.reduce((s, t) => s + t.size, 0);
  const params = { total: size(frozen) + size(trainable), trainable: size(trainable) };
  // One fixed batch, made and uploaded before timing.
  const tokens = tf.tensor2d(
    Int32Array.from({ length: cfg.batch * cfg.seq }, (_, i) => ((i * 2654435761) % 4294967296) % cfg.vocab),
    [cfg.batch, cfg.seq],
    'int32',
  );
  const labels = tf.tensor1d(
    Int32Array.from({ length: cfg.batch }, (_, i) => i % cfg.classes),
    'int32',
  );
  const onehot = tf.cast(tf.oneHot(labels, cfg.classes), 'float32');
  const opt = tf.train.adam(1e-3, 0.9, 0.999, 1e-8);
  const step = async () => {
    const loss = opt.minimize(() => lossOf(m, tokens, onehot), true, trainable);
    const v = (await loss.data())[0];
    loss.dispose();
    return v;
  };
  const firstLoss = await step();
  for (let i = 1; i < warmup; i++) await step();
  const ms = [];
  let lastLoss = 0;
  for (let i = 0; i < steps; i++) {
    const t = performance.now();
    lastLoss = await step();
    ms.push(performance.now() - t);
  }
  const leak = tf.memory().numTensors;
  await step();
  const grew = tf.memory().numTensors - leak;
  // Kernels per step: TF.js's own count of the kernels one step runs (forward, backward, Adam).
  const prof = await tf.profile(step);
  const out = {
    peer: `tfjs-${backend}`,
    msPerStep: Number(median(ms).toFixed(2)),
    steps,
    version: tf.version_core,
    kernelsPerStep: prof.kernels.length,
    params,
    firstLoss: Number(firstLoss.toFixed(4)),
    lastLoss: Number(lastLoss.toFixed(4)),
    tensorsLeakedPerStep: grew,
  };
  if (backend === 'wasm') {
    out.threads = wasm.getThreadsCount();
    out.simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  }
  if (backend === 'webgpu') {
    const info = tf.backend().adapterInfo;
    if (info) out.adapter = [info.vendor, info.architecture, info.description].filter(Boolean).join(' ') || undefined;
  }
  opt.dispose();
  for (const t of [...frozen, ...trainable, tokens, labels, onehot]) t.dispose();
  return out;
}

const backends = which === 'all' ? ['webgpu', 'wasm'] : [which];
let failed = false;
for (const b of backends) {
  try {
    console.log(JSON.stringify(await bench(b)));
  } catch (e) {
    failed = true;
    console.log(JSON.stringify({ peer: `tfjs-${b}`, error: String(e?.message ?? e).split('\n')[0] }));
  }
}
// Dawn keeps Node alive while a reference to its GPU is held (node-webgpu's README, "Lifetime").
if (globalThis.navigator) delete globalThis.navigator.gpu;
gpu = undefined;
process.exit(failed ? 1 : 0);
