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

/** Edit distance counting an adjacent transposition as one edit (optimal string alignment). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 0; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
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

export function suggestion(name: string, candidates: Iterable<string>, otherwise?: string): { help?: string } {
  const s = didYouMean(name, candidates);
  if (s !== undefined) return { help: `did you mean \`${s}\`?` };
  return otherwise === undefined ? {} : { help: otherwise };
}
