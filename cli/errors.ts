/** An error in the user's input or environment, printed as one line without a stack trace. */
export class UserError extends Error {}

/** Parses `--dim NAME=SIZE` options into bindings. */
export function parseDims(dims: readonly string[] | undefined, batch: number): Record<string, number> {
  const out: Record<string, number> = { B: batch };
  for (const d of dims ?? []) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(\d+)$/.exec(d);
    if (!m || Number(m[2]) <= 0) throw new UserError(`--dim expects NAME=SIZE with a positive size, got "${d}"`);
    out[m[1]!] = Number(m[2]);
  }
  return out;
}
