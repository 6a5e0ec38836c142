/**
 * Decoding as pure search over any next-token function: greedy, beam search as Hugging
 * Face's `generate` does it, and closed-set ranking of candidate answers. Nothing here runs
 * a model: `Generator` (runtime/generate.ts) supplies `NextTokenLogits` from a compiled plan,
 * and the tests check the search against an exhaustive one on a fake model.
 */
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
  return state.map((s) => ({
    tokens: s.tokens,
    logProb: s.logProb,
    score: scoreOf(s.logProb, s.tokens.length, lengthPenalty),
    finished: s.finished,
  }));
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
  const st = Array.from({ length: items }, () => ({
    beams: [{ tokens: [], logProb: 0 }] as Beam[],
    finished: new Finished(K),
    done: false,
  }));
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
          s.finished.add({
            tokens: prev.tokens.slice(),
            logProb: c.logProb,
            score: scoreOf(c.logProb, prev.tokens.length, lengthPenalty),
            finished: true,
          });
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
    if (!s.done)
      for (const b of s.beams)
        s.finished.add({
          tokens: b.tokens,
          logProb: b.logProb,
          score: scoreOf(b.logProb, b.tokens.length, lengthPenalty),
          finished: false,
        });
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
export async function rankCandidates(
  items: number,
  candidates: readonly (readonly number[])[],
  score: SequenceLogProbs,
): Promise<{ best: number; scores: Float64Array }[]> {
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
