/**
 * Tensor dimensions. A dimension is a concrete size or a symbolic monomial such as `B`,
 * `B*T` or `2*B` that binds at run time. Monomials are kept in one canonical string form,
 * so equal dimensions compare equal with `===` and print as themselves.
 */
export type Dim = number | string;
export type Shape = readonly Dim[];

interface Monomial {
  k: number;
  syms: string[];
}

function parse(d: Dim): Monomial {
  if (typeof d === 'number') return { k: d, syms: [] };
  let k = 1;
  const syms: string[] = [];
  for (const part of d.split('*')) {
    if (/^\d+$/.test(part)) k *= Number(part);
    else syms.push(part);
  }
  return { k, syms };
}

function format(m: Monomial): Dim {
  if (m.syms.length === 0) return m.k;
  const syms = [...m.syms].sort();
  return (m.k === 1 ? '' : `${m.k}*`) + syms.join('*');
}

export function sym(name: string): Dim {
  return name;
}

export function isConcrete(d: Dim): d is number {
  return typeof d === 'number';
}

export function dimMul(a: Dim, b: Dim): Dim {
  const x = parse(a);
  const y = parse(b);
  return format({ k: x.k * y.k, syms: [...x.syms, ...y.syms] });
}

/** Exact division, or undefined when `a` is not a multiple of `b`. */
export function dimDiv(a: Dim, b: Dim): Dim | undefined {
  const x = parse(a);
  const y = parse(b);
  if (y.k === 0 || x.k % y.k !== 0) return undefined;
  const rest = [...x.syms];
  for (const s of y.syms) {
    const i = rest.indexOf(s);
    if (i < 0) return undefined;
    rest.splice(i, 1);
  }
  return format({ k: x.k / y.k, syms: rest });
}

/** Element count of a shape, symbolic when the shape is (`B*T*768`). */
export function numel(shape: Shape): Dim {
  return shape.reduce<Dim>((acc, d) => dimMul(acc, d), 1);
}

/** Element count of a concrete shape; a symbolic dimension is an error (specialize first). */
export function elementCount(shape: readonly Dim[]): number {
  let n = 1;
  for (const d of shape) {
    if (!isConcrete(d)) throw new Error(`shape ${shapeToString(shape)} is symbolic; bind its sizes first`);
    n *= d;
  }
  return n;
}

export function shapeEq(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function dimToString(d: Dim): string {
  return String(d);
}

export function shapeToString(s: Shape): string {
  return `[${s.map(dimToString).join(', ')}]`;
}

/** Substitutes run-time sizes for every symbol. Throws if a symbol is unbound (a caller bug). */
export function bindDim(d: Dim, bindings: Readonly<Record<string, number>>): number {
  const m = parse(d);
  let v = m.k;
  for (const s of m.syms) {
    const b = bindings[s];
    if (b === undefined) throw new Error(`symbolic dimension ${s} has no binding`);
    v *= b;
  }
  return v;
}

export function bindShape(s: Shape, bindings: Readonly<Record<string, number>>): number[] {
  return s.map((d) => bindDim(d, bindings));
}

export function symbolsOf(d: Dim): string[] {
  return parse(d).syms;
}

/** Row-major strides of a concrete shape. */
export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}
