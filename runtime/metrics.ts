/**
 * VQA accuracy: exact match after normalisation, reported over OPEN items, CLOSED items and
 * all items (the MILE/MISS study's open, closed and global accuracy).
 */

const ARTICLES = new Set(['a', 'an', 'the']);

/**
 * The normal form compared by `exactMatch`:
 *   1. Unicode NFKC, lower case;
 *   2. a comma or period between two digits is dropped ("1,000" -> "1000") and a period
 *      between digits is kept as a decimal point ("2.5" stays "2.5");
 *   3. apostrophes are removed ("don't" -> "dont"); every other punctuation or symbol
 *      character becomes a space ("x-ray" -> "x ray", "yes." -> "yes");
 *   4. the words a, an, the are removed;
 *   5. whitespace is collapsed and trimmed.
 */
export function normalizeAnswer(s: string): string {
  let t = s.normalize('NFKC').toLowerCase();
  t = t.replace(/(\d),(?=\d{3}\b)/g, '$1');
  t = t.replace(/(\d)\.(\d)/g, '$1\u0000$2');
  t = t.replace(/['\u2019\u2018`]/g, '');
  t = t.replace(/[\p{P}\p{S}]/gu, ' ');
  t = t.replace(/\u0000/g, '.');
  return t
    .split(/\s+/)
    .filter((w) => w && !ARTICLES.has(w))
    .join(' ');
}

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
  let n = 0, ok = 0, nOpen = 0, okOpen = 0, nClosed = 0, okClosed = 0;
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
