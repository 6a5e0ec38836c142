/**
 * What `milec_peft.py` needs to attach a tune's methods to the generated modules: every site
 * (module path in PyTorch's spelling, site type, method, options, the parameters it adds), the
 * parameter groups shared by one application (prefix tuning's encoder, registered on the model
 * as a child named like milec's path prefix, `prefix_0`), and the ints methods set at enclosing
 * `hook` points (`past_length`). Methods without a PyTorch implementation in milec_peft.py are
 * an error at the tune item that applies them.
 */
import { CompileError, error } from '../../../core/diagnostic.ts';
import { displayPath } from '../../../core/param-path.ts';
import type { TuneReport } from '../../peft/tune.ts';
import type { ElaboratedModel } from '../../sema/instance.ts';
import { attachmentsAt, walkInstances } from '../../sema/instance.ts';

/** The methods milec_peft.py implements, with the site types each takes. */
export const TORCH_METHODS: Readonly<Record<string, readonly string[] | '*'>> = {
  lora: ['Linear', 'Conv2d'],
  dora: ['Linear'],
  ia3: ['Linear'],
  adapter: ['MultiHeadAttention', 'MLP', 'Attention', 'Mlp', 'Linear'],
  prompt: ['Embedding'],
  ln_tuning: ['LayerNorm'],
  prefix: '*',
  ptv2: '*',
};

export interface TorchParamSpec {
  readonly name: string;
  readonly shape: readonly number[];
}

export interface TorchSiteSpec {
  /** The site module's path, PyTorch's spelling (`text_decoder.bert.encoder.layer.0.attention.self`). */
  readonly module: string;
  readonly siteType: string;
  readonly method: string;
  readonly options: Readonly<Record<string, number | boolean>>;
  readonly params: readonly TorchParamSpec[];
  readonly siteIndex: number;
  readonly siteCount: number;
  /** The shared group this site reads (`prefix_0`), if any. */
  readonly shared?: string;
}

export interface TorchSharedSpec {
  readonly name: string;
  readonly method: string;
  readonly params: readonly TorchParamSpec[];
}

export interface TorchPeftSpec {
  /** In attach order at each site (the first attached is innermost), sites in tree order. */
  readonly sites: readonly TorchSiteSpec[];
  readonly shared: readonly TorchSharedSpec[];
  readonly hookValues: readonly { readonly module: string; readonly hook: string; readonly value: number }[];
}

/** The group name of a shared parameter path: `prefix_0.embedding` → `prefix_0`. */
function groupOf(path: string): string {
  return path.slice(0, path.indexOf('.'));
}

export function torchPeftSpec(model: ElaboratedModel, tune: TuneReport): TorchPeftSpec {
  const sites: TorchSiteSpec[] = [];
  const { attachments } = tune;
  for (const inst of walkInstances(model.root)) {
    for (const a of attachmentsAt(attachments, inst)) {
      const types = TORCH_METHODS[a.method];
      if (types === undefined)
        throw new CompileError(
          error('export', `cannot export to PyTorch: milec_peft.py has no implementation of the method \`${a.method}\``, a.span, {
            help: `exportable methods: ${Object.keys(TORCH_METHODS).join(', ')}`,
          }),
        );
      if (types !== '*' && !types.includes(inst.type))
        throw new CompileError(
          error('export', `cannot export to PyTorch: \`${a.method}\` on a \`${inst.type}\` site (\`${inst.path}\`)`, a.span, {
            help: `milec_peft.py implements \`${a.method}\` on ${types.join(', ')}`,
          }),
        );
      sites.push({
        module: displayPath(inst.path),
        siteType: inst.type,
        method: a.method,
        options: a.options,
        params: a.params.map((p) => ({ name: p.name, shape: p.shape })),
        siteIndex: a.siteIndex,
        siteCount: a.siteCount,
        ...(a.shared ? { shared: groupOf(a.shared.params[0]!.path) } : {}),
      });
    }
  }
  const shared = attachments.shared
    .filter((s) => s.params.length)
    .map((s) => ({
      name: groupOf(s.params[0]!.path),
      method: s.method,
      params: s.params.map((p) => ({ name: p.name, shape: p.shape })),
    }));
  const hookValues: { module: string; hook: string; value: number }[] = [];
  for (const [inst, hooks] of attachments.hookValues ?? new Map())
    for (const [hook, v] of hooks) hookValues.push({ module: displayPath(inst.path), hook, value: v.value });
  return { sites, shared, hookValues };
}
