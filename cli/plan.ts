/**
 * `milec plan`: the sites a tune matches, parameter counts and a training-memory estimate,
 * from the front end alone (training graph, symbolic sizes): no GPU, no buffers.
 */
import type { MethodRegistry } from '../compiler/peft/registry.ts';
import type { ConfigOverrides } from '../compiler/sema/elaborate.ts';
import { planTraining, printTrainingPlan } from '../compiler/cost/report.ts';
import { compileFile, report } from './compile.ts';
import { boundSizes } from './errors.ts';

export interface PlanCliOptions {
  tune: string;
  model?: string;
  /** `--config name=value`: config values replacing the model's own. */
  config?: ConfigOverrides;
  batch: number;
  dim?: string[];
  json?: boolean;
  /** PEFT methods of `--plugin` files, with the built-ins (built-ins only when absent). */
  registry?: MethodRegistry;
}

export function planCommand(file: string, o: PlanCliOptions): number {
  const r = compileFile(file, o, true);
  if (report(r)) return 1;
  const fe = r.result!;
  const bindings = boundSizes(fe.train!, { batch: o.batch, dims: o.dim });
  const plan = planTraining(fe, { bindings });
  process.stdout.write(o.json ? JSON.stringify({ source: file, ...plan }) + '\n' : printTrainingPlan(plan, file));
  return 0;
}
