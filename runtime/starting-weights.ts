/**
 * Which backbone weights a run starts from: `--weights` when given (`none`: the random initial
 * values of runtime/params.ts), else the model's own `weights { ... }` blocks
 * (compiler/sema/model-weights.ts), resolved relative to the `.mile` file that declares them.
 * The result is in `--weights` form (`PATH[@PREFIX],…` and one mapping per file), so loading,
 * checkpoint records and adapter configs treat both origins alike.
 */
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import type { ElaboratedModel } from '../compiler/sema/instance.ts';
import type { ModelWeights } from '../compiler/sema/model-weights.ts';
import { weightsMapping, WeightsError } from './weights.ts';

export interface StartingWeights {
  /** `PATH[@PREFIX],…`, or undefined to start from the random initial values. */
  readonly weights: string | undefined;
  readonly weightsMap: string;
  /** Where the choice came from, for the start line and error messages. */
  readonly origin: 'command line' | 'model' | 'none';
  /** The model's blocks, when they were used. */
  readonly declared?: readonly ModelWeights[];
}

/** `--weights none` starts from random values even when the model names weights. */
export const NO_WEIGHTS = 'none';

export function startingWeights(cli: { readonly weights?: string; readonly weightsMap?: string }, model: ElaboratedModel): StartingWeights {
  if (cli.weights === NO_WEIGHTS) return { weights: undefined, weightsMap: 'none', origin: 'none' };
  if (cli.weights) return { weights: cli.weights, weightsMap: cli.weightsMap ?? 'none', origin: 'command line' };
  if (model.weights.length === 0) return { weights: undefined, weightsMap: 'none', origin: 'none' };
  const files = model.weights.map((w) => {
    const path = displayable(resolve(dirname(w.span.file), w.file));
    return w.prefix ? `${path}@${w.prefix}` : path;
  });
  // The mapping names are the runtime's: an unknown one fails here, naming the block.
  for (const w of model.weights) weightsMapping(w.map);
  const maps = model.weights.map((w) => w.map);
  return {
    weights: files.join(','),
    weightsMap: maps.every((m) => m === maps[0]) ? maps[0]! : maps.join(','),
    origin: 'model',
    declared: model.weights,
  };
}

/** A path relative to the working directory when it lies under it (what users typed), else absolute. */
function displayable(abs: string): string {
  const rel = relative(process.cwd(), abs);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : abs;
}

/** `file:line` of the model's first `weights` block, for messages about a default that fails to load. */
export function declaredAt(s: StartingWeights): string | undefined {
  const w = s.declared?.[0];
  return w ? `${w.span.file}:${w.span.line}` : undefined;
}

/** How the start line names weights the user did not pass: the model's own, and where they are declared. */
export function weightsNote(s: StartingWeights): string {
  return s.origin === 'model' ? ` (the model's weights, ${declaredAt(s)}; --weights none starts from random values)` : '';
}

/** A failure to load the model's own weights names the block that asked for them. */
export function withWeightsOrigin(e: unknown, s: StartingWeights): unknown {
  if (!(e instanceof WeightsError) || s.origin !== 'model') return e;
  return new WeightsError(
    `${e.message}\n  (the default weights of the model, declared at ${declaredAt(s)}; --weights none starts from random values)`,
  );
}
