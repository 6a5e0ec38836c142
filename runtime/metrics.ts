/**
 * VQA accuracy: exact match after normalisation, reported over OPEN items, CLOSED items and
 * all items (the MILE/MISS study's open, closed and global accuracy).
 */
import { normalizeAnswer } from './data/answers.ts';

export { normalizeAnswer };

export function exactMatch(prediction: string, answer: string): boolean {
  return normalizeAnswer(prediction) === normalizeAnswer(answer);
}

export type AnswerType = 'OPEN' | 'CLOSED';

export interface ScoredPrediction {
  /** OPEN or CLOSED (any case); any other value counts only towards the global accuracy. */
  readonly answerType: string;
  readonly answer: string;
  readonly prediction: string;
}

export interface VqaAccuracy {
  /** Fraction correct among OPEN items (null when there are none). */
  readonly open: number | null;
  readonly closed: number | null;
  /** Fraction correct among all items (null when there are none). */
  readonly global: number | null;
  readonly n: number;
  readonly nOpen: number;
  readonly nClosed: number;
}

/** Open, closed and global exact-match accuracy. */
export function vqaAccuracy(preds: readonly ScoredPrediction[]): VqaAccuracy {
  let n = 0,
    ok = 0,
    nOpen = 0,
    okOpen = 0,
    nClosed = 0,
    okClosed = 0;
  for (const p of preds) {
    const c = exactMatch(p.prediction, p.answer) ? 1 : 0;
    n++;
    ok += c;
    const t = p.answerType.toUpperCase();
    if (t === 'OPEN') {
      nOpen++;
      okOpen += c;
    } else if (t === 'CLOSED') {
      nClosed++;
      okClosed += c;
    }
  }
  const frac = (a: number, b: number) => (b ? a / b : null);
  return { open: frac(okOpen, nOpen), closed: frac(okClosed, nClosed), global: frac(ok, n), n, nOpen, nClosed };
}

/** "72.5%" or "n/a". */
export function formatAccuracy(x: number | null): string {
  return x === null ? 'n/a' : `${(100 * x).toFixed(1)}%`;
}

/** z for a two-sided 95 % interval: the 0.975 quantile of the standard normal. */
export const Z95 = 1.959963984540054;

/**
 * The Wilson score interval of a binomial proportion: `correct` successes of `n` trials, at
 * confidence `z` (default 95 %). Unlike the normal (Wald) interval it stays inside [0, 1] and
 * is not empty at 0 or n successes. Null when there are no trials.
 */
export function wilsonInterval(correct: number, n: number, z = Z95): [lo: number, hi: number] | null {
  if (n <= 0) return null;
  const p = correct / n;
  const z2 = z * z;
  const denom = 1 + z2 / n;
  const center = (p + z2 / (2 * n)) / denom;
  const half = (z / denom) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  // At 0 or n successes the bound is exactly 0 or 1; rounding would leave it a few ulps off.
  return [correct <= 0 ? 0 : Math.max(0, center - half), correct >= n ? 1 : Math.min(1, center + half)];
}
