/** The methods a tune can name: built-ins plus registered plugins. */
import type { PeftMethod } from './method.ts';
import { lora } from './methods/lora.ts';

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

export const builtinMethods: readonly PeftMethod[] = [lora];
