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
 * The search itself (`greedyDecode`, `beamSearch`, `rankCandidates`) is pure and lives in
 * runtime/decode.ts; `Generator` supplies its `NextTokenLogits` from a compiled plan,
 * batching the rows of every item (beams, or candidate answers) as rows of the batch,
 * B = items × beams per forward.
 */
import type { Backend } from '../compiler/backend.ts';
import type { Graph, InputInfo } from '../compiler/ir/graph.ts';
import { SEED_INPUT } from '../compiler/ir/graph.ts';
import { splitAtInput } from '../compiler/ir/split.ts';
import type { Bindings } from '../compiler/ir/specialize.ts';
import { elementCount } from '../core/dim.ts';
import {
  type DecodeOptions,
  decode,
  type Hypothesis,
  logSoftmax,
  type NextTokenLogits,
  rankCandidates,
  type SpecialTokens,
} from './decode.ts';
import type { GpuContext } from './device.ts';
import type { PlanExecutor } from './executor.ts';
import { type Feed, Session } from './session.ts';

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
  readonly session: Session;
  /** Items per head run. */
  readonly batch: number;
  /** The tail inputs it feeds (head outputs of the same name): values per item, dtype. */
  readonly boundary: readonly { readonly name: string; readonly per: number; readonly i32: boolean }[];
}

/** One item's head results, by boundary (tail input) name. */
type ItemState = Readonly<Record<string, Float32Array | Int32Array>>;

function numelOf(inp: InputInfo): number {
  return elementCount(inp.shape as number[]);
}

/**
 * The batch tensor of every input of `graph`, `batch` rows each: `rowValue(input, r)` gives
 * row r's values, checked to fill exactly one row, or undefined to leave it zero.
 */
function stackRows(
  graph: Graph,
  batch: number,
  rowValue: (input: InputInfo, row: number) => ArrayLike<number> | undefined,
  describeRow: (row: number) => string,
): Feed {
  const feed: Record<string, Float32Array | Int32Array> = {};
  for (const inp of graph.inputs) {
    const numel = numelOf(inp);
    const per = numel / batch;
    const buf = inp.dtype === 'i32' ? new Int32Array(numel) : new Float32Array(numel);
    for (let r = 0; r < batch; r++) {
      const v = rowValue(inp, r);
      if (!v) continue;
      if (v.length !== per) throw new Error(`input \`${inp.name}\` of ${describeRow(r)} has ${v.length} values, one row has ${per}`);
      buf.set(v, r * per);
    }
    feed[inp.name] = buf;
  }
  return feed;
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
    readonly session: Session,
    /** Rows per forward. */
    readonly batch: number,
    readonly vocab: number,
    /** Length of the answer input. */
    readonly answerLen: number,
    /** Positions of the logits output: the longest prefix that can be continued. */
    readonly logitsLen: number,
    private readonly logitsName: string,
    private readonly answerName: string,
    /** The towers, run once per item; undefined when the graph runs whole every step. */
    private readonly head: HeadPlan | undefined,
    /** Forwards (of the tail, or of the whole graph) run so far. */
    public forwards = 0,
    /** Head runs so far (each covers up to `headBatch` items). */
    public headForwards = 0,
  ) {}

  get backend(): Backend {
    return this.session.backend;
  }

  get executor(): PlanExecutor {
    return this.session.executor;
  }

  /** Whether the towers run once per item (split graph) rather than every step. */
  get split(): boolean {
    return this.head !== undefined;
  }

  static async create(
    ctx: GpuContext,
    graph: Graph,
    params: ReadonlyMap<string, Float32Array>,
    opts: GeneratorOptions,
  ): Promise<Generator> {
    const logitsName = opts.logits ?? 'logits';
    const answerName = opts.answer ?? 'answer';
    const id = graph.outputs[logitsName];
    if (id === undefined)
      throw new Error(
        `the model has no output \`${logitsName}\` (outputs: ${Object.keys(graph.outputs).join(', ') || 'none'}); declare the decoder logits with \`output ${logitsName} = …\``,
      );
    const ans = graph.inputs.find((i) => i.name === answerName);
    if (!ans || ans.dtype !== 'i32' || ans.shape.length !== 2)
      throw new Error(`the model needs an i32 [B, alen] input \`${answerName}\` for the answer prefix`);
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
      const session = await Session.create(ctx, s.head, { bindings: { ...opts.bindings, B: headBatch }, params });
      head = {
        session,
        batch: headBatch,
        boundary: s.boundary.map((b) => {
          const n = session.graph.nodes[session.graph.outputs[b.name]!]!;
          return { name: b.name, per: elementCount(n.shape as number[]) / headBatch, i32: n.dtype === 'i32' };
        }),
      };
    }
    let tail: Session;
    try {
      tail = await Session.create(ctx, tailGraph, { bindings: { ...opts.bindings, B: opts.batch }, params });
    } catch (e) {
      head?.session.destroy();
      throw e;
    }
    const g = tail.graph;
    const shape = g.nodes[g.outputs[logitsName]!]!.shape as number[];
    if (shape.length !== 3 || shape[0] !== opts.batch) {
      tail.destroy();
      head?.session.destroy();
      throw new Error(`output \`${logitsName}\` must be [B, T, vocab], got [${shape.join(', ')}]`);
    }
    const alen = g.inputs.find((i) => i.name === answerName)!.shape[1] as number;
    return new Generator(tail, opts.batch, shape[2]!, alen, Math.min(shape[1]!, alen), logitsName, answerName, head);
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
    for (let start = 0; start < list.length; start += h.batch) {
      const chunk = list.slice(start, start + h.batch);
      // Pad the last chunk with copies of its first item.
      const full = Array.from({ length: h.batch }, (_, r) => chunk[r] ?? chunk[0]!);
      const feed = stackRows(
        h.session.graph,
        h.batch,
        (inp, r) => {
          if (inp.name === SEED_INPUT) return undefined;
          const v = items[full[r]!]?.[inp.name];
          if (!v) throw new Error(`item ${full[r]} has no value for input \`${inp.name}\``);
          return v;
        },
        (r) => `item ${full[r]}`,
      );
      h.session.feed(feed);
      const got = await h.session.run(h.boundary.map((b) => b.name));
      this.headForwards++;
      chunk.forEach((item, i) => {
        const st: Record<string, Float32Array | Int32Array> = {};
        for (const b of h.boundary) {
          const v = got[b.name]!.slice(i * b.per, (i + 1) * b.per);
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
  async forward(
    items: readonly ItemInputs[],
    rows: readonly { item: number; answer: ArrayLike<number> }[],
    states?: readonly ItemState[],
  ): Promise<Float32Array[]> {
    if (this.head && !states)
      states = await this.itemStates(
        items,
        rows.map((r) => r.item),
      );
    const boundary = new Set(this.head?.boundary.map((b) => b.name));
    const g = this.session.graph;
    const out: Float32Array[] = [];
    const T = (g.nodes[g.outputs[this.logitsName]!]!.shape[1] as number) * this.vocab;
    for (let start = 0; start < rows.length; start += this.batch) {
      const chunk = rows.slice(start, start + this.batch);
      // Pad the last chunk with copies of its first row.
      const full = Array.from({ length: this.batch }, (_, r) => chunk[r] ?? chunk[0]!);
      const rowValue = (inp: InputInfo, i: number): ArrayLike<number> | undefined => {
        const r = full[i]!;
        if (inp.name === this.answerName) {
          const per = numelOf(inp) / this.batch;
          if (r.answer.length !== per) throw new Error(`answer row has ${r.answer.length} tokens, the model's answer length is ${per}`);
          return r.answer;
        }
        if (boundary.has(inp.name)) {
          const v = states?.[r.item]?.[inp.name];
          if (!v) throw new Error(`no head results for item ${r.item}`);
          return v;
        }
        if (inp.name === SEED_INPUT) return undefined;
        const v = items[r.item]?.[inp.name];
        if (!v) throw new Error(`item ${r.item} has no value for input \`${inp.name}\``);
        return v;
      };
      this.session.feed(stackRows(g, this.batch, rowValue, (i) => `item ${full[i]!.item}`));
      const got = (await this.session.run([this.logitsName]))[this.logitsName]!;
      this.forwards++;
      chunk.forEach((_, i) => out.push(got.subarray(i * T, (i + 1) * T)));
    }
    return out;
  }

  private answerRow(tokens: readonly number[], pad: number): Int32Array {
    if (tokens.length > this.answerLen)
      throw new Error(`answer of ${tokens.length} tokens does not fit the model's answer length ${this.answerLen}`);
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
      const logits = await this.forward(
        items,
        rows.map((r, i) => ({ item: r.item, answer: this.answerRow(full[i]!, special.pad) })),
      );
      return Float64Array.from(full, (seq, i) => {
        let s = 0;
        for (let t = 1; t < seq.length; t++) {
          if (t - 1 >= this.logitsLen)
            throw new Error(`candidate answer of ${seq.length - 2} tokens does not fit the model's answer length`);
          s += logSoftmax(logits[i]!.subarray((t - 1) * this.vocab, t * this.vocab))[seq[t]!]!;
        }
        return s;
      });
    });
  }

  destroy(): void {
    this.session.destroy();
    this.head?.session.destroy();
  }
}
