/**
 * `milec eval FILE --checkpoint PATH --data SPEC`: generate answers with a trained model on
 * the GPU (inference plan, no gradient buffers) and report open, closed and global
 * exact-match accuracy; optionally write one JSON line per item.
 *
 * Weights: the deterministic initial values (`runtime/params.ts`, seed from the checkpoint's
 * metadata when it records one, else `--seed`) overwritten by every tensor of the checkpoint
 * that `milec train` saved (its trainable parameters). PATH may be the file or the run folder
 * holding `adapter.safetensors`.
 *
 * Data: `items:PATH.json` is a small self-contained format for tests and demos (a word-level
 * vocabulary and items whose images are generated from a seed; see `readItemsFile`). The
 * dataset loaders of `runtime/data/` (VQA-RAD, SLAKE, synthetic VQA) plug in through
 * `EvalSource` once `openDataset` serves them.
 *
 * Classifier-head models (output `answer_logits: f32[B, answers]` and input
 * `answer_class: i32[B]`, e.g. examples/miss_tiny_cls.mile) are not decoded: each item's
 * prediction is the argmax of its logits over the source's answer list (`EvalSource.answers`),
 * scored exactly as generated answers are. Beams and lengths do not apply to them, and
 * `--rank-closed` is an error.
 */
import { openVqaDataset } from '../runtime/data/vqa.ts';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Graph } from '../compiler/ir/graph.ts';
import { compileFrontEnd } from '../compiler/pipeline.ts';
import { type GpuContext, openDevice } from '../runtime/device.ts';
import { Generator, type ItemInputs, plannedWithParams, type SpecialTokens } from '../runtime/generate.ts';
import { mulberry32 } from '../runtime/init.ts';
import { exactMatch, formatAccuracy, type VqaAccuracy, vqaAccuracy } from '../runtime/metrics.ts';
import { initialParams } from '../runtime/params.ts';
import { FormatError, readSafetensors } from '../runtime/safetensors.ts';
import { report } from './compile.ts';
import { parseDims, UserError } from './errors.ts';
import { readFileSync } from 'node:fs';
import type { ElaboratedModel } from '../compiler/sema/instance.ts';
import { SYNTHETIC_VQA_ANSWERS, syntheticVqaBatch, syntheticVqaVocab } from '../runtime/data/synthetic-vqa.ts';
import { checkAnswerCount, vqaInputShape } from '../runtime/data/vqa.ts';
import { SEED_INPUT } from '../compiler/ir/graph.ts';
import { WordPieceTokenizer } from '../runtime/tokenizer/wordpiece.ts';
import { fileHost } from '../runtime/source-files.ts';

/** One evaluation item: its model inputs (all but the answer) and the reference answer. */
export interface EvalItem {
  readonly id: string;
  readonly question: string;
  readonly answer: string;
  /** OPEN or CLOSED. */
  readonly answerType: string;
  readonly inputs: ItemInputs;
}

/** What `milec eval` needs from a dataset: items, the special token ids, and detokenisation. */
export interface EvalSource {
  readonly name: string;
  readonly items: readonly EvalItem[];
  readonly special: SpecialTokens;
  /** Token ids (no `[DEC]`/`[SEP]`) to answer text. */
  decode(ids: readonly number[]): string;
  /** Answer text to token ids (for ranking closed-set candidates). */
  encodeAnswer(text: string): number[];
  /** The answer list of a classifier head: class i means `answers[i]` (absent when the source has none). */
  readonly answers?: readonly string[];
}

export interface Prediction {
  readonly id: string;
  readonly question: string;
  readonly answer: string;
  readonly answerType: string;
  readonly prediction: string;
  readonly correct: boolean;
}

export interface EvalOptions {
  /** Beam width (1: greedy). Default 3. */
  readonly beams?: number;
  /** Most generated tokens. Default 10 (capped by the model's answer length). */
  readonly maxLen?: number;
  readonly minLen?: number;
  readonly lengthPenalty?: number;
  /** Items per forward; rows per forward are items × beams. Default 8. */
  readonly itemsPerBatch?: number;
  readonly bindings?: Record<string, number>;
  readonly logits?: string;
  readonly answer?: string;
  /** Answer CLOSED items by ranking the distinct CLOSED answers instead of generating. */
  readonly rankClosed?: boolean;
}

/** Whether `graph` is a classifier-head VQA model: output `answer_logits` and input `answer_class`. */
export function isClassifierVqa(graph: Graph): boolean {
  return graph.outputs.answer_logits !== undefined && graph.inputs.some((i) => i.name === 'answer_class');
}

function scored(items: readonly EvalItem[], text: readonly string[]): { accuracy: VqaAccuracy; predictions: Prediction[] } {
  const predictions = items.map((it, i) => ({
    id: it.id,
    question: it.question,
    answer: it.answer,
    answerType: it.answerType,
    prediction: text[i]!,
    correct: exactMatch(text[i]!, it.answer),
  }));
  return { accuracy: vqaAccuracy(predictions), predictions };
}

/**
 * A classifier head's answers: the argmax of output `answer_logits` [B, answers] over the
 * source's answer list, `perBatch` items per forward (the last forward padded with copies of
 * its first item). Inputs `answer` and `answer_class`, if the plan still has them, get zeros.
 */
async function classify(ctx: GpuContext, graph: Graph, params: ReadonlyMap<string, Float32Array>, source: EvalSource, perBatch: number, bindings: Record<string, number> | undefined): Promise<string[]> {
  const answers = source.answers;
  if (!answers) throw new UserError(`--data ${source.name}: the model is a classifier head (output \`answer_logits\`, input \`answer_class\`) but this data has no answer list`);
  const out = graph.outputs.answer_logits!;
  const { be, ex } = await plannedWithParams(ctx, { ...graph, outputs: { answer_logits: out } }, { ...bindings, B: perBatch }, params);
  try {
    const node = be.graph.outputs.answer_logits!;
    const shape = be.graph.nodes[node]!.shape as number[];
    if (shape.length !== 2 || shape[0] !== perBatch) throw new UserError(`output \`answer_logits\` must be [B, answers], got [${shape.join(', ')}]`);
    if (shape[1] !== answers.length) throw new UserError(`output \`answer_logits\` scores ${shape[1]} answers but the answer list of ${source.name} has ${answers.length}`);
    const C = shape[1]!;
    const items = source.items;
    const text = new Array<string>(items.length);
    for (let start = 0; start < items.length; start += perBatch) {
      const chunk = items.slice(start, start + perBatch);
      for (const inp of be.graph.inputs) {
        const numel = (inp.shape as number[]).reduce((a, d) => a * d, 1);
        const per = numel / perBatch;
        const buf = inp.dtype === 'i32' ? new Int32Array(numel) : new Float32Array(numel);
        if (inp.name !== SEED_INPUT && inp.name !== 'answer' && inp.name !== 'answer_class') {
          for (let r = 0; r < perBatch; r++) {
            const it = chunk[r] ?? chunk[0]!;
            const v = it.inputs[inp.name];
            if (!v) throw new Error(`item ${it.id} has no value for input \`${inp.name}\``);
            if (v.length !== per) throw new Error(`input \`${inp.name}\` of item ${it.id} has ${v.length} values, one row has ${per}`);
            buf.set(v, r * per);
          }
        }
        ex.writeInput(inp.node, buf);
      }
      const l = (await ex.run({ read: [node] })).get(node)!;
      chunk.forEach((_, r) => {
        let best = 0;
        for (let c = 1; c < C; c++) if (l[r * C + c]! > l[r * C + best]!) best = c;
        text[start + r] = answers[best]!;
      });
    }
    return text;
  } finally {
    ex.destroy();
  }
}

/**
 * Generates (or ranks) an answer for every item and scores them; for a classifier-head model
 * (`isClassifierVqa`), takes the argmax over the answer list instead (beams and lengths ignored).
 */
export async function evaluateVqa(
  ctx: GpuContext,
  graph: Graph,
  params: ReadonlyMap<string, Float32Array>,
  source: EvalSource,
  o: EvalOptions = {},
): Promise<{ accuracy: VqaAccuracy; predictions: Prediction[] }> {
  const beams = o.beams ?? 3;
  const perBatch = Math.max(1, Math.min(o.itemsPerBatch ?? 8, source.items.length || 1));
  if (isClassifierVqa(graph)) {
    if (o.rankClosed) throw new UserError('--rank-closed ranks answers with a decoder; this model is a classifier head (output `answer_logits`), whose predictions already come from its answer list');
    return scored(source.items, await classify(ctx, graph, params, source, perBatch, o.bindings));
  }
  const gen = await Generator.create(ctx, graph, params, { batch: perBatch * beams, bindings: o.bindings, logits: o.logits, answer: o.answer });
  try {
    const items = source.items;
    const text = new Array<string>(items.length);
    const closed = o.rankClosed ? items.map((it, i) => ({ it, i })).filter((x) => x.it.answerType.toUpperCase() === 'CLOSED') : [];
    const generated = items.map((it, i) => ({ it, i })).filter((x) => !closed.includes(x));
    const hyps = await gen.generate(
      generated.map((x) => x.it.inputs),
      { ...source.special, beams, maxLen: o.maxLen ?? 10, minLen: o.minLen ?? 1, lengthPenalty: o.lengthPenalty },
    );
    generated.forEach((x, j) => (text[x.i] = source.decode(hyps[j]!.tokens)));
    if (closed.length) {
      const answers = [...new Set(closed.map((x) => x.it.answer))];
      const ranked = await gen.rank(closed.map((x) => x.it.inputs), answers.map((a) => source.encodeAnswer(a)), source.special);
      closed.forEach((x, j) => (text[x.i] = answers[ranked[j]!.best]!));
    }
    return scored(items, text);
  } finally {
    gen.destroy();
  }
}

// ---------------------------------------------------------------------------------------
// The `items:PATH` format

/**
 * `{ "vocab": ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[DEC]", "yes", …],
 *    "items": [{ "id": "1", "question": "…", "answer": "…", "answer_type": "CLOSED",
 *                "image_seed": 3 }, …] }`
 * Words are lower-cased runs of letters and digits, mapped to their vocabulary id or
 * `[UNK]`. A question is `[CLS]` and its words, truncated or padded with `[PAD]` to the
 * model's question length; answers start with `[DEC]` and end with `[SEP]`. An optional
 * `"answers": ["yes", "no", …]` is the answer list of a classifier-head model. The image of an
 * item is uniform noise in [-1, 1] drawn from its `image_seed` (or its explicit `image`
 * array), at the shape of the model's `image` input.
 */
export function readItemsFile(path: string, graph: Graph): EvalSource {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new UserError(`${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
  const doc = raw as { vocab?: unknown; items?: unknown; answers?: unknown };
  if (!Array.isArray(doc.vocab) || !doc.vocab.every((v) => typeof v === 'string')) throw new UserError(`${path}: \`vocab\` must be an array of strings`);
  if (!Array.isArray(doc.items)) throw new UserError(`${path}: \`items\` must be an array`);
  if (doc.answers !== undefined && (!Array.isArray(doc.answers) || !doc.answers.every((v) => typeof v === 'string'))) throw new UserError(`${path}: \`answers\` must be an array of strings`);
  const vocab = doc.vocab as string[];
  const id = new Map(vocab.map((w, i) => [w, i]));
  const need = (w: string) => {
    const i = id.get(w);
    if (i === undefined) throw new UserError(`${path}: the vocabulary has no ${w}`);
    return i;
  };
  const special = { bos: need('[DEC]'), eos: need('[SEP]'), pad: need('[PAD]') };
  const unk = need('[UNK]');
  const cls = need('[CLS]');
  const words = (s: string) => s.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
  const encode = (s: string) => words(s).map((w) => id.get(w) ?? unk);
  const inputs = new Map(graph.inputs.map((i) => [i.name, i]));
  const q = inputs.get('question');
  const img = inputs.get('image');
  if (!q || !img) throw new UserError(`--data items: feeds inputs \`image\` and \`question\`; the model has ${graph.inputs.map((i) => `\`${i.name}\``).join(', ')}`);
  const qlen = Number(q.shape[1]);
  const imgNumel = img.shape.slice(1).reduce<number>((a, d) => a * Number(d), 1);
  const items = (doc.items as Record<string, unknown>[]).map((it, k): EvalItem => {
    const where = `${path}: item ${k}`;
    for (const f of ['question', 'answer', 'answer_type']) if (typeof it[f] !== 'string') throw new UserError(`${where}: \`${f}\` must be a string`);
    const tokens = [cls, ...encode(it.question as string)].slice(0, qlen);
    const question = new Int32Array(qlen).fill(special.pad);
    question.set(tokens);
    let image: Float32Array;
    if (Array.isArray(it.image)) {
      if (it.image.length !== imgNumel) throw new UserError(`${where}: \`image\` has ${it.image.length} values, the model's image has ${imgNumel}`);
      image = Float32Array.from(it.image as number[]);
    } else {
      const rng = mulberry32(Number(it.image_seed ?? k) >>> 0);
      image = Float32Array.from({ length: imgNumel }, () => 2 * rng() - 1);
    }
    return { id: String(it.id ?? k), question: it.question as string, answer: it.answer as string, answerType: String(it.answer_type).toUpperCase(), inputs: { image, question } };
  });
  const skip = new Set([special.bos, special.eos, special.pad, cls]);
  return {
    name: `items:${path}`,
    items,
    special,
    decode: (ids) => ids.filter((i) => !skip.has(i)).map((i) => vocab[i] ?? '[UNK]').join(' '),
    encodeAnswer: encode,
    answers: doc.answers as string[] | undefined,
  };
}

/** `synthetic-vqa[:N]`: the first N (default 64) items of the built-in synthetic set's eval split. */
function syntheticSource(spec: string, model: ElaboratedModel, seed: number): EvalSource {
  const n = spec.includes(':') ? Number(spec.split(':')[1]) : 64;
  if (!Number.isInteger(n) || n <= 0) throw new UserError(`--data ${spec}: the item count must be a positive integer`);
  let shape;
  try {
    shape = vqaInputShape(model, spec);
    if (shape.answerClass) checkAnswerCount(model, spec, SYNTHETIC_VQA_ANSWERS);
  } catch (e) {
    throw new UserError(e instanceof Error ? e.message : String(e));
  }
  const tok = new WordPieceTokenizer(syntheticVqaVocab());
  const o = { seed, ...shape, encodeQuestion: (t: string, k: number) => tok.encodeQuestion(t, k, { start: '[ENC]' }), encodeAnswer: (t: string, k: number) => tok.encodeAnswer(t, k) };
  const b = syntheticVqaBatch(o, 0, n, 'eval');
  const img = b.inputs.image!.length / n;
  const items = b.examples.map((ex, i): EvalItem => ({
    id: String(i),
    question: ex.question,
    answer: ex.answer,
    answerType: ex.answerType,
    inputs: { image: b.inputs.image!.slice(i * img, (i + 1) * img), question: (b.inputs.question as Int32Array).slice(i * shape.qlen, (i + 1) * shape.qlen) },
  }));
  return {
    name: `synthetic-vqa (${n} eval items)`,
    items,
    special: { bos: tok.id('[DEC]'), eos: tok.id('[SEP]'), pad: tok.id('[PAD]') },
    decode: (ids) => tok.decode(ids),
    encodeAnswer: (t) => tok.encode(t),
    answers: SYNTHETIC_VQA_ANSWERS,
  };
}

/** `vqa-rad:PATH`, `slake:PATH`, `instruction:PATH`: the eval split, in file order. */
function fileSource(spec: string, model: ElaboratedModel, seed: number, vocabPath: string | undefined): EvalSource {
  let ds;
  try {
    ds = openVqaDataset(spec, model, seed, { vocabPath });
  } catch (e) {
    if (e instanceof Error && !(e instanceof TypeError)) throw new UserError(e.message);
    throw e;
  }
  const n = ds.items('eval').length;
  if (n === 0) throw new UserError(`--data ${spec}: the eval split has no usable items`);
  const b = ds.batch(0, n, 'eval');
  const tok = ds.tokenizer;
  const per = (name: string) => b.inputs[name]!.length / b.size;
  const slice = (name: string, i: number) => b.inputs[name]!.slice(i * per(name), (i + 1) * per(name));
  const items = b.items.map((it, i): EvalItem => ({
    id: it.id,
    question: it.question,
    answer: it.answer,
    answerType: it.answerType,
    inputs: { image: slice('image', i), question: slice('question', i) },
  }));
  return {
    name: `${ds.name} (${items.length} eval items)`,
    items,
    special: { bos: tok.id('[DEC]'), eos: tok.id('[SEP]'), pad: tok.id('[PAD]') },
    decode: (ids) => tok.decode(ids),
    encodeAnswer: (t) => tok.encode(t),
    answers: ds.answers,
  };
}

export function openEvalSource(spec: string, graph: Graph, model: ElaboratedModel, seed: number, vocabPath?: string): EvalSource {
  if (spec.startsWith('items:')) return readItemsFile(spec.slice('items:'.length), graph);
  if (spec === 'synthetic-vqa' || spec.startsWith('synthetic-vqa:') || spec === 'synthetic') return syntheticSource(spec === 'synthetic' ? 'synthetic-vqa' : spec, model, seed);
  if (/^(vqa-rad|slake|instruction):/.test(spec)) return fileSource(spec, model, seed, vocabPath);
  throw new UserError(`--data ${spec}: milec eval reads items:PATH.json, synthetic-vqa[:N], vqa-rad:PATH, slake:PATH or instruction:PATH`);
}

// ---------------------------------------------------------------------------------------
// The command

export interface EvalCliOptions {
  tune?: string;
  model?: string;
  checkpoint: string;
  data: string;
  beams: number;
  maxLen: number;
  batch: number;
  seed?: number;
  dim?: string[];
  rankClosed?: boolean;
  vocab?: string;
  json?: boolean;
  predictions?: string;
  software?: boolean;
}

export async function evalCommand(file: string, o: EvalCliOptions): Promise<number> {
  let path = o.checkpoint;
  if (existsSync(path) && statSync(path).isDirectory()) path = join(path, 'adapter.safetensors');
  if (!existsSync(path)) throw new UserError(`checkpoint ${path} does not exist`);
  let ckpt;
  try {
    ckpt = await readSafetensors(path);
  } catch (e) {
    if (e instanceof FormatError) throw new UserError(e.message);
    throw e;
  }
  const meta = ckpt.metadata;
  const tune = o.tune ?? (meta.tune && meta.tune !== '(full)' ? meta.tune : undefined);
  if (o.tune && meta.tune && meta.tune !== '(full)' && meta.tune !== o.tune) throw new UserError(`${path} was trained with tune \`${meta.tune}\`, not \`${o.tune}\``);
  const fe = compileFrontEnd({ host: fileHost(), file, tune, model: o.model, training: false });
  if (report(fe)) return 1;
  const graph = fe.result!.forward;
  if (meta.model && meta.model !== fe.result!.model.name) throw new UserError(`${path} was trained on model \`${meta.model}\`, not \`${fe.result!.model.name}\``);
  const seed = meta.seed !== undefined ? Number(meta.seed) : (o.seed ?? 0);
  const params = initialParams(graph, seed);
  const unknown: string[] = [];
  for (const name of ckpt.names) {
    const t = ckpt.tensors[name]!;
    const p = graph.params.find((x) => x.name === name);
    if (!p) {
      unknown.push(name);
      continue;
    }
    const want = p.shape.map(Number);
    if (t.shape.length !== want.length || t.shape.some((d, i) => d !== want[i])) throw new UserError(`${path}: tensor ${name} has shape [${t.shape.join(', ')}], the model's is [${want.join(', ')}]`);
    if (!(t.data instanceof Float32Array)) throw new UserError(`${path}: tensor ${name} is ${t.dtype}, not a float tensor`);
    params.set(name, t.data);
  }
  if (unknown.length) throw new UserError(`${path}: ${unknown.length} tensor${unknown.length > 1 ? 's' : ''} the model does not have: ${unknown.slice(0, 5).join(', ')}${unknown.length > 5 ? ', …' : ''} (wrong --tune?)`);
  const source = openEvalSource(o.data, graph, fe.result!.model, seed, o.vocab);
  const bindings = parseDims(o.dim, 1);
  delete (bindings as Record<string, number>).B;

  const ctx = await openDevice({ preferSoftware: o.software });
  try {
    const t0 = performance.now();
    const { accuracy, predictions } = await evaluateVqa(ctx, graph, params, source, {
      beams: o.beams,
      maxLen: o.maxLen,
      itemsPerBatch: o.batch,
      bindings,
      rankClosed: o.rankClosed,
    });
    if (o.predictions) {
      mkdirSync(dirname(o.predictions), { recursive: true });
      writeFileSync(o.predictions, predictions.map((p) => JSON.stringify(p) + '\n').join(''));
    }
    if (o.json) {
      process.stdout.write(JSON.stringify({ open: accuracy.open, closed: accuracy.closed, global: accuracy.global, n: accuracy.n, nOpen: accuracy.nOpen, nClosed: accuracy.nClosed }) + '\n');
    } else {
      const s = ((performance.now() - t0) / 1000).toFixed(1);
      process.stdout.write(
        `milec: evaluated ${fe.result!.model.name}${tune ? ` / ${tune}` : ''} on ${source.name} (${accuracy.n} items, ${isClassifierVqa(graph) ? `classifier head over ${source.answers?.length} answers` : o.beams === 1 ? 'greedy' : `beam ${o.beams}`}, ${ctx.description}, ${s} s)\n` +
          `  open    ${formatAccuracy(accuracy.open)}  (${accuracy.nOpen} items)\n` +
          `  closed  ${formatAccuracy(accuracy.closed)}  (${accuracy.nClosed} items)\n` +
          `  global  ${formatAccuracy(accuracy.global)}  (${accuracy.n} items)\n` +
          (o.predictions ? `  predictions written to ${o.predictions}\n` : ''),
      );
    }
    return 0;
  } finally {
    ctx.close();
  }
}
