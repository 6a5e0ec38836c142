/**
 * One `.mile` expression as Python over PyTorch, with a small static kind (tensor, int, float,
 * bool, none, a tensor that may be none, a module) so that operators get their `.mile` meaning:
 * `a + b` with an absent optional operand is the other operand (`mile.add`), and `/` between
 * ints is `.mile`'s exact division (`mile.div`). Builtins are `mile.<name>(…)` with the same
 * argument names (runtime/export/torch/milec_ops.py is the op table), except `select`, which is
 * Python's lazy conditional expression, as `.mile`'s `select` evaluates one branch only.
 */
import { CompileError, error } from '../../../core/diagnostic.ts';
import type { Arg, Expr, IndexItem } from '../../../grammar/ast.ts';
import { pyLocal, pyNumber, pyString } from './python.ts';

export type Kind = 'tensor' | 'maybe' | 'int' | 'float' | 'bool' | 'none' | 'string' | 'list' | 'module' | 'unknown';

export interface Py {
  readonly code: string;
  readonly kind: Kind;
}

/** How a name reads in the code being generated, and what it holds. */
export interface NameBinding {
  readonly code: string;
  readonly kind: Kind;
}

export interface ExprScope {
  /** Resolves a name (let, input, size, parameter, child, argument), or undefined when it is none of these. */
  resolve(name: string): NameBinding | undefined;
  /** What the generated code calls the module this body belongs to (for hooks): `self`. */
  readonly self: string;
  /** `where` in error messages: the module and file. */
  readonly where: string;
}

/** The builtins milec_ops.py implements, with the kind of their result. */
const BUILTIN_KINDS: Readonly<Record<string, Kind>> = {
  exp: 'tensor',
  log: 'tensor',
  tanh: 'tensor',
  sqrt: 'tensor',
  sigmoid: 'tensor',
  relu: 'tensor',
  gelu: 'tensor',
  softmax: 'tensor',
  log_softmax: 'tensor',
  layer_norm: 'tensor',
  sum: 'tensor',
  mean: 'tensor',
  max: 'tensor',
  reshape: 'tensor',
  transpose: 'tensor',
  permute: 'tensor',
  gather: 'tensor',
  concat: 'tensor',
  dropout: 'tensor',
  default: 'tensor',
  expand: 'tensor',
  size: 'int',
  detach: 'tensor',
  causal_mask: 'tensor',
  one_hot: 'tensor',
  attention_mask: 'tensor',
  attention_bias: 'maybe',
  cross_entropy: 'tensor',
};

const SCALAR_FUNCTIONS = new Set(['sqrt', 'exp', 'log']);

export function isScalarKind(k: Kind): boolean {
  return k === 'int' || k === 'float' || k === 'bool';
}

/** Parentheses dropped around a whole expression (a statement's value, an argument). */
export function bare(code: string): string {
  if (!code.startsWith('(') || !code.endsWith(')')) return code;
  let depth = 0;
  for (let i = 0; i < code.length; i++) {
    if (code[i] === '(') depth++;
    else if (code[i] === ')') depth--;
    if (depth === 0 && i < code.length - 1) return code;
  }
  return code.slice(1, -1);
}

export function emitExpr(e: Expr, scope: ExprScope): Py {
  switch (e.kind) {
    case 'number':
      return { code: pyNumber(e.value, e.isInt), kind: e.isInt ? 'int' : 'float' };
    case 'bool':
      return { code: e.value ? 'True' : 'False', kind: 'bool' };
    case 'none':
      return { code: 'None', kind: 'none' };
    case 'string':
      return { code: pyString(e.value), kind: 'string' };
    case 'name': {
      const b = scope.resolve(e.name);
      if (!b) throw unsupported(`unknown name \`${e.name}\``, e, scope);
      return b;
    }
    case 'list':
      return { code: `[${e.items.map((i) => bare(emitExpr(i, scope).code)).join(', ')}]`, kind: 'list' };
    case 'unary': {
      const v = emitExpr(e.operand, scope);
      return e.op === '-' ? { code: `(-${v.code})`, kind: v.kind } : { code: `(not ${v.code})`, kind: 'bool' };
    }
    case 'binary':
      return binary(e, scope);
    case 'transpose':
      return { code: `${emitExpr(e.operand, scope).code}.transpose(-2, -1)`, kind: 'tensor' };
    case 'call':
      return call(e.callee, e.args, scope, e);
    case 'indexing':
      return { code: `${emitExpr(e.target, scope).code}[${e.items.map((i) => indexItem(i, scope)).join(', ')}]`, kind: 'tensor' };
    case 'member': {
      const t = emitExpr(e.target, scope);
      return { code: `${t.code}.${e.member.name}`, kind: 'unknown' };
    }
    case 'hook': {
      const v = emitExpr(e.value, scope);
      return { code: `${scope.self}.milec_hook(${pyString(e.name.name)}, ${bare(v.code)})`, kind: v.kind };
    }
  }
}

function binary(e: Extract<Expr, { kind: 'binary' }>, scope: ExprScope): Py {
  const l = emitExpr(e.left, scope);
  const r = emitExpr(e.right, scope);
  const mayBeNone = (k: Kind) => k === 'maybe' || k === 'none' || k === 'unknown';
  const tensorish = (k: Kind) => !isScalarKind(k);
  switch (e.op) {
    case '+':
    case '-':
      if (mayBeNone(l.kind) || mayBeNone(r.kind)) {
        const kind: Kind = l.kind === 'maybe' || r.kind === 'maybe' ? 'maybe' : tensorish(l.kind) || tensorish(r.kind) ? 'tensor' : l.kind;
        return { code: `mile.${e.op === '+' ? 'add' : 'sub'}(${bare(l.code)}, ${bare(r.code)})`, kind };
      }
      return { code: `(${l.code} ${e.op} ${r.code})`, kind: numericKind(l.kind, r.kind) };
    case '/':
      if (l.kind === 'int' && r.kind === 'int') return { code: `mile.div(${bare(l.code)}, ${bare(r.code)})`, kind: 'int' };
      return { code: `(${l.code} / ${r.code})`, kind: numericKind(l.kind, r.kind) === 'int' ? 'float' : numericKind(l.kind, r.kind) };
    case '*':
    case '%':
      return { code: `(${l.code} ${e.op} ${r.code})`, kind: numericKind(l.kind, r.kind) };
    case '@':
      return { code: `(${l.code} @ ${r.code})`, kind: 'tensor' };
    case 'and':
    case 'or':
      return { code: `(${l.code} ${e.op} ${r.code})`, kind: 'bool' };
    default:
      return { code: `(${l.code} ${e.op} ${r.code})`, kind: 'bool' };
  }
}

function numericKind(a: Kind, b: Kind): Kind {
  if (a === 'int' && b === 'int') return 'int';
  if (isScalarKind(a) && isScalarKind(b)) return 'float';
  return 'tensor';
}

function indexItem(i: IndexItem, scope: ExprScope): string {
  if (i.kind === 'ellipsis') return '...';
  if (i.kind === 'index') return bare(emitExpr(i.value, scope).code);
  const part = (x: Expr | undefined) => (x ? bare(emitExpr(x, scope).code) : '');
  return `${part(i.start)}:${part(i.stop)}${i.step ? `:${part(i.step)}` : ''}`;
}

function argList(args: readonly Arg[], scope: ExprScope): string {
  return args.map((a) => `${a.name ? `${pyLocal(a.name.name)}=` : ''}${bare(emitExpr(a.value, scope).code)}`).join(', ');
}

function call(callee: Expr, args: readonly Arg[], scope: ExprScope, at: Expr): Py {
  if (callee.kind === 'name') {
    const bound = scope.resolve(callee.name);
    // As lowering: a builtin is called unless the name is bound to something callable.
    if (!bound || (bound.kind !== 'module' && BUILTIN_KINDS[callee.name] !== undefined) || callee.name === 'select')
      return builtinCall(callee.name, args, scope, at);
    if (bound.kind !== 'module') throw unsupported(`\`${callee.name}\` is not callable`, at, scope);
    return { code: `${bound.code}(${argList(args, scope)})`, kind: 'tensor' };
  }
  const target = emitExpr(callee, scope);
  return { code: `${target.code}(${argList(args, scope)})`, kind: 'tensor' };
}

function builtinCall(name: string, args: readonly Arg[], scope: ExprScope, at: Expr): Py {
  if (name === 'select') {
    const by = bind(['cond', 'then', 'otherwise'], args, 'select', scope, at);
    const cond = emitExpr(by.cond!, scope);
    const then = emitExpr(by.then!, scope);
    const otherwise = emitExpr(by.otherwise!, scope);
    const kind: Kind = then.kind === otherwise.kind ? then.kind : then.kind === 'none' || otherwise.kind === 'none' ? 'maybe' : 'unknown';
    return { code: `(${bare(then.code)} if ${bare(cond.code)} else ${bare(otherwise.code)})`, kind };
  }
  const kind = BUILTIN_KINDS[name];
  if (kind === undefined) throw unsupported(`the builtin \`${name}\` has no PyTorch translation in milec_ops.py`, at, scope);
  if (name === 'default') {
    const by = bind(['value', 'fallback'], args, 'default', scope, at);
    const v = emitExpr(by.value!, scope);
    const f = emitExpr(by.fallback!, scope);
    return { code: `mile.default(${bare(v.code)}, ${bare(f.code)})`, kind: v.kind === 'maybe' || v.kind === 'none' ? f.kind : v.kind };
  }
  if (name === 'dropout') {
    // Dropout is on in training only, as milec's inference graphs have none.
    return { code: `mile.dropout(${argList(args, scope)}, training=${scope.self}.training)`, kind: 'tensor' };
  }
  const first = args[0] && !args[0].name ? emitExpr(args[0].value, scope) : undefined;
  const resultKind: Kind = SCALAR_FUNCTIONS.has(name) && first && isScalarKind(first.kind) ? 'float' : kind;
  return { code: `mile.${name}(${argList(args, scope)})`, kind: resultKind };
}

/** Arguments of a builtin the emitter itself translates, bound by position or name. */
function bind(names: readonly string[], args: readonly Arg[], fn: string, scope: ExprScope, at: Expr): Record<string, Expr> {
  const out: Record<string, Expr> = {};
  let pos = 0;
  for (const a of args) {
    const n = a.name ? a.name.name : names[pos++];
    if (n === undefined || !names.includes(n)) throw unsupported(`\`${fn}\` takes ${names.join(', ')}`, a.value, scope);
    out[n] = a.value;
  }
  for (const n of names) if (!out[n]) throw unsupported(`\`${fn}\` needs argument \`${n}\``, at, scope);
  return out;
}

export function unsupported(message: string, at: { span: Expr['span'] }, scope: Pick<ExprScope, 'where'>): CompileError {
  return new CompileError(error('export', `cannot export to PyTorch: ${message} (in ${scope.where})`, at.span));
}
