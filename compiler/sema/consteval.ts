/**
 * Compile-time evaluation of scalar expressions: module arguments, config entries,
 * parameter shapes, `if` conditions, repeat counts and method options.
 */
import type { Expr } from '../../grammar/ast.ts';
import { CompileError, error, suggestion } from '../../core/diagnostic.ts';
import { type Dim, dimDiv, dimMul, isConcrete } from '../../core/dim.ts';
import type { Scalar } from './instance.ts';

export type ScalarEnv = ReadonlyMap<string, Scalar>;

const scalarFns: Record<string, (xs: number[]) => number> = {
  sqrt: ([x]) => Math.sqrt(x!),
  abs: ([x]) => Math.abs(x!),
  min: (xs) => Math.min(...xs),
  max: (xs) => Math.max(...xs),
  exp: ([x]) => Math.exp(x!),
  log: ([x]) => Math.log(x!),
};

export function num(s: Scalar, e: Expr): number {
  if (s.kind === 'int' && isConcrete(s.v)) return s.v;
  if (s.kind === 'float') return s.v;
  throw new CompileError(error('type', `expected a number, got ${describeScalar(s)}`, e.span));
}

export function describeScalar(s: Scalar): string {
  switch (s.kind) {
    case 'int':
      return isConcrete(s.v) ? `int ${s.v}` : `symbolic size ${s.v}`;
    case 'float':
      return `float ${s.v}`;
    case 'bool':
      return `bool ${s.v}`;
    case 'none':
      return 'none';
  }
}

/** Arithmetic shared by compile-time evaluation and forward bodies (ints may be symbolic). */
export function scalarBinary(op: string, a: Scalar, b: Scalar, l: Expr, r: Expr, opExpr: Expr): Scalar {
  if (op === 'and' || op === 'or') {
    if (a.kind !== 'bool') throw new CompileError(error('type', `\`${op}\` expects bool operands, got ${describeScalar(a)}`, l.span));
    if (b.kind !== 'bool') throw new CompileError(error('type', `\`${op}\` expects bool operands, got ${describeScalar(b)}`, r.span));
    return { kind: 'bool', v: op === 'and' ? a.v && b.v : a.v || b.v };
  }
  if (op === '==' || op === '!=') {
    const eq = a.kind === b.kind && (a.kind === 'none' || (a as { v: unknown }).v === (b as { v: unknown }).v);
    return { kind: 'bool', v: op === '==' ? eq : !eq };
  }
  if (a.kind === 'int' && b.kind === 'int') {
    const [x, y] = [a.v, b.v];
    if (op === '*') return { kind: 'int', v: dimMul(x, y) };
    if (op === '/') {
      const q = dimDiv(x, y);
      if (q !== undefined) return { kind: 'int', v: q };
      if (isConcrete(x) && isConcrete(y)) {
        if (y === 0) throw new CompileError(error('value', 'division by zero', opExpr.span));
        return { kind: 'float', v: x / y };
      }
      throw new CompileError(error('shape', `${x} is not divisible by ${y}`, opExpr.span));
    }
    if (isConcrete(x) && isConcrete(y)) {
      switch (op) {
        case '+':
          return { kind: 'int', v: x + y };
        case '-':
          return { kind: 'int', v: x - y };
        case '%':
          return { kind: 'int', v: x % y };
        case '<':
          return { kind: 'bool', v: x < y };
        case '<=':
          return { kind: 'bool', v: x <= y };
        case '>':
          return { kind: 'bool', v: x > y };
        case '>=':
          return { kind: 'bool', v: x >= y };
      }
    }
    throw new CompileError(error('type', `\`${op}\` is not defined on symbolic sizes (${x}, ${y})`, opExpr.span));
  }
  const x = num(a, l);
  const y = num(b, r);
  switch (op) {
    case '+':
      return { kind: 'float', v: x + y };
    case '-':
      return { kind: 'float', v: x - y };
    case '*':
      return { kind: 'float', v: x * y };
    case '/':
      return { kind: 'float', v: x / y };
    case '%':
      return { kind: 'float', v: x % y };
    case '<':
      return { kind: 'bool', v: x < y };
    case '<=':
      return { kind: 'bool', v: x <= y };
    case '>':
      return { kind: 'bool', v: x > y };
    case '>=':
      return { kind: 'bool', v: x >= y };
  }
  throw new CompileError(error('type', `\`${op}\` is not defined on scalars`, opExpr.span));
}

/** The value of a number, bool or `none` literal. */
export function literalScalar(e: Extract<Expr, { kind: 'number' | 'bool' | 'none' }>): Scalar {
  if (e.kind === 'number') return e.isInt ? { kind: 'int', v: e.value } : { kind: 'float', v: e.value };
  return e.kind === 'bool' ? { kind: 'bool', v: e.value } : { kind: 'none' };
}

export function constEval(e: Expr, env: ScalarEnv): Scalar {
  switch (e.kind) {
    case 'number':
    case 'bool':
    case 'none':
      return literalScalar(e);
    case 'name': {
      const v = env.get(e.name);
      if (v === undefined) throw new CompileError(error('name', `unknown name \`${e.name}\``, e.span, suggestion(e.name, env.keys())));
      return v;
    }
    case 'unary': {
      const v = constEval(e.operand, env);
      if (e.op === 'not') {
        if (v.kind !== 'bool') throw new CompileError(error('type', `\`not\` expects a bool, got ${describeScalar(v)}`, e.operand.span));
        return { kind: 'bool', v: !v.v };
      }
      if (v.kind === 'int' && isConcrete(v.v)) return { kind: 'int', v: -v.v };
      return { kind: 'float', v: -num(v, e.operand) };
    }
    case 'binary':
      return scalarBinary(e.op, constEval(e.left, env), constEval(e.right, env), e.left, e.right, e);
    case 'call': {
      if (e.callee.kind === 'name' && scalarFns[e.callee.name]) {
        if (e.args.some((a) => a.name)) throw new CompileError(error('type', `\`${e.callee.name}\` takes no named arguments`, e.span));
        const xs = e.args.map((a) => num(constEval(a.value, env), a.value));
        return { kind: 'float', v: scalarFns[e.callee.name]!(xs) };
      }
      if (e.callee.kind === 'name' && e.callee.name === 'int') {
        const v = num(constEval(e.args[0]!.value, env), e.args[0]!.value);
        return { kind: 'int', v: Math.trunc(v) };
      }
      if (e.callee.kind === 'name' && e.callee.name === 'float') {
        return { kind: 'float', v: num(constEval(e.args[0]!.value, env), e.args[0]!.value) };
      }
      throw new CompileError(
        error('type', 'only scalar functions (sqrt, abs, min, max, exp, log, int, float) can be evaluated here', e.span),
      );
    }
    default:
      throw new CompileError(error('type', 'expected a compile-time scalar expression here', e.span));
  }
}

/** Evaluates a dimension: an int (possibly symbolic). */
export function evalDim(e: Expr, env: ScalarEnv): Dim {
  const v = constEval(e, env);
  if (v.kind === 'int') return v.v;
  if (v.kind === 'float' && Number.isInteger(v.v)) return v.v;
  throw new CompileError(error('type', `a dimension must be an integer, got ${describeScalar(v)}`, e.span));
}

export function evalInt(e: Expr, env: ScalarEnv): number {
  const d = evalDim(e, env);
  if (!isConcrete(d)) throw new CompileError(error('type', `expected a concrete integer, got symbolic size ${d}`, e.span));
  return d;
}

export function evalBool(e: Expr, env: ScalarEnv): boolean {
  const v = constEval(e, env);
  if (v.kind !== 'bool') throw new CompileError(error('type', `a condition must be a bool, got ${describeScalar(v)}`, e.span));
  return v.v;
}
