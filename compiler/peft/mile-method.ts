/**
 * PEFT methods written in `.mile`:
 *
 *   method lora(r: int = 8, alpha: float = 8) on Linear(in, out) {
 *     param A: f32[r, in]  = kaiming_uniform(a = sqrt(5))
 *     param B: f32[out, r] = zeros
 *     rewrite(x) { base(x) + (alpha / r) * (x @ A^T @ B^T) }
 *   }
 *
 * Each `MethodDecl` of the program becomes a `PeftMethod`, registered for the compilation next
 * to the built-ins (`withMileMethods`, called by `compileFrontEnd`). Everything checkable without
 * a site is checked when the method is defined (so `milec check` reports it even if no tune uses
 * the method); shapes are evaluated per site when a tune attaches the method; the `rewrite` and
 * `hook` blocks are evaluated by the lowering evaluator (`RewriteContext.evalBlock`), so their
 * type and shape errors point into the method's source.
 *
 * Scope of a method's blocks: its options, the names bound from the site (`Linear(in, out)`:
 * arguments as scalars, parameters as tensors, children as callable modules), its parameters and
 * `shared` parameters, the rewrite's inputs, `base` (the site's original forward, or the next
 * method when methods stack) and the builtins. Nothing else of the site is visible.
 */
import type { MethodDecl } from '../../grammar/ast.ts';
import { CompileError, type Diagnostic, error } from '../../core/diagnostic.ts';
import type { Program } from '../sema/program.ts';
import type { PeftMethod } from './method.ts';
import { builtinMethods, MethodRegistry } from './registry.ts';
import { toPeftMethod } from './mile-method-apply.ts';
import { checkMethod } from './mile-method-check.ts';

/**
 * A registry with the built-ins (or `base`) plus the program's `.mile` methods, and the
 * diagnostics of the methods that could not be defined. `base` itself is never modified.
 */
export function withMileMethods(base: MethodRegistry, program: Program): { registry: MethodRegistry; diagnostics: Diagnostic[] } {
  if (program.methods.size === 0) return { registry: base, diagnostics: [] };
  const registry = new MethodRegistry(base.names().map((n) => base.get(n)!));
  const diagnostics: Diagnostic[] = [];
  const builtin = new Set(builtinMethods.map((m) => m.name));
  for (const decl of program.methods.values()) {
    const name = decl.name.name;
    if (base.get(name)) {
      diagnostics.push(
        error(
          'name',
          `method \`${name}\` clashes with the ${builtin.has(name) ? 'built-in' : 'registered'} PEFT method \`${name}\``,
          decl.name.span,
          {
            help: `rename it, e.g. \`my_${name}\` (taken: ${base.names().join(', ')})`,
          },
        ),
      );
      continue;
    }
    try {
      registry.register(mileMethod(decl, program));
    } catch (e) {
      if (e instanceof CompileError) diagnostics.push(e.diagnostic);
      else throw e;
    }
  }
  return { registry, diagnostics };
}

/** Checks a method declaration against the program and turns it into a `PeftMethod`. */
export function mileMethod(decl: MethodDecl, program: Program): PeftMethod {
  return toPeftMethod(checkMethod(decl, program));
}
