/**
 * What a PEFT-method plugin imports, as `milec/peft` (package.json `exports`): the method
 * interface, the helpers built-in methods use, and the registry. `milec new method` scaffolds a
 * file that imports from here; `--plugin FILE.ts` loads it (`runtime/plugins.ts`).
 */
export type {
  AddedParam,
  MethodOption,
  MethodOptions,
  PeftFormat,
  PeftDerived,
  PeftKey,
  PeftMethod,
  PeftSite,
  PeftTune,
  RewriteContext,
} from './method.ts';
export { paramOf, siteInt } from './method.ts';
export { builtinMethods, MethodRegistry } from './registry.ts';
export { rewriteError } from './methods/common.ts';
export type { InitSpec, NodeId } from '../ir/graph.ts';
export type { Attachment, Instance } from '../sema/instance.ts';
