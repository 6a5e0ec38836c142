/** Values of forward-body evaluation: compile-time scalars, tensors (IR nodes), modules, lists, functions. */
import type { Span } from '../../core/span.ts';
import type { Instance, Scalar } from '../sema/instance.ts';
import type { NodeId } from '../ir/graph.ts';

/** One argument of a call, evaluated. */
export interface FunctionArg {
  readonly name?: string;
  readonly value: Value;
  readonly span: Span;
}

export type Value =
  | Scalar
  | { readonly kind: 'tensor'; readonly id: NodeId }
  | { readonly kind: 'module'; readonly inst: Instance }
  | { readonly kind: 'modules'; readonly list: readonly Instance[] }
  | { readonly kind: 'list'; readonly items: readonly Value[] }
  | { readonly kind: 'string'; readonly v: string }
  /**
   * A callable bound in a scope by the compiler (a `.mile` method's `base`): calling it runs
   * `call`, which reports its own errors at `at` or at an argument's span.
   */
  | { readonly kind: 'function'; readonly name: string; readonly call: (args: readonly FunctionArg[], at: Span) => Value };

export const tensor = (id: NodeId): Value => ({ kind: 'tensor', id });

export function describeValue(v: Value): string {
  switch (v.kind) {
    case 'tensor':
      return 'a tensor';
    case 'module':
      return `module \`${v.inst.path}\` (${v.inst.type})`;
    case 'modules':
      return `a repeated module (${v.list.length} × ${v.list[0]?.type})`;
    case 'list':
      return `a list of ${v.items.length}`;
    case 'string':
      return `string "${v.v}"`;
    case 'int':
      return `int ${v.v}`;
    case 'float':
      return `float ${v.v}`;
    case 'bool':
      return `bool ${v.v}`;
    case 'none':
      return 'none';
    case 'function':
      return `function \`${v.name}\``;
  }
}
