/**
 * VQA evaluation on the GPU: generate (or rank) an answer for every item with an inference
 * plan and score open, closed and global exact-match accuracy (`milec eval`, and each tune
 * of `milec sweep`).
 *
 * Classifier-head models (output `answer_logits: f32[B, answers]` and input
 * `answer_class: i32[B]`, e.g. examples/miss_tiny_cls.mile) are not decoded: each item's
 * prediction is the argmax of its logits over the source's answer list (`EvalSource.answers`),
 * scored exactly as generated answers are. Beams and lengths do not apply to them, and
 * `rankClosed` is an error.
 */
import type { Graph } from '../../compiler/ir/graph.ts';
import { SEED_INPUT } from '../../compiler/ir/graph.ts';
import { elementCount } from '../../core/dim.ts';
import type { SpecialTokens } from '../decode.ts';
import type { GpuContext } from '../device.ts';
import { Generator, type ItemInputs } from '../generate.ts';
import { exactMatch, type VqaAccuracy, vqaAccuracy } from '../metrics.ts';
import { Session } from '../session.ts';

/** The model and the evaluation data do not fit together (a one-line error for the user). */
export class EvalError extends Error {}

/** One evaluation item: its model inputs (all but the answer) and the reference answer. */
export interface EvalItem {
  readonly id: string;
  readonly question: string;
  readonly answer: string;
  /** OPEN or CLOSED. */
  readonly answerType: string;
  readonly inputs: ItemInputs;
}

/** What evaluation needs from a dataset: items, the special token ids, and detokenisation. */
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

/** Called as evaluation proceeds: `done` of `total` units (items, or batches) finished. */
export type EvalProgress = (done: number, total: number) => void;

export interface EvalOptions {
  /** Beam width (1: greedy). Default 3. */
  readonly beams?: number;
  /** Most generated tokens. Default 10 (capped by the model's answer length). */
  readonly maxLen?: number;
  readonly minLen?: number;
  readonly lengthPenalty?: number;
  /** Items per forward; rows per forward are items × beams. Default 8. */
  readonly itemsPerBatch?: number;
  /** Symbolic sizes other than `B`. */
  readonly bindings?: Record<string, number>;
  readonly logits?: string;
  readonly answer?: string;
  /** Answer CLOSED items by ranking the distinct CLOSED answers instead of generating. */
  readonly rankClosed?: boolean;
  /** Items answered so far, of all. */
  readonly onProgress?: EvalProgress;
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

/** The batch of `perBatch` items from `start` (the last one padded with copies of its first item); `answer` and `answer_class` stay zero. */
function itemsFeed(graph: Graph, items: readonly EvalItem[], start: number, perBatch: number): Record<string, Float32Array | Int32Array> {
  const chunk = items.slice(start, start + perBatch);
  const feed: Record<string, Float32Array | Int32Array> = {};
  for (const inp of graph.inputs) {
    const numel = elementCount(inp.shape as number[]);
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
    feed[inp.name] = buf;
  }
  return feed;
}

/**
 * A classifier head's answers: the argmax of output `answer_logits` [B, answers] over the
 * source's answer list, `perBatch` items per forward.
 */
async function classify(
  ctx: GpuContext,
  graph: Graph,
  params: ReadonlyMap<string, Float32Array>,
  source: EvalSource,
  perBatch: number,
  o: EvalOptions,
): Promise<string[]> {
  const answers = source.answers;
  if (!answers)
    throw new EvalError(
      `--data ${source.name}: the model is a classifier head (output \`answer_logits\`, input \`answer_class\`) but this data has no answer list`,
    );
  const out = graph.outputs.answer_logits!;
  const session = await Session.create(
    ctx,
    { ...graph, outputs: { answer_logits: out } },
    { bindings: { ...o.bindings, B: perBatch }, params },
  );
  try {
    const g = session.graph;
    const shape = g.nodes[g.outputs.answer_logits!]!.shape as number[];
    if (shape.length !== 2 || shape[0] !== perBatch)
      throw new EvalError(`output \`answer_logits\` must be [B, answers], got [${shape.join(', ')}]`);
    if (shape[1] !== answers.length)
      throw new EvalError(
        `output \`answer_logits\` scores ${shape[1]} answers but the answer list of ${source.name} has ${answers.length}`,
      );
    const C = shape[1]!;
    const items = source.items;
    const text = new Array<string>(items.length);
    for (let start = 0; start < items.length; start += perBatch) {
      session.feed(itemsFeed(g, items, start, perBatch));
      const l = (await session.run(['answer_logits'])).answer_logits!;
      for (let r = 0; r < perBatch && start + r < items.length; r++) {
        let best = 0;
        for (let c = 1; c < C; c++) if (l[r * C + c]! > l[r * C + best]!) best = c;
        text[start + r] = answers[best]!;
      }
      o.onProgress?.(Math.min(start + perBatch, items.length), items.length);
    }
    return text;
  } finally {
    session.destroy();
  }
}

/**
 * Generates (or ranks) an answer for every item and scores them; for a classifier-head model
 * (`isClassifierVqa`), takes the argmax over the answer list instead (beams and lengths ignored).
 * Items are decoded a head batch (items × beams) at a time, so progress can be reported; each
 * item's answer does not depend on which items share its batch.
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
    if (o.rankClosed)
      throw new EvalError(
        '--rank-closed ranks answers with a decoder; this model is a classifier head (output `answer_logits`), whose predictions already come from its answer list',
      );
    return scored(source.items, await classify(ctx, graph, params, source, perBatch, o));
  }
  const gen = await Generator.create(ctx, graph, params, {
    batch: perBatch * beams,
    bindings: o.bindings,
    logits: o.logits,
    answer: o.answer,
  });
  try {
    const items = source.items;
    const text = new Array<string>(items.length);
    const closed = o.rankClosed ? items.map((it, i) => ({ it, i })).filter((x) => x.it.answerType.toUpperCase() === 'CLOSED') : [];
    const generated = items.map((it, i) => ({ it, i })).filter((x) => !closed.includes(x));
    const decodeOpts = { ...source.special, beams, maxLen: o.maxLen ?? 10, minLen: o.minLen ?? 1, lengthPenalty: o.lengthPenalty };
    const chunk = perBatch * beams;
    let done = 0;
    for (let start = 0; start < generated.length; start += chunk) {
      const part = generated.slice(start, start + chunk);
      const hyps = await gen.generate(
        part.map((x) => x.it.inputs),
        decodeOpts,
      );
      part.forEach((x, j) => (text[x.i] = source.decode(hyps[j]!.tokens)));
      o.onProgress?.((done += part.length), items.length);
    }
    if (closed.length) {
      const answers = [...new Set(closed.map((x) => x.it.answer))];
      const candidates = answers.map((a) => source.encodeAnswer(a));
      for (let start = 0; start < closed.length; start += chunk) {
        const part = closed.slice(start, start + chunk);
        const ranked = await gen.rank(
          part.map((x) => x.it.inputs),
          candidates,
          source.special,
        );
        part.forEach((x, j) => (text[x.i] = answers[ranked[j]!.best]!));
        o.onProgress?.((done += part.length), items.length);
      }
    }
    return scored(items, text);
  } finally {
    gen.destroy();
  }
}
