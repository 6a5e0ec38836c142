/** Answer text in the normal form that exact-match accuracy and answer lists compare. */

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
