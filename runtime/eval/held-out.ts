/**
 * The held-out evaluation at the end of `milec train`: the inference graph (no dropout) over
 * `batches` batches of the dataset's eval split, reporting the mean loss and, for a
 * classifier (outputs `logits` [B, classes], input `labels`), the accuracy.
 */
import type { Graph } from '../../compiler/ir/graph.ts';
import type { Bindings } from '../../compiler/ir/specialize.ts';
import type { Dataset } from '../data/index.ts';
import type { GpuContext } from '../device.ts';
import { Session } from '../session.ts';
import type { EvalProgress } from './vqa.ts';

export interface HeldOutOptions {
  readonly bindings: Bindings;
  readonly batch: number;
  /** Batches of the eval split; 0 skips the evaluation (nothing is compiled). */
  readonly batches: number;
  /** Batches evaluated so far, of all. */
  readonly onProgress?: EvalProgress;
}

/** Accuracy and mean loss of an inference graph with `logits` and `loss` outputs (each undefined when the graph lacks it, or with no batches). */
export async function evaluateHeldOut(
  ctx: GpuContext,
  graph: Graph,
  params: ReadonlyMap<string, Float32Array>,
  data: Dataset,
  o: HeldOutOptions,
): Promise<{ accuracy?: number; loss?: number }> {
  if (o.batches === 0) return {};
  const session = await Session.create(ctx, graph, { bindings: o.bindings, params });
  try {
    const g = session.graph;
    const read = ['logits', 'loss'].filter((n) => g.outputs[n] !== undefined);
    const classifies = g.outputs.logits !== undefined && g.inputs.some((i) => i.name === 'labels');
    let correct = 0;
    let total = 0;
    let lossSum = 0;
    for (let s = 0; s < o.batches; s++) {
      const batch = data.batch(s, o.batch, 'eval');
      session.feed(batch.inputs, { from: `dataset ${data.name}` });
      const out = await session.run(read);
      if (out.loss) lossSum += out.loss[0]!;
      if (classifies) {
        const l = out.logits!;
        const labels = batch.inputs.labels as Int32Array;
        const classes = l.length / labels.length;
        for (let r = 0; r < labels.length; r++) {
          let best = 0;
          for (let c = 1; c < classes; c++) if (l[r * classes + c]! > l[r * classes + best]!) best = c;
          if (best === labels[r]) correct++;
          total++;
        }
      }
      o.onProgress?.(s + 1, o.batches);
    }
    return { accuracy: total ? correct / total : undefined, loss: g.outputs.loss !== undefined ? lossSum / o.batches : undefined };
  } finally {
    session.destroy();
  }
}
