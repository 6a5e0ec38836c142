/**
 * A Program is every declaration visible to a compilation: the user's file plus the
 * standard-library files it `use`s, with their source text for diagnostics.
 */
import type { MileFile, ModelDecl, ModuleDecl, TuneDecl } from '../../grammar/ast.ts';

export interface Program {
  readonly files: readonly MileFile[];
  readonly modules: ReadonlyMap<string, ModuleDecl>;
  readonly models: ReadonlyMap<string, ModelDecl>;
  /** Tunes of the main file, in source order. */
  readonly tunes: readonly TuneDecl[];
  readonly sources: ReadonlyMap<string, string>;
}
