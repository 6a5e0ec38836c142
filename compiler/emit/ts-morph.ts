/**
 * ts-morph, loaded on first use. It pulls in the TypeScript compiler (~9 MB of JavaScript,
 * ~0.4 s to load), which only `milec compile -o` and `milec new method` need; a static import
 * would put that cost on every `milec` start.
 */
import { createRequire } from 'node:module';
import type * as TsMorph from 'ts-morph';

let loaded: typeof TsMorph | undefined;

export function tsMorph(): typeof TsMorph {
  loaded ??= createRequire(import.meta.url)('ts-morph') as typeof TsMorph;
  return loaded;
}

/** An in-memory project with the formatting every generated file uses. */
export function newProject(): TsMorph.Project {
  const tm = tsMorph();
  return new tm.Project({
    useInMemoryFileSystem: true,
    manipulationSettings: { indentationText: tm.IndentationText.TwoSpaces, quoteKind: tm.QuoteKind.Single, useTrailingCommas: true },
  });
}
