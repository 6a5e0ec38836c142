/**
 * Resolves `--data SPEC` to a dataset that feeds a model's inputs. Today: `synthetic`,
 * the built-in keyword task, which reads `vocab`, `seq` and `classes` from the model's
 * config and feeds inputs `tokens: i32[B, seq]` and `labels: i32[B]`.
 */
import type { ElaboratedModel, Scalar } from '../../compiler/sema/instance.ts';
import { type Batch, syntheticSequenceTask, type Split } from './synthetic.ts';

export interface Dataset {
  readonly name: string;
  readonly describe: string;
  batch(step: number, batchSize: number, split: Split): Batch;
}

export class DataError extends Error {}

function configInt(model: ElaboratedModel, key: string): number {
  const v: Scalar | undefined = model.config.get(key);
  if (!v || v.kind !== 'int' || typeof v.v !== 'number') {
    throw new DataError(`--data synthetic needs an integer \`${key}\` in the config of \`${model.name}\``);
  }
  return v.v;
}

export function openDataset(spec: string, model: ElaboratedModel, seed: number): Dataset {
  const [kind] = spec.split(':', 1);
  switch (kind) {
    case 'synthetic': {
      const want = { tokens: 'i32', labels: 'i32' };
      for (const [name, dtype] of Object.entries(want)) {
        const i = model.inputs.find((x) => x.name === name);
        if (!i || i.dtype !== dtype) throw new DataError(`--data synthetic feeds inputs \`tokens\` and \`labels\` (i32); \`${model.name}\` has ${model.inputs.map((x) => `\`${x.name}\``).join(', ')}`);
      }
      return syntheticSequenceTask({ vocab: configInt(model, 'vocab'), seq: configInt(model, 'seq'), classes: configInt(model, 'classes'), seed });
    }
    default:
      throw new DataError(`unknown dataset \`${spec}\`; available: synthetic`);
  }
}
