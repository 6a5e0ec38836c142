/**
 * The PEFT method interface. A method is a graph rewrite at typed sites: it declares the
 * module types it attaches to, its options, the parameters it adds at each site, and how
 * a call of the site is rewritten in terms of the original call (`base`).
 * Built-in methods and TypeScript plugins implement this same interface.
 */
import type { InitSpec, NodeId } from '../ir/graph.ts';
import type { MethodOptions, RewriteContext } from '../lower/rewrite.ts';
import type { Attachment, Instance, Scalar, SharedParams } from '../sema/instance.ts';

export interface MethodOption {
  readonly type: 'int' | 'float' | 'bool';
  readonly default: number | boolean;
  readonly doc: string;
  /** Returns an error message for an invalid value. */
  readonly check?: (v: number | boolean) => string | undefined;
  /** A tune must give this option (`default` is then unused). */
  readonly required?: boolean;
}

export interface AddedParam {
  readonly name: string;
  readonly shape: readonly number[];
  readonly init: InitSpec;
}

export interface PeftMethod {
  readonly name: string;
  readonly summary: string;
  /** Module types (site types) this method attaches to; `'*'` means any type that has the `hooks`. */
  readonly sites: readonly string[];
  readonly options: Readonly<Record<string, MethodOption>>;
  /**
   * Parameters added at one site, given the site's module arguments and the methods already
   * attached there (earlier tune items). Returns a message on a site it cannot use.
   */
  params(site: Instance, options: MethodOptions, attached: readonly Attachment[]): readonly AddedParam[] | string;
  /** Parameters created once per application and shared by all its sites (in site order). */
  shared?(sites: readonly Instance[], options: MethodOptions): readonly AddedParam[] | string;
  /** `hook` points the site's forward must have (e.g. prefix tuning needs `keys` and `values`). */
  readonly hooks?: readonly string[];
  /**
   * Values for int `hook NAME(…)` points of the modules that enclose the method's sites: for
   * each site, the nearest instance strictly above it whose forward marks `hook NAME(…)` reads
   * `value(options)` there instead of the marked value. Every site (of any method) that reaches
   * one instance's hook must give it the same value, else the tune is an error. `doc` says what
   * the value means; it is the help of those diagnostics, and of errors its value causes in
   * that instance's forward. Prefix tuning sets `past_length`, where std.bert's `BertModel`
   * starts its position ids (Hugging Face's `past_key_values_length`).
   */
  readonly enclosingHooks?: Readonly<Record<string, EnclosingHook>>;
  /** Makes the site's own parameters trainable (LN-tuning) instead of adding any. */
  readonly trainsSite?: boolean;
  rewrite(ctx: RewriteContext): NodeId;
  /** How Hugging Face peft saves this method (`runtime/peft-format.ts`); without it, tunes using it are saved in milec's own format. */
  readonly peftFormat?: PeftFormat;
}

/** A value a method gives an int `hook NAME(…)` point of the modules enclosing its sites. */
export interface EnclosingHook {
  value(options: MethodOptions): number;
  readonly doc: string;
}

/** One site of a tune that uses a single method, as the peft save format sees it. */
export interface PeftSite {
  /**
   * peft's name of the site's module: PyTorch's module path (`blocks.0.attn.query`), or the
   * checkpoint's name for it when the backbone came from `--weights` through a name mapping.
   */
  readonly module: string;
  readonly attachment: Attachment;
  /** The site's instance (its arguments and own parameters). */
  readonly instance: Instance;
}

/** A tune that uses one method, when it is saved in peft's format. */
export interface PeftTune {
  /** Every site of the method, in tree order. */
  readonly sites: readonly PeftSite[];
  /** The distinct target modules (`target_modules`), in tree order. */
  readonly targets: readonly string[];
  readonly shared: readonly SharedParams[];
}

/** Where a trainable parameter goes in `adapter_model.safetensors`. */
export interface PeftKey {
  /** The milec parameter path (`blocks[0].attn.query.lora_A`). */
  readonly path: string;
  /** The full safetensors key: `base_model.model.<module>.<name>` for a site's, or top-level (`prompt_embeddings`). */
  readonly key: string;
  readonly shape: readonly number[];
}

/**
 * A method's declaration of HF peft's format: its `peft_type`, the `adapter_config.json`
 * fields it adds, and its tensors' keys. The common fields (base model, task type,
 * `modules_to_save`, …) and the key prefix are the format's.
 */
export interface PeftFormat {
  /** peft's `peft_type`: LORA, IA3, PROMPT_TUNING, PREFIX_TUNING, … */
  readonly peftType: string;
  /** Config fields that a saved adapter must match to load into a tune (besides `peft_type`). */
  readonly checkedFields: readonly string[];
  /** Why this tune has no peft equivalent (it is then saved in milec's format), or undefined. */
  unsupported?(tune: PeftTune): string | undefined;
  /** The config fields after the common ones, in peft's order. */
  config(tune: PeftTune): Record<string, unknown>;
  /**
   * The key and shape of every parameter the method saves (those it added, or with `trainsSite`
   * the site's own). `moduleKey(site)` is `base_model.model.<module>`.
   */
  keys(tune: PeftTune, moduleKey: (site: PeftSite) => string): readonly PeftKey[];
  /**
   * Tensors peft saves that are computed from the parameters instead of being them (prefix
   * tuning's table through its encoder). Their parameters are then kept beside peft's file
   * in milec's own (`runtime/peft-format.ts : SIDE_FILE`), for resuming.
   */
  derived?(tune: PeftTune): readonly PeftDerived[];
}

/** A tensor peft saves, computed from parameters on the CPU. */
export interface PeftDerived {
  readonly key: string;
  readonly shape: readonly number[];
  /** The milec parameter paths it is computed from, in the order `compute` takes them. */
  readonly params: readonly string[];
  /** The tensor (row-major, `shape`) from the parameters' values. */
  compute(values: readonly Float32Array[]): Float32Array;
  /** A hint added to the error when a folder holds this tensor without its parameters. */
  readonly withoutParams?: string;
}

/** The parameter `name` an attachment added, if it did. */
export function paramOf(attachment: Attachment, name: string): Attachment['params'][number] | undefined {
  return attachment.params.find((p) => p.name === name);
}

export function siteInt(site: Instance, name: string): number | undefined {
  const v: Scalar | undefined = site.args.get(name);
  return v && v.kind === 'int' && typeof v.v === 'number' ? v.v : undefined;
}

export type { MethodOptions, RewriteContext } from '../lower/rewrite.ts';
