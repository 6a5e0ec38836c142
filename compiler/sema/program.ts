/**
 * A Program is every declaration visible to a compilation: the user's file plus the
 * standard-library files it `use`s, with their source text for diagnostics.
 */
import type { MethodDecl, MileFile, ModelDecl, ModuleDecl, TuneDecl } from '../../grammar/ast.ts';

export interface Program {
  readonly files: readonly MileFile[];
  readonly modules: ReadonlyMap<string, ModuleDecl>;
  readonly models: ReadonlyMap<string, ModelDecl>;
  /** Tunes of the main file, in source order. */
  readonly tunes: readonly TuneDecl[];
  /** PEFT methods written in `.mile`, from every loaded file (`compiler/peft/mile-method.ts`). */
  readonly methods: ReadonlyMap<string, MethodDecl>;
  readonly sources: ReadonlyMap<string, string>;
}
