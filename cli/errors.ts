/** The errors a command prints as one line, and the option checks that raise them. */
import { bindSizes } from '../compiler/backend.ts';
import type { Graph } from '../compiler/ir/graph.ts';

/** An error in the user's input or environment, printed as one line without a stack trace. */
export class UserError extends Error {}

/** A malformed command line that commander cannot catch (a bad `milec new method` name): exit code 2. */
export class UsageError extends Error {}

/** `compiler/backend.ts : bindSizes` for a command: the bindings, or a `UserError` naming what is malformed or unbound. */
export function boundSizes(graph: Graph, o: { readonly batch?: number; readonly dims?: readonly string[] }): Record<string, number> {
  const r = bindSizes(graph, o);
  if (r.error !== undefined) throw new UserError(r.error);
  return r.bindings;
}

type ErrorClass = abstract new (...args: never[]) => Error;

/**
 * `e` as a one-line `UserError` when it is one of `kinds` (the runtime's errors about the
 * user's files and data: `DataError`, `WeightsError`, …), else `e` itself: `throw asUserError(e, [...])`.
 */
export function asUserError(e: unknown, kinds: readonly ErrorClass[]): unknown {
  return e instanceof Error && kinds.some((k) => e instanceof k) ? new UserError(e.message) : e;
}
