/**
 * Spelling `.mile` names and literals as Python: identifiers that are Python keywords get a
 * trailing underscore (`in` → `in_`), numbers keep their int/float kind, strings are JSON
 * (a valid Python literal for the strings `.mile` has).
 */
import { CompileError, error } from '../../../core/diagnostic.ts';
import type { Span } from '../../../core/span.ts';

const PYTHON_KEYWORDS = new Set(
  (
    'False None True and as assert async await break class continue def del elif else except finally for from global if import ' +
    'in is lambda nonlocal not or pass raise return try while with yield self torch nn mile math'
  ).split(' '),
);

/** Attributes every nn.Module has (and milec_ops.Module's own): a .mile name may not shadow them. */
const MODULE_ATTRIBUTES = new Set(
  (
    'training forward train eval parameters named_parameters buffers named_buffers children named_children modules ' +
    'named_modules state_dict load_state_dict to cpu cuda half float double type apply zero_grad requires_grad_ ' +
    'register_buffer register_parameter register_module add_module get_submodule get_parameter extra_repr ' +
    'milec_hooks milec_hook dump_patches call_super_init'
  ).split(' '),
);

/** How `__init__` stores a module argument the forward reads: `self.<name>`, renamed where nn.Module has the name. */
export function pyStored(name: string): string {
  return MODULE_ATTRIBUTES.has(name) ? `${name}_` : pyLocal(name);
}

/** A local variable or argument name: `in` → `in_` (also names the generated code uses itself). */
export function pyLocal(name: string): string {
  return PYTHON_KEYWORDS.has(name) ? `${name}_` : name;
}

/**
 * An attribute (parameter, child) name. These are state-dict names, so they cannot be renamed:
 * a keyword there is an error (`self` is fine as an attribute: `self.self`).
 */
export function pyAttr(name: string, at: Span): string {
  if (MODULE_ATTRIBUTES.has(name))
    throw new CompileError(
      error('export', `\`${name}\` is an attribute of every PyTorch module, so it cannot name a parameter or child`, at, {
        help: 'rename it in the .mile source (parameter names are state-dict keys, so the export cannot rename them)',
      }),
    );
  if (name !== 'self' && name !== 'torch' && name !== 'nn' && name !== 'mile' && name !== 'math' && PYTHON_KEYWORDS.has(name))
    throw new CompileError(
      error('export', `\`${name}\` is a Python keyword, so a PyTorch module cannot have a parameter or child of that name`, at, {
        help: 'rename it in the .mile source (parameter names are state-dict keys, so the export cannot rename them)',
      }),
    );
  return name;
}

/** A number as a Python literal of the same kind: `8`, `0.02`, `1e-12`, `1.0`. */
export function pyNumber(value: number, isInt: boolean): string {
  if (isInt) return String(value);
  if (!Number.isFinite(value)) return value > 0 ? 'math.inf' : value < 0 ? '-math.inf' : 'math.nan';
  const s = String(value);
  return /[.e]/.test(s) ? s : `${s}.0`;
}

export function pyString(s: string): string {
  return JSON.stringify(s);
}

/** A JSON-like value as a Python literal (for the spec embedded in generated code). */
export function pyLiteral(v: unknown): string {
  if (v === null || v === undefined) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number') return pyNumber(v, Number.isInteger(v));
  if (typeof v === 'string') return pyString(v);
  if (Array.isArray(v)) return `[${v.map(pyLiteral).join(', ')}]`;
  return `{${Object.entries(v as Record<string, unknown>)
    .map(([k, x]) => `${pyString(k)}: ${pyLiteral(x)}`)
    .join(', ')}}`;
}
