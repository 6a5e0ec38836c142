/**
 * Answer generation for encoder-decoder VQA models (BLIP/MISS style), on the GPU in
 * inference mode.
 *
 * The compiled graphs are static-shaped, so one decoding step is one run of the inference
 * forward (of its answer-dependent part, see below): the answer input holds each row's prefix (`[DEC]` and the tokens chosen
 * so far) padded to the full answer length, and the causal decoder makes the padding
 * invisible to the positions that are read. With a model that feeds `answer[:, :-1]` to the
 * decoder (teacher forcing, as `examples/miss_vqa.mile`), `logits[:, t]` is the distribution
 * of answer token t + 1 given answer[:, 0..t]: a prefix of length k is continued by the row
 * `logits[:, k - 1]`.
 *
 * The image and question towers do not depend on the answer, so `Generator` splits the graph
 * at the answer input (`compiler/ir/split.ts : splitAtInput`) into two plans: the head (ViT,
 * question encoder, and whatever else of the decoder reads only their results, such as the
 * cross-attention keys and values), run once per item per `generate`/`rank` call, batched
 * `headBatch` items per run; and the tail (the decoder), run once per decoding step, whose
 * boundary inputs are fed each row's item's head results (read back and kept on the host:
 * they are small). A graph with nothing to split off runs whole every step.
 *
 * The search itself (`greedyDecode`, `beamSearch`, `rankCandidates`) is pure and works on
 * any `NextTokenLogits` function, so it is tested against an exhaustive search on a fake
 * model; `Generator` supplies that function from a compiled plan, batching the rows of every
 * item (beams, or candidate answers) as rows of the batch, B = items × beams per forward.
 */
import { buildBackend, type Backend } from '../compiler/backend.ts';
import type { Graph, InputInfo, NodeId } from '../compiler/ir/graph.ts';
import { SEED_INPUT } from '../compiler/ir/graph.ts';
import { splitAtInput } from '../compiler/ir/split.ts';
import type { Bindings } from '../compiler/ir/specialize.ts';
import type { GpuContext } from './device.ts';
import { PlanExecutor } from './executor.ts';
import { fileHost } from './source-files.ts';

export interface SpecialTokens {
  /** Begin-of-answer token fed first (BLIP: `[DEC]`). */
  readonly bos: number;
  /** End of answer (BLIP: `[SEP]`). */
  readonly eos: number;
  /** Fills the answer buffer after the prefix. */
  readonly pad: number;
}

export interface DecodeOptions extends SpecialTokens {
  /** Most tokens generated per answer, `[SEP]` included (default 10; also capped by the model's answer length). */
  readonly maxLen?: number;
  /** Fewest tokens before `[SEP]` may be chosen (default 1: never an empty answer). */
  readonly minLen?: number;
  /** Beam width (default 3); 1 is greedy. */
  readonly beams?: number;
  /**
   * Hugging Face's `length_penalty` (default 1.0, HF's default and so BLIP's): a hypothesis
   * scores sum(log p) / length^lengthPenalty, length counting `[DEC]` and the generated
   * tokens but not `[SEP]` (as HF's `BeamHypotheses`). 0 scores by the plain sum of log-probs.
   */
  readonly lengthPenalty?: number;
}

/** One row to continue: the item it belongs to (for the image and question) and its prefix, `[DEC]` first. */
export interface DecodeRow {
  readonly item: number;
  readonly prefix: readonly number[];
}

/** Next-token logits (unnormalised) of each row, over the vocabulary. */
export type NextTokenLogits = (rows: readonly DecodeRow[]) => Promise<readonly ArrayLike<number>[]>;

export interface Hypothesis {
  /** Generated tokens, without `[DEC]` and `[SEP]`. */
  readonly tokens: number[];
  /** Sum of the log-probabilities of the generated tokens, `[SEP]` included when it was generated. */
  readonly logProb: number;
  /** The ranking score: logProb / (1 + tokens.length)^lengthPenalty. */
  readonly score: number;
  /** Ended with `[SEP]` (false: stopped at the length limit). */
  readonly finished: boolean;
}

/** log-softmax in float64. */
export function logSoftmax(logits: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]!);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - max);
  const lse = max + Math.log(sum);
  const out = new Float64Array(logits.length);
  for (let i = 0; i < logits.length; i++) out[i] = logits[i]! - lse;
  return out;
}

function resolved(o: DecodeOptions) {
  const maxLen = o.maxLen ?? 10;
  const minLen = o.minLen ?? 1;
  const beams = o.beams ?? 3;
  const lengthPenalty = o.lengthPenalty ?? 1.0;
  if (!Number.isInteger(maxLen) || maxLen < 1) throw new Error(`maxLen must be a positive integer, got ${maxLen}`);
  if (!Number.isInteger(minLen) || minLen < 0) throw new Error(`minLen must be a non-negative integer, got ${minLen}`);
  if (!Number.isInteger(beams) || beams < 1) throw new Error(`beams must be a positive integer, got ${beams}`);
  return { maxLen, minLen, beams, lengthPenalty };
}

/** Next-token log-probs of a row whose prefix holds `generated` tokens, `[SEP]` masked before `minLen` (after normalising, as HF). */
function stepLogProbs(logits: ArrayLike<number>, generated: number, eos: number, minLen: number): Float64Array {
  const lp = logSoftmax(logits);
  if (generated < minLen && eos < lp.length) lp[eos] = -Infinity;
  return lp;
}

const scoreOf = (logProb: number, generated: number, lengthPenalty: number) => logProb / Math.pow(1 + generated, lengthPenalty);

/** Greedy decoding of `items` answers: the most likely next token at every step. */
export async function greedyDecode(items: number, next: NextTokenLogits, opts: DecodeOptions): Promise<Hypothesis[]> {
  const { maxLen, minLen, lengthPenalty } = resolved(opts);
  const state = Array.from({ length: items }, () => ({ tokens: [] as number[], logProb: 0, finished: false }));
  for (let step = 0; step < maxLen; step++) {
    const live = state.map((s, i) => ({ s, i })).filter((x) => !x.s.finished);
    if (!live.length) break;
    const logits = await next(live.map(({ s, i }) => ({ item: i, prefix: [opts.bos, ...s.tokens] })));
    live.forEach(({ s }, r) => {
      const lp = stepLogProbs(logits[r]!, s.tokens.length, opts.eos, minLen);
      let best = 0;
      for (let v = 1; v < lp.length; v++) if (lp[v]! > lp[best]!) best = v;
      s.logProb += lp[best]!;
      if (best === opts.eos) s.finished = true;
      else s.tokens.push(best);
    });
  }
  return state.map((s) => ({ tokens: s.tokens, logProb: s.logProb, score: scoreOf(s.logProb, s.tokens.length, lengthPenalty), finished: s.finished }));
}

/** The `beams` best finished hypotheses of one item (HF's `BeamHypotheses`). */
class Finished {
  readonly list: Hypothesis[] = [];
  constructor(private readonly size: number) {}
  get worst(): number {
    return this.list.length ? this.list[this.list.length - 1]!.score : -Infinity;
  }
  add(h: Hypothesis): void {
    if (this.list.length >= this.size && !(h.score > this.worst)) return;
    // Stable: an equal score goes after the ones already kept.
    let at = this.list.findIndex((x) => x.score < h.score);
    if (at < 0) at = this.list.length;
    this.list.splice(at, 0, h);
    if (this.list.length > this.size) this.list.pop();
  }
}

/**
 * Beam search as Hugging Face's `generate(num_beams = K, early_stopping = False)` does it:
 * each step ranks every (beam, token) continuation by the summed log-probability and walks
 * the best 2K; a `[SEP]` among the first K closes a hypothesis (kept among the item's K best
 * finished ones), the others fill the K beams of the next step. An item is done when K
 * hypotheses are finished and no live beam can beat the worst of them (the bound divides the
 * best live sum by the longest possible length when lengthPenalty > 0, as current HF does);
 * at `maxLen` the live beams join the finished ones. Returns each item's finished
 * hypotheses, best first.
 */
export async function beamSearch(items: number, next: NextTokenLogits, opts: DecodeOptions): Promise<Hypothesis[][]> {
  const { maxLen, minLen, beams: K, lengthPenalty } = resolved(opts);
  type Beam = { tokens: number[]; logProb: number };
  const st = Array.from({ length: items }, () => ({ beams: [{ tokens: [], logProb: 0 }] as Beam[], finished: new Finished(K), done: false }));
  for (let step = 0; step < maxLen; step++) {
    const rows: DecodeRow[] = [];
    const owner: { item: number; beam: number }[] = [];
    st.forEach((s, item) => {
      if (s.done) return;
      s.beams.forEach((b, beam) => {
        rows.push({ item, prefix: [opts.bos, ...b.tokens] });
        owner.push({ item, beam });
      });
    });
    if (!rows.length) break;
    const logits = await next(rows);
    const byItem = new Map<number, { beam: number; lp: Float64Array }[]>();
    owner.forEach((o, r) => {
      const b = st[o.item]!.beams[o.beam]!;
      const list = byItem.get(o.item) ?? [];
      list.push({ beam: o.beam, lp: stepLogProbs(logits[r]!, b.tokens.length, opts.eos, minLen) });
      byItem.set(o.item, list);
    });
    for (const [item, list] of byItem) {
      const s = st[item]!;
      const cands: { beam: number; token: number; logProb: number }[] = [];
      for (const { beam, lp } of list) {
        const base = s.beams[beam]!.logProb;
        for (let v = 0; v < lp.length; v++) if (lp[v]! > -Infinity) cands.push({ beam, token: v, logProb: base + lp[v]! });
      }
      // Best first; ties by beam, then token (deterministic).
      cands.sort((a, b) => b.logProb - a.logProb || a.beam - b.beam || a.token - b.token);
      const nextBeams: Beam[] = [];
      for (const [rank, c] of cands.slice(0, 2 * K).entries()) {
        const prev = s.beams[c.beam]!;
        if (c.token === opts.eos) {
          if (rank >= K) continue;
          s.finished.add({ tokens: prev.tokens.slice(), logProb: c.logProb, score: scoreOf(c.logProb, prev.tokens.length, lengthPenalty), finished: true });
        } else {
          nextBeams.push({ tokens: [...prev.tokens, c.token], logProb: c.logProb });
          if (nextBeams.length === K) break;
        }
      }
      s.beams = nextBeams;
      if (!nextBeams.length) {
        s.done = true;
        continue;
      }
      if (s.finished.list.length >= K) {
        const best = Math.max(...nextBeams.map((b) => b.logProb));
        // The most any live beam can still score: sums only fall; a longer length helps a negative sum when lengthPenalty > 0.
        const len = lengthPenalty > 0 && best < 0 ? 1 + maxLen : 1 + nextBeams[0]!.tokens.length;
        if (s.finished.worst >= best / Math.pow(len, lengthPenalty)) s.done = true;
      }
    }
  }
  // Beams still live at the length limit become (unfinished) hypotheses.
  for (const s of st) {
    if (!s.done) for (const b of s.beams) s.finished.add({ tokens: b.tokens, logProb: b.logProb, score: scoreOf(b.logProb, b.tokens.length, lengthPenalty), finished: false });
  }
  return st.map((s) => s.finished.list);
}

/** Greedy when `beams` is 1, else the best beam of `beamSearch`. */
export async function decode(items: number, next: NextTokenLogits, opts: DecodeOptions): Promise<Hypothesis[]> {
  if ((opts.beams ?? 3) === 1) return greedyDecode(items, next, opts);
  return (await beamSearch(items, next, opts)).map((h) => h[0]!);
}

/** Token-level log-probabilities of whole answers, for `rankCandidates`. */
export type SequenceLogProbs = (rows: readonly { item: number; answer: readonly number[] }[]) => Promise<Float64Array>;

/**
 * The closed-set ("classification head") variant: scores every candidate answer for every
 * item with the decoder itself, as BLIP's `inference = 'rank'` does: the teacher-forced sum
 * of log p(token) over the candidate's tokens and its `[SEP]`, and picks the argmax. So no
 * separate head is trained; the candidate list is typically every distinct closed answer of
 * the training set. `candidates` are token ids without `[DEC]`/`[SEP]`.
 */
export async function rankCandidates(items: number, candidates: readonly (readonly number[])[], score: SequenceLogProbs): Promise<{ best: number; scores: Float64Array }[]> {
  if (!candidates.length) throw new Error('rankCandidates needs at least one candidate answer');
  const rows: { item: number; answer: number[] }[] = [];
  for (let i = 0; i < items; i++) for (const c of candidates) rows.push({ item: i, answer: [...c] });
  const s = await score(rows);
  return Array.from({ length: items }, (_, i) => {
    const scores = s.slice(i * candidates.length, (i + 1) * candidates.length);
    let best = 0;
    for (let c = 1; c < scores.length; c++) if (scores[c]! > scores[best]!) best = c;
    return { best, scores };
  });
}

/** One item's value of each model input other than the answer: its row of each batched input. */
export type ItemInputs = Readonly<Record<string, Float32Array | Int32Array>>;

export interface GeneratorOptions {
  /** Rows per forward: binds `B`. Use items × beams to run whole items together. */
  readonly batch: number;
  /** Other symbolic sizes. */
  readonly bindings?: Bindings;
  /** Name of the decoder-logits output (default `logits`), shape [B, T, vocab]. */
  readonly logits?: string;
  /** Name of the answer input (default `answer`), i32 [B, alen]. */
  readonly answer?: string;
  /** Items per run of the head (the towers) when the graph splits; default `batch`. */
  readonly headBatch?: number;
  /** false: run the whole graph every step, without splitting off the towers (default true). */
  readonly split?: boolean;
}

/** The compiled head of a split graph: runs the towers, whose boundary values the tail reads. */
interface HeadPlan {
  readonly backend: Backend;
  readonly executor: PlanExecutor;
  /** Items per head run. */
  readonly batch: number;
  /** The tail inputs it feeds: name, head output node, values per item, dtype. */
  readonly boundary: readonly { readonly name: string; readonly node: NodeId; readonly per: number; readonly i32: boolean }[];
}

/** One item's head results, by boundary (tail input) name. */
type ItemState = Readonly<Record<string, Float32Array | Int32Array>>;

function numelOf(inp: InputInfo): number {
  return (inp.shape as number[]).reduce((a, d) => a * d, 1);
}

/** An inference plan of `graph` on the device, with every parameter written (from `params`). */
export async function plannedWithParams(ctx: GpuContext, graph: Graph, bindings: Bindings, params: ReadonlyMap<string, Float32Array>): Promise<{ be: Backend; ex: PlanExecutor }> {
  const be = buildBackend(graph, bindings, { target: ctx.target });
  const ex = await PlanExecutor.create(ctx, be.plan);
  try {
    for (const p of be.plan.params) {
      const v = params.get(p.name);
      if (!v) throw new Error(`no value for parameter ${p.name}`);
      ex.writeParam(p.name, v);
    }
  } catch (e) {
    ex.destroy();
    throw e;
  }
  return { be, ex };
}

/**
 * A compiled inference plan of a VQA model that turns rows (item, answer prefix) into
 * next-token logits. `graph` is the inference forward (`compileFrontEnd({ host: fileHost(), training: false })`):
 * no dropout, no gradient buffers, no optimizer state. When the graph splits at the answer
 * input, `backend`/`executor` are the tail (decoder) and `head` the towers.
 */
export class Generator {
  private constructor(
    /** The plan run per decoding step: the tail of the split graph, or the whole graph. */
    readonly backend: Backend,
    readonly executor: PlanExecutor,
    /** Rows per forward. */
    readonly batch: number,
    readonly vocab: number,
    /** Length of the answer input. */
    readonly answerLen: number,
    /** Positions of the logits output: the longest prefix that can be continued. */
    readonly logitsLen: number,
    private readonly logitsNode: number,
    private readonly answerName: string,
    /** The towers, run once per item; undefined when the graph runs whole every step. */
    private readonly head: HeadPlan | undefined,
    /** Forwards (of the tail, or of the whole graph) run so far. */
    public forwards = 0,
    /** Head runs so far (each covers up to `headBatch` items). */
    public headForwards = 0,
  ) {}

  /** Whether the towers run once per item (split graph) rather than every step. */
  get split(): boolean {
    return this.head !== undefined;
  }

  static async create(ctx: GpuContext, graph: Graph, params: ReadonlyMap<string, Float32Array>, opts: GeneratorOptions): Promise<Generator> {
    const logitsName = opts.logits ?? 'logits';
    const answerName = opts.answer ?? 'answer';
    const id = graph.outputs[logitsName];
    if (id === undefined) throw new Error(`the model has no output \`${logitsName}\` (outputs: ${Object.keys(graph.outputs).join(', ') || 'none'}); declare the decoder logits with \`output ${logitsName} = …\``);
    const ans = graph.inputs.find((i) => i.name === answerName);
    if (!ans || ans.dtype !== 'i32' || ans.shape.length !== 2) throw new Error(`the model needs an i32 [B, alen] input \`${answerName}\` for the answer prefix`);
    const headBatch = opts.headBatch ?? opts.batch;
    if (!Number.isInteger(headBatch) || headBatch < 1) throw new Error(`headBatch must be a positive integer, got ${headBatch}`);
    // Plan only the logits: the loss (if any) is not computed.
    const logitsOnly: Graph = { ...graph, outputs: { [logitsName]: id }, grads: {} };
    const s = splitAtInput(logitsOnly, answerName);
    // Per-item boundary values need batch-major boundary tensors; a tail that lost the answer has nothing to step.
    const useful =
      opts.split !== false &&
      s.headNodes > 0 &&
      s.boundary.length > 0 &&
      s.boundary.every((b) => s.head.nodes[b.headOutput]!.shape[0] === 'B') &&
      s.tail.inputs.some((i) => i.name === answerName);
    const tailGraph = useful ? s.tail : logitsOnly;
    let head: HeadPlan | undefined;
    if (useful) {
      const { be, ex } = await plannedWithParams(ctx, s.head, { ...opts.bindings, B: headBatch }, params);
      head = {
        backend: be,
        executor: ex,
        batch: headBatch,
        boundary: s.boundary.map((b) => {
          const node = be.graph.outputs[b.name]!;
          const n = be.graph.nodes[node]!;
          return { name: b.name, node, per: (n.shape as number[]).reduce((a, d) => a * d, 1) / headBatch, i32: n.dtype === 'i32' };
        }),
      };
    }
    let tail: { be: Backend; ex: PlanExecutor };
    try {
      tail = await plannedWithParams(ctx, tailGraph, { ...opts.bindings, B: opts.batch }, params);
    } catch (e) {
      head?.executor.destroy();
      throw e;
    }
    const { be, ex } = tail;
    const node = be.graph.nodes[be.graph.outputs[logitsName]!]!;
    const shape = node.shape as number[];
    if (shape.length !== 3 || shape[0] !== opts.batch) {
      ex.destroy();
      head?.executor.destroy();
      throw new Error(`output \`${logitsName}\` must be [B, T, vocab], got [${shape.join(', ')}]`);
    }
    const alen = be.graph.inputs.find((i) => i.name === answerName)!.shape[1] as number;
    return new Generator(be, ex, opts.batch, shape[2]!, alen, Math.min(shape[1]!, alen), be.graph.outputs[logitsName]!, answerName, head);
  }

  /**
   * Runs the head over the items `which` (indices into `items`), `headBatch` at a time, and
   * returns each one's boundary values (sparse: only `which` are set). Empty without a head.
   */
  async itemStates(items: readonly ItemInputs[], which: Iterable<number> = items.keys()): Promise<ItemState[]> {
    const states: ItemState[] = [];
    const h = this.head;
    if (!h) return states;
    const list = [...new Set(which)];
    const g = h.backend.graph;
    for (let start = 0; start < list.length; start += h.batch) {
      const chunk = list.slice(start, start + h.batch);
      // Pad the last chunk with copies of its first item.
      const full = Array.from({ length: h.batch }, (_, r) => chunk[r] ?? chunk[0]!);
      for (const inp of g.inputs) {
        const numel = numelOf(inp);
        const per = numel / h.batch;
        const buf = inp.dtype === 'i32' ? new Int32Array(numel) : new Float32Array(numel);
        if (inp.name !== SEED_INPUT) {
          full.forEach((item, i) => {
            const v = items[item]?.[inp.name];
            if (!v) throw new Error(`item ${item} has no value for input \`${inp.name}\``);
            if (v.length !== per) throw new Error(`input \`${inp.name}\` of item ${item} has ${v.length} values, one row has ${per}`);
            buf.set(v, i * per);
          });
        }
        h.executor.writeInput(inp.node, buf);
      }
      const got = await h.executor.run({ read: h.boundary.map((b) => b.node) });
      this.headForwards++;
      chunk.forEach((item, i) => {
        const st: Record<string, Float32Array | Int32Array> = {};
        for (const b of h.boundary) {
          const v = got.get(b.node)!.slice(i * b.per, (i + 1) * b.per);
          st[b.name] = b.i32 ? Int32Array.from(v) : v;
        }
        states[item] = st;
      });
    }
    return states;
  }

  /**
   * Logits [T, vocab] of each row whose answer input is `answer` (padded to the answer length
   * by the caller). `states` (from `itemStates`) are the head results of the rows' items; when
   * missing, the head runs here for the items the rows name.
   */
  async forward(items: readonly ItemInputs[], rows: readonly { item: number; answer: ArrayLike<number> }[], states?: readonly ItemState[]): Promise<Float32Array[]> {
    if (this.head && !states) states = await this.itemStates(items, rows.map((r) => r.item));
    const boundary = new Set(this.head?.boundary.map((b) => b.name));
    const g = this.backend.graph;
    const out: Float32Array[] = [];
    const T = (g.nodes[this.logitsNode]!.shape[1] as number) * this.vocab;
    for (let start = 0; start < rows.length; start += this.batch) {
      const chunk = rows.slice(start, start + this.batch);
      // Pad the last chunk with copies of its first row.
      const full = Array.from({ length: this.batch }, (_, r) => chunk[r] ?? chunk[0]!);
      for (const inp of g.inputs) {
        const numel = numelOf(inp);
        const per = numel / this.batch;
        const buf = inp.dtype === 'i32' ? new Int32Array(numel) : new Float32Array(numel);
        if (inp.name === this.answerName) {
          full.forEach((r, i) => {
            if (r.answer.length !== per) throw new Error(`answer row has ${r.answer.length} tokens, the model's answer length is ${per}`);
            buf.set(r.answer, i * per);
          });
        } else if (boundary.has(inp.name)) {
          full.forEach((r, i) => {
            const v = states?.[r.item]?.[inp.name];
            if (!v) throw new Error(`no head results for item ${r.item}`);
            buf.set(v, i * per);
          });
        } else if (inp.name !== SEED_INPUT) {
          full.forEach((r, i) => {
            const v = items[r.item]?.[inp.name];
            if (!v) throw new Error(`item ${r.item} has no value for input \`${inp.name}\``);
            if (v.length !== per) throw new Error(`input \`${inp.name}\` of item ${r.item} has ${v.length} values, one row has ${per}`);
            buf.set(v, i * per);
          });
        }
        this.executor.writeInput(inp.node, buf);
      }
      const got = (await this.executor.run({ read: [this.logitsNode] })).get(this.logitsNode)!;
      this.forwards++;
      chunk.forEach((_, i) => out.push(got.subarray(i * T, (i + 1) * T)));
    }
    return out;
  }

  private answerRow(tokens: readonly number[], pad: number): Int32Array {
    if (tokens.length > this.answerLen) throw new Error(`answer of ${tokens.length} tokens does not fit the model's answer length ${this.answerLen}`);
    const a = new Int32Array(this.answerLen).fill(pad);
    a.set(tokens);
    return a;
  }

  /** The `NextTokenLogits` of this model over `items`. */
  nextTokenLogits(items: readonly ItemInputs[], special: SpecialTokens): NextTokenLogits {
    // The head runs once, over every item, at the first step.
    let states: Promise<ItemState[]> | undefined;
    return async (rows) => {
      states ??= this.itemStates(items);
      const logits = await this.forward(
        items,
        rows.map((r) => ({ item: r.item, answer: this.answerRow(r.prefix, special.pad) })),
        await states,
      );
      return logits.map((l, i) => {
        const k = rows[i]!.prefix.length;
        if (k > this.logitsLen) throw new Error(`prefix of ${k} tokens is longer than the model's ${this.logitsLen} logits positions`);
        return l.subarray((k - 1) * this.vocab, k * this.vocab);
      });
    };
  }

  /** Greedy (beams = 1) or beam-search answers, as token ids; `maxLen` is capped by the model's logits length. */
  async generate(items: readonly ItemInputs[], opts: DecodeOptions): Promise<Hypothesis[]> {
    const maxLen = Math.min(opts.maxLen ?? 10, this.logitsLen);
    return decode(items.length, this.nextTokenLogits(items, opts), { ...opts, maxLen });
  }

  /** Closed-set answers: the index of the best of `candidates` per item (see `rankCandidates`). */
  async rank(items: readonly ItemInputs[], candidates: readonly (readonly number[])[], special: SpecialTokens) {
    return rankCandidates(items.length, candidates, async (rows) => {
      const full = rows.map((r) => [special.bos, ...r.answer, special.eos]);
      const logits = await this.forward(items, rows.map((r, i) => ({ item: r.item, answer: this.answerRow(full[i]!, special.pad) })));
      return Float64Array.from(full, (seq, i) => {
        let s = 0;
        for (let t = 1; t < seq.length; t++) {
          if (t - 1 >= this.logitsLen) throw new Error(`candidate answer of ${seq.length - 2} tokens does not fit the model's answer length`);
          s += logSoftmax(logits[i]!.subarray((t - 1) * this.vocab, t * this.vocab))[seq[t]!]!;
        }
        return s;
      });
    });
  }

  destroy(): void {
    this.executor.destroy();
    this.head?.executor.destroy();
  }
}
