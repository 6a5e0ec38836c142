/**
 * The two spellings of a parameter (or module) path, and the one users see.
 *
 * Inside the compiler, paths follow `.mile`'s selector syntax: a repeated child's index is
 * written in brackets (`blocks[0].attn.query.weight`), as the instance tree, tune selectors
 * and diagnostics about the `.mile` program write it. Everything a user handles as data —
 * files written by milec, peft keys, the typed module of `milec compile -o`, `milec plan` —
 * spells a path the way PyTorch's `state_dict` does, with dotted indices
 * (`blocks.0.attn.query.weight`). Input accepts either.
 *
 * The two are one-to-one: a `.mile` name never starts with a digit, so a path segment made
 * of digits only is always an index.
 */

/** The user-facing spelling: `blocks[0].attn.query` → `blocks.0.attn.query`. */
export function displayPath(path: string): string {
  return path.replace(/\[(\d+)\]/g, '.$1');
}

/** The compiler's spelling, from either: `blocks.0.attn.query` → `blocks[0].attn.query`. */
export function internalPath(path: string): string {
  return path.replace(/\.(\d+)(?=\.|\[|$)/g, '[$1]');
}

/** The key of `table` that names the same path as `path` in either spelling, if any. */
export function findPath(table: Readonly<Record<string, unknown>>, path: string): string | undefined {
  for (const key of [path, displayPath(path), internalPath(path)]) if (Object.hasOwn(table, key)) return key;
  return undefined;
}
