/**
 * The op traits (`opTraits`) against each other and against the other per-op tables: every
 * table covers the same vocabulary, exactly the fusable ops have a fused WGSL body, an
 * elementwise op really computes element by element in the reference, an alias keeps its
 * source's elements in order, and folding asks only for what the folding code can do.
 */
import { describe, expect, it } from 'vitest';
import { elementCount } from '../../core/dim.ts';
import { vjpRules } from '../../compiler/grad/vjp.ts';
import { type OpAttrs, type OpKind, isBinary, isUnary, opInfo, opKinds, opTraits } from '../../compiler/ops/kinds.ts';
import { type RefOp, type RefTensor, referenceOps } from '../../compiler/ops/reference.ts';
import { inliners, renderers } from '../../compiler/wgsl/render.ts';

const sorted = (keys: readonly string[]) => [...keys].sort();

/** Runs the reference of `op` with the output shape from its shape rule. */
function evaluate(op: OpKind, srcs: readonly RefTensor[], attrs: OpAttrs[OpKind]): RefTensor {
  const rule = opInfo[op].infer as (s: readonly { shape: number[]; dtype: 'f32' }[], a: unknown) => { shape: readonly number[] } | string;
  const r = rule(
    srcs.map((s) => ({ shape: s.shape as number[], dtype: 'f32' as const })),
    attrs,
  );
  if (typeof r === 'string') throw new Error(`${op}: ${r}`);
  const shape = r.shape as number[];
  return { shape, data: (referenceOps[op] as RefOp<OpKind>)(srcs, attrs, { shape }) };
}

/** An example of every alias op: attributes and a source shape (a new alias op must add one). */
const aliasExamples: Partial<Record<OpKind, { attrs: OpAttrs[OpKind]; shape: number[] }>> = {
  reshape: { attrs: { shape: [3, 2] } as OpAttrs['reshape'], shape: [2, 3] },
  detach: { attrs: {}, shape: [2, 3] },
};

const tensor = (shape: number[], f: (i: number) => number): RefTensor => ({
  shape,
  data: Float64Array.from({ length: elementCount(shape) }, (_, i) => f(i)),
});

describe('op traits', () => {
  it('every per-op table covers exactly the op vocabulary', () => {
    const kinds = sorted(opKinds);
    for (const table of [opInfo, referenceOps, vjpRules, renderers, inliners]) expect(sorted(Object.keys(table))).toEqual(kinds);
  });

  it.each(opKinds)('%s: its traits agree with each other and with its other tables', (op) => {
    const t = opTraits[op];
    const arity = opInfo[op].arity;
    // Exactly the fusable ops can be rendered inside a consumer's kernel.
    expect(inliners[op] !== null, 'fusable ⇔ has a fused WGSL body').toBe(t.fusable);
    // Elementwise ops, aliases and static index remaps (element i is one element of the source,
    // at coordinates known at compile time) are what fusion inlines; nothing else is fusable.
    const indexRemap = op === 'permute' || op === 'slice';
    // …and functions of the element index (a causal mask; a one-hot row, one label read per element).
    const indexFunction = op === 'causal_mask' || op === 'one_hot';
    expect(t.fusable, 'fusable ⇔ elementwise, alias, index remap or index function').toBe(
      t.elementwise !== null || t.alias || indexRemap || indexFunction,
    );
    expect(isUnary(op)).toBe(t.elementwise === 'unary');
    expect(isBinary(op)).toBe(t.elementwise === 'binary');
    if (t.elementwise === 'unary' || t.elementwise === 'broadcast' || t.elementwise === 'generated') expect(arity).toBe(1);
    if (t.elementwise === 'binary') expect(arity).toBe(2);
    if (t.leaf) {
      expect(arity).toBe(0);
      expect(vjpRules[op], 'a leaf propagates no gradient').toBeNull();
      expect(t.fusable || t.alias || t.folds !== null).toBe(false);
    }
    if (t.alias) {
      expect(arity).toBe(1);
      // An alias gets a kernel only to copy a leaf, and that kernel takes no fused producers.
      expect(t.fusesProducers).toBe(false);
    }
    if (t.contraction) expect(arity).toBe(2);
    if (t.splitsOverSources) expect(arity).toBe(-1);
    if (t.stopsGradient) expect(vjpRules[op], 'nothing flows into an op that stops gradients').toBeNull();
    // Folding: `value` reads a const's attribute, `source` passes one source's literal on,
    // `evaluate` runs the reference on scalars, which is only sound for arithmetic.
    if (t.folds === 'value') expect(op).toBe('const');
    if (t.folds === 'source') {
      expect(arity).toBe(1);
      expect(t.alias || t.elementwise === 'broadcast').toBe(true);
    }
    if (t.folds === 'evaluate') expect(t.elementwise === 'unary' || t.elementwise === 'binary').toBe(true);
  });

  it.each(opKinds.filter((op) => opTraits[op].elementwise === 'unary' || opTraits[op].elementwise === 'binary'))(
    '%s: the reference computes it element by element (what fusion and constant folding assume)',
    (op) => {
      const arity = opInfo[op].arity;
      const srcs = Array.from({ length: arity }, (_, j) => tensor([5], (i) => 0.25 + 0.5 * i - 1.2 * j));
      const whole = evaluate(op, srcs, {}).data;
      for (let i = 0; i < 5; i++) {
        const one = evaluate(
          op,
          srcs.map((s) => ({ shape: [], data: Float64Array.of(s.data[i]!) })),
          {},
        ).data;
        expect(whole[i]).toBe(one[0]);
      }
    },
  );

  it.each(opKinds.filter((op) => opTraits[op].alias))('%s: an alias keeps its source elements in dense row-major order', (op) => {
    const example = aliasExamples[op];
    expect(example, `add an example of alias op '${op}' to aliasExamples`).toBeDefined();
    const x = tensor(example!.shape, (i) => i * 1.5 - 2);
    const y = evaluate(op, [x], example!.attrs);
    expect(elementCount(y.shape)).toBe(elementCount(x.shape));
    expect([...y.data]).toEqual([...x.data]);
  });
});
