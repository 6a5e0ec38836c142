import type { Span } from './span.ts';

export type Severity = 'error' | 'warning' | 'note';

export interface Related {
  readonly span: Span;
  readonly message: string;
}

/** The one diagnostic type every stage reports. Stages never throw for user errors. */
export interface Diagnostic {
  readonly severity: Severity;
  /** Stable identifier, e.g. `parse`, `name`, `shape`, `type`, `tune`. */
  readonly code: string;
  readonly message: string;
  readonly span: Span;
  readonly help?: string;
  readonly related?: readonly Related[];
}

export function error(code: string, message: string, span: Span, extra?: { help?: string; related?: Related[] }): Diagnostic {
  return { severity: 'error', code, message, span, ...extra };
}

export function hasErrors(diags: readonly Diagnostic[]): boolean {
  return diags.some((d) => d.severity === 'error');
}

/**
 * Thrown only to unwind out of deep recursion once a user error has been recorded;
 * the stage entry point catches it and returns its diagnostics. Never escapes a stage.
 */
export class CompileError extends Error {
  constructor(readonly diagnostic: Diagnostic) {
    super(diagnostic.message);
  }
}

/** Levenshtein distance, for did-you-mean suggestions. */
export function editDistance(a: string, b: string): number {
  const prev = new Array<number>(b.length + 1);
  for (let j = 0; j <= b.length; j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + cost);
      diag = tmp;
    }
  }
  return prev[b.length]!;
}

/** The closest candidate within a typo's distance, or undefined. */
export function didYouMean(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDist = Infinity;
  const limit = Math.max(1, Math.floor(name.length / 3));
  for (const c of candidates) {
    const d = editDistance(name.toLowerCase(), c.toLowerCase());
    if (d < bestDist && d <= limit) {
      best = c;
      bestDist = d;
    }
  }
  return best;
}

export function suggestion(name: string, candidates: Iterable<string>): { help?: string } {
  const s = didYouMean(name, candidates);
  return s === undefined ? {} : { help: `did you mean \`${s}\`?` };
}
