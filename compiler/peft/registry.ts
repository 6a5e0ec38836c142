/** The methods a tune can name: built-ins plus registered plugins. */
import type { PeftMethod } from './method.ts';
import { adapter } from './methods/adapter.ts';
import { dora } from './methods/dora.ts';
import { ia3 } from './methods/ia3.ts';
import { lnTuning } from './methods/ln_tuning.ts';
import { lora } from './methods/lora.ts';
import { prefix, ptv2 } from './methods/prefix.ts';
import { prompt } from './methods/prompt.ts';

export class MethodRegistry {
  private readonly methods = new Map<string, PeftMethod>();
  constructor(methods: readonly PeftMethod[] = builtinMethods) {
    for (const m of methods) this.register(m);
  }
  register(m: PeftMethod): void {
    if (this.methods.has(m.name)) throw new Error(`PEFT method \`${m.name}\` is registered twice`);
    this.methods.set(m.name, m);
  }
  get(name: string): PeftMethod | undefined {
    return this.methods.get(name);
  }
  names(): string[] {
    return [...this.methods.keys()];
  }
}

/**
 * BitFit (`train **.bias`) and full fine-tuning (`train **`, or no tune) need no method:
 * they are `train` items.
 */
export const builtinMethods: readonly PeftMethod[] = [lora, dora, ia3, prefix, ptv2, prompt, adapter, lnTuning];
