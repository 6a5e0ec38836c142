/** Greedy and beam search (pure), against an exhaustive search on a tiny vocabulary. */
import { describe, expect, it } from 'vitest';
import { beamSearch, decode, greedyDecode, logSoftmax, type NextTokenLogits, rankCandidates } from '../../runtime/decode.ts';
import { mulberry32 } from '../../runtime/init.ts';

const V = 5;
const special = { bos: 1, eos: 3, pad: 0 };

/** A fake model: fixed random logits per (seed, item, prefix), spread wide enough that ties do not happen. */
function fakeModel(seed: number, calls: { rows: number }[] = []): NextTokenLogits {
  return async (rows) => {
    calls.push({ rows: rows.length });
    return rows.map((r) => {
      let h = seed >>> 0;
      for (const x of [r.item, ...r.prefix]) h = Math.imul(h ^ (x + 7), 2654435761) >>> 0;
      const rng = mulberry32(h);
      return Float64Array.from({ length: V }, () => 4 * rng() - 2);
    });
  };
}

/** Every answer the search can produce, scored as it scores them; the best one. */
async function exhaustive(next: NextTokenLogits, item: number, maxLen: number, minLen: number, lp: number) {
  let best = { tokens: [] as number[], score: -Infinity };
  const visit = async (tokens: number[], logProb: number) => {
    const score = (s: number) => s / Math.pow(1 + tokens.length, lp);
    if (tokens.length === maxLen) {
      if (score(logProb) > best.score) best = { tokens, score: score(logProb) };
      return;
    }
    const l = logSoftmax((await next([{ item, prefix: [special.bos, ...tokens] }]))[0]!);
    for (let v = 0; v < V; v++) {
      if (v === special.eos) {
        if (tokens.length >= minLen && score(logProb + l[v]!) > best.score) best = { tokens, score: score(logProb + l[v]!) };
      } else await visit([...tokens, v], logProb + l[v]!);
    }
  };
  await visit([], 0);
  return best;
}

describe('beam search', () => {
  for (const lengthPenalty of [0, 1]) {
    for (const minLen of [0, 1, 2]) {
      it(`with beams = vocab^len finds the exhaustive argmax (lengthPenalty ${lengthPenalty}, minLen ${minLen})`, async () => {
        const maxLen = 3;
        for (const seed of [1, 2, 3, 4, 5, 6]) {
          const next = fakeModel(seed);
          const got = await beamSearch(3, next, { ...special, beams: V ** maxLen, maxLen, minLen, lengthPenalty });
          for (let item = 0; item < 3; item++) {
            const want = await exhaustive(next, item, maxLen, minLen, lengthPenalty);
            expect(got[item]![0]!.tokens, `seed ${seed} item ${item}`).toEqual(want.tokens);
            expect(got[item]![0]!.score).toBeCloseTo(want.score, 10);
          }
        }
      });
    }
  }

  it('with one beam equals greedy (plain sum of log-probs)', async () => {
    for (const seed of [11, 12, 13, 14, 15]) {
      const next = fakeModel(seed);
      const opts = { ...special, maxLen: 6, minLen: 1, lengthPenalty: 0 };
      const beam = await beamSearch(4, next, { ...opts, beams: 1 });
      const greedy = await greedyDecode(4, next, opts);
      expect(beam.map((h) => h[0]!.tokens)).toEqual(greedy.map((h) => h.tokens));
      beam.forEach((h, i) => expect(h[0]!.logProb).toBeCloseTo(greedy[i]!.logProb, 10));
    }
  });

  it('never scores below greedy, keeps K finished hypotheses best first, and batches all beams of all items per step', async () => {
    for (const seed of [21, 22, 23]) {
      const calls: { rows: number }[] = [];
      const next = fakeModel(seed, calls);
      const opts = { ...special, maxLen: 5, minLen: 1, lengthPenalty: 0, beams: 3 };
      const beam = await beamSearch(4, next, opts);
      const greedy = await greedyDecode(4, fakeModel(seed), opts);
      beam.forEach((hs, i) => {
        expect(hs.length).toBe(3);
        expect(hs[0]!.score).toBeGreaterThanOrEqual(greedy[i]!.score - 1e-12);
        for (let j = 1; j < hs.length; j++) expect(hs[j - 1]!.score).toBeGreaterThanOrEqual(hs[j]!.score);
        for (const h of hs) expect(h.tokens.length).toBeGreaterThanOrEqual(1);
      });
      // One call per step, at most items × beams rows.
      expect(calls.length).toBeLessThanOrEqual(5);
      for (const c of calls) expect(c.rows).toBeLessThanOrEqual(12);
    }
  });

  it('stops at [SEP], respects minLen and maxLen', async () => {
    // A model that always prefers [SEP], then token 2.
    const next: NextTokenLogits = async (rows) => rows.map(() => [0, 0, 5, 10, 0]);
    const g = await greedyDecode(2, next, { ...special, maxLen: 10, minLen: 1 });
    expect(g.map((h) => h.tokens)).toEqual([[2], [2]]);
    expect(g[0]!.finished).toBe(true);
    const b = await decode(1, next, { ...special, maxLen: 10, minLen: 2, beams: 3 });
    expect(b[0]!.tokens).toEqual([2, 2]);
    // A model that never says [SEP] is cut at maxLen.
    const never: NextTokenLogits = async (rows) => rows.map(() => [0, 0, 5, -50, 0]);
    const c = await decode(1, never, { ...special, maxLen: 4, beams: 2 });
    expect(c[0]!.tokens).toEqual([2, 2, 2, 2]);
    expect(c[0]!.finished).toBe(false);
  });
});

describe('rankCandidates', () => {
  it('picks the candidate with the highest summed log-probability', async () => {
    const table = [
      [-3, -1, -2],
      [-0.5, -4, -0.1],
    ];
    const got = await rankCandidates(2, [[5], [6, 7], [8]], async (rows) =>
      Float64Array.from(rows, (r) => table[r.item]![[[5], [6, 7], [8]].findIndex((c) => c.join() === r.answer.join())]!),
    );
    expect(got.map((g) => g.best)).toEqual([1, 2]);
  });
});
