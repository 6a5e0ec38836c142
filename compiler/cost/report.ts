/**
 * `milec plan`: what a tune trains and what training it will cost, computed from the front
 * end alone (no specialisation, no buffers, no GPU). Pure and synchronous.
 *
 * - Sites: every selector match of the tune (`TuneReport.matches`), with the method options
 *   resolved at those sites.
 * - Parameters: total, trainable and PEFT-added counts, per top-level module and per method.
 *   milec's trainable percentage is trainable / (base + added) × 100; HF peft's
 *   `print_trainable_parameters` also counts the trainable copy that `modules_to_save` keeps
 *   beside each original module: trainable / (base + added + copies) × 100, the copies being
 *   the trainable parameters of the model itself (`peftTrainablePercent`).
 * - Memory at a batch size: weights (every parameter, f32), gradients (trainable parameters),
 *   AdamW state (m and v per trainable parameter), and the activations kept for backward:
 *   the realized forward nodes whose values the backward pass reads, sized by walking the
 *   symbolic training graph with its symbolic sizes bound. Inputs are reported apart.
 *
 * The estimate is what must be resident at the turn from forward to backward; the
 * transient temporaries of one backward op come on top (`milec compile --emit plan` gives
 * the exact allocation of the buffer planner).
 */
import { bindShape, elementCount, type Shape } from '../../core/dim.ts';
import { displayPath } from '../../core/param-path.ts';
import type { Graph, NodeId } from '../ir/graph.ts';
import { NodeStorage, isLeaf } from '../fuse/storage.ts';
import type { FrontEnd } from '../pipeline.ts';
import { optimizerText, type TuneOptimizer } from '../peft/tune.ts';
import { walkInstances, type Instance } from '../sema/instance.ts';

export interface SiteGroup {
  /** A PEFT method name, or `train` / `freeze`. */
  readonly method: string;
  /** The method's options as resolved at these sites (PEFT methods only). */
  readonly options?: Readonly<Record<string, number | boolean>>;
  readonly selector: string;
  /** Instance paths (methods) or parameter paths (`train`/`freeze`), in tree order, spelled for users (`blocks.0.attn.query`). */
  readonly paths: readonly string[];
}

export interface ModuleParams {
  /** A top-level child of the model, a parameter of the model itself, or a shared group. */
  readonly name: string;
  readonly totalParams: number;
  readonly trainableParams: number;
  /** Parameters PEFT methods added under this module. */
  readonly addedParams: number;
}

export interface MethodAdded {
  readonly method: string;
  readonly params: number;
  /** Parameter tensors it added. */
  readonly tensors: number;
}

export interface MemoryEstimate {
  readonly batch: number;
  /** Every symbolic size as bound (`B` and any `--dim`). */
  readonly bindings: Readonly<Record<string, number>>;
  readonly weightsBytes: number;
  readonly gradientsBytes: number;
  readonly optimizerBytes: number;
  readonly activationsBytes: number;
  /** Number of forward tensors the backward pass reads. */
  readonly activationTensors: number;
  readonly inputsBytes: number;
  /** weights + gradients + optimizer + activations + inputs. */
  readonly peakBytes: number;
}

export interface TrainingPlan {
  readonly model: string;
  readonly tune: string | null;
  readonly totalParams: number;
  readonly trainableParams: number;
  /** Parameters of the model itself (total − added). */
  readonly baseParams: number;
  readonly addedParams: number;
  /** trainable / (base + added) × 100. */
  readonly trainablePercent: number;
  /** Trainable parameters of the model itself: peft's `modules_to_save` copies, which it counts beside the originals. */
  readonly savedCopyParams: number;
  /** trainable / (base + added + copies) × 100, as HF peft's `print_trainable_parameters` counts it. */
  readonly peftTrainablePercent: number;
  readonly addedByMethod: readonly MethodAdded[];
  readonly sites: readonly SiteGroup[];
  readonly modules: readonly ModuleParams[];
  readonly memory: MemoryEstimate;
  /** The tune's `optimizer { ... }` settings; absent without the block. */
  readonly optimizer?: TuneOptimizer;
}

const F32 = 4;

const count = (shape: Shape): number => elementCount(shape);

/** The top-level module a parameter path belongs to: `blocks[3].attn.query.weight` → `blocks`. */
export function topLevelOf(path: string): string {
  const m = /^[^.[]+/.exec(path);
  return m ? m[0] : path;
}

export interface PlanOptions {
  /** Sizes for every symbolic dimension of the training graph, `B` included. */
  readonly bindings: Readonly<Record<string, number>>;
}

/** Builds the report. `fe` must be a training front end (`training: true`). */
export function planTraining(fe: FrontEnd, opts: PlanOptions): TrainingPlan {
  const g = fe.train;
  if (!g) throw new Error('planTraining needs the training graph: compile the front end with training = true');

  let total = 0;
  let trainable = 0;
  let added = 0;
  let copies = 0;
  const modules = new Map<string, { totalParams: number; trainableParams: number; addedParams: number }>();
  const byMethod = new Map<string, { params: number; tensors: number }>();
  for (const p of g.params) {
    const n = count(p.shape);
    total += n;
    if (p.trainable) trainable += n;
    const name = topLevelOf(p.name);
    let m = modules.get(name);
    if (!m) modules.set(name, (m = { totalParams: 0, trainableParams: 0, addedParams: 0 }));
    m.totalParams += n;
    if (p.trainable) m.trainableParams += n;
    if (p.trainable && p.addedBy === undefined) copies += n;
    if (p.addedBy !== undefined) {
      added += n;
      m.addedParams += n;
      const a = byMethod.get(p.addedBy) ?? { params: 0, tensors: 0 };
      a.params += n;
      a.tensors += 1;
      byMethod.set(p.addedBy, a);
    }
  }

  const byPath = new Map<string, Instance>();
  for (const i of walkInstances(fe.model.root)) byPath.set(i.path, i);
  const sites: SiteGroup[] = fe.tune.matches.map((m) => {
    if (m.method === 'train' || m.method === 'freeze') return { method: m.method, selector: m.selector, paths: m.sites.map(displayPath) };
    const at = m.sites
      .map((s) => fe.tune.attachments.bySite.get(byPath.get(s)!)?.find((a) => a.method === m.method))
      .find((a) => a !== undefined);
    return { method: m.method, ...(at ? { options: { ...at.options } } : {}), selector: m.selector, paths: m.sites.map(displayPath) };
  });

  return {
    model: fe.model.name,
    tune: fe.tune.tune ?? null,
    totalParams: total,
    trainableParams: trainable,
    baseParams: total - added,
    addedParams: added,
    trainablePercent: total === 0 ? 0 : (100 * trainable) / total,
    savedCopyParams: copies,
    peftTrainablePercent: total === 0 ? 0 : (100 * trainable) / (total + copies),
    addedByMethod: [...byMethod].map(([method, a]) => ({ method, ...a })),
    sites,
    modules: [...modules].map(([name, m]) => ({ name, ...m })),
    memory: estimateMemory(g, total, trainable, opts.bindings),
    ...(fe.tune.optimizer ? { optimizer: fe.tune.optimizer } : {}),
  };
}

/**
 * The forward tensors the backward pass reads. Forward nodes are those the graph's outputs
 * depend on; backward nodes are the rest of what the gradients depend on. A source of a
 * backward node that is a forward node is kept from forward to backward, counted once at
 * its storage (a reshape shares its source's buffer, a literal has none, and parameters and
 * inputs are counted apart).
 */
export function savedForBackward(g: Graph): NodeId[] {
  const n = g.nodes.length;
  const mark = (roots: readonly NodeId[], flag: Uint8Array, skip?: Uint8Array) => {
    const stack = [...roots];
    while (stack.length) {
      const id = stack.pop()!;
      if (flag[id] || skip?.[id]) continue;
      flag[id] = 1;
      for (const s of g.nodes[id]!.src) if (!flag[s] && !skip?.[s]) stack.push(s);
    }
  };
  const forward = new Uint8Array(n);
  mark(Object.values(g.outputs), forward);
  const backward = new Uint8Array(n);
  mark(Object.values(g.grads), backward, forward);
  const saved = new Set<NodeId>();
  const storage = new NodeStorage(g);
  for (let id = 0; id < n; id++) {
    if (!backward[id]) continue;
    for (const s of g.nodes[id]!.src) {
      if (!forward[s]) continue;
      const r = storage.resolve(s);
      if (r.kind === 'buffer' && !isLeaf(g.nodes[r.node]!)) saved.add(r.node);
    }
  }
  return [...saved].sort((a, b) => a - b);
}

function estimateMemory(g: Graph, total: number, trainable: number, bindings: Readonly<Record<string, number>>): MemoryEstimate {
  const bytes = (shape: Shape) => Math.max(F32, elementCount(bindShape(shape, bindings)) * F32);
  const saved = savedForBackward(g);
  const activationsBytes = saved.reduce((a, id) => a + bytes(g.nodes[id]!.shape), 0);
  const inputsBytes = g.inputs.reduce((a, i) => a + bytes(i.shape), 0);
  const weightsBytes = F32 * total;
  const gradientsBytes = F32 * trainable;
  const optimizerBytes = 2 * F32 * trainable;
  return {
    batch: bindings.B ?? 1,
    bindings: { ...bindings },
    weightsBytes,
    gradientsBytes,
    optimizerBytes,
    activationsBytes,
    activationTensors: saved.length,
    inputsBytes,
    peakBytes: weightsBytes + gradientsBytes + optimizerBytes + activationsBytes + inputsBytes,
  };
}

// ------------------------------------------------------------------------------ text form

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`;
}

const int = (n: number) => n.toLocaleString('en-US');

/** How many paths of a site group the text form lists before "… N more". */
export const SHOWN_PATHS = 4;

function optionsText(o: Readonly<Record<string, number | boolean>> | undefined): string {
  if (!o) return '';
  const parts = Object.entries(o)
    .filter(([, v]) => v !== false)
    .map(([k, v]) => (v === true ? k : `${k}=${v}`));
  return parts.length ? ` ${parts.join(' ')}` : '';
}

/** The human-readable report of `milec plan`. */
export function printTrainingPlan(p: TrainingPlan, source?: string): string {
  const out: string[] = [];
  out.push(`${p.model}${p.tune ? ` / tune ${p.tune}` : ' (full fine-tuning)'}${source ? `  (${source})` : ''}`);
  out.push('');
  out.push('sites:');
  if (p.sites.length === 0) out.push('  (none: every parameter trains)');
  for (const s of p.sites) {
    const isParams = s.method === 'train' || s.method === 'freeze';
    const noun = isParams ? (s.paths.length === 1 ? 'parameter' : 'parameters') : s.paths.length === 1 ? 'site' : 'sites';
    out.push(`  ${s.method}${optionsText(s.options)} on ${s.selector}: ${s.paths.length} ${noun}`);
    const shown = s.paths.slice(0, SHOWN_PATHS).join(', ');
    const more = s.paths.length - SHOWN_PATHS;
    out.push(`    ${shown}${more > 0 ? `, … ${more} more (--json lists all)` : ''}`);
  }
  out.push('');

  const rows: [string, string, string, string][] = [['parameters', 'total', 'trainable', 'added']];
  for (const m of p.modules)
    rows.push([`  ${m.name}`, int(m.totalParams), int(m.trainableParams), m.addedParams ? int(m.addedParams) : '']);
  rows.push(['  total', int(p.totalParams), int(p.trainableParams), p.addedParams ? int(p.addedParams) : '']);
  const w = [0, 1, 2, 3].map((c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const r of rows)
    out.push(`${r[0].padEnd(w[0]!)}  ${r[1].padStart(w[1]!)}  ${r[2].padStart(w[2]!)}  ${r[3].padStart(w[3]!)}`.trimEnd());
  out.push(
    `trainable: ${int(p.trainableParams)} of ${int(p.totalParams)} (${p.trainablePercent.toFixed(4)}% = trainable / (base ${int(p.baseParams)} + added ${int(p.addedParams)}))`,
  );
  if (p.savedCopyParams)
    out.push(
      `peft counts: ${int(p.trainableParams)} of ${int(p.totalParams + p.savedCopyParams)} (${p.peftTrainablePercent.toFixed(4)}%: modules_to_save counted twice, the original and its trainable copy of ${int(p.savedCopyParams)})`,
    );
  for (const a of p.addedByMethod) out.push(`added by ${a.method}: ${int(a.params)} parameters in ${a.tensors} tensors`);
  if (p.optimizer)
    out.push(`optimizer: ${optimizerText(p.optimizer)} (the tune's; --lr, --weight-decay, --schedule and --warmup override)`);
  out.push('');

  const m = p.memory;
  const bound = Object.entries(m.bindings)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
  out.push(`estimated training memory (${bound}; f32, AdamW):`);
  const mem: [string, number, string][] = [
    ['weights', m.weightsBytes, `all ${int(p.totalParams)} parameters`],
    ['gradients', m.gradientsBytes, `${int(p.trainableParams)} trainable parameters`],
    ['optimizer', m.optimizerBytes, 'AdamW m and v per trainable parameter'],
    ['activations', m.activationsBytes, `${m.activationTensors} forward tensors kept for backward`],
    ['inputs', m.inputsBytes, 'one batch'],
    ['peak', m.peakBytes, 'sum of the above'],
  ];
  const mw = Math.max(...mem.map((r) => formatBytes(r[1]).length));
  for (const [k, v, what] of mem) out.push(`  ${k.padEnd(11)} ${formatBytes(v).padStart(mw)}  ${what}`);
  return out.join('\n') + '\n';
}
