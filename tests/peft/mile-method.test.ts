/**
 * PEFT methods written in `.mile` (`method NAME(options) on Site(names) { … }`): a `.mile` LoRA
 * against the built-in one (parameter count, forward values), gradients by finite differences,
 * site bindings, stacking on another method, hooks, shared parameters, methods from `use`d files.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileFrontEnd } from '../../compiler/pipeline.ts';
import { renderDiagnostics } from '../../core/render.ts';
import { MethodRegistry } from '../../compiler/peft/registry.ts';
import { at } from '../compiler/helpers.ts';
import {
  addedCount,
  B,
  compile,
  expectClose,
  floats,
  gradCheck,
  initParams,
  linearInputs,
  linearModel,
  linearRows,
  randomParams,
  run,
  trainableCount,
  zip,
  type Params,
} from './helpers.ts';
import { fileHost } from '../../runtime/source-files.ts';

const tiny = readFileSync('examples/tiny_classifier.mile', 'utf8');

const myLora = `
method my_lora(r: int = 8, alpha: float = 8, dropout: float = 0.0) on Linear(in, out) {
  param A: f32[r, in]  = kaiming_uniform(a = sqrt(5))
  param B: f32[out, r] = zeros
  rewrite(x) { base(x) + (alpha / r) * (dropout(x, dropout) @ A^T @ B^T) }
}
`;

const tinyWithMine = `${tiny}
${myLora}
tune my_qv for TinyClassifier {
  train head
  my_lora(r = 8, alpha = 16) on blocks.*.attn.{query, value}
}
`;

const tinyInputs = (batch: number) =>
  new Map<string, Float64Array>([
    ['tokens', Float64Array.from({ length: batch * 16 }, (_, i) => (i * 37 + 5) % 64)],
    ['labels', Float64Array.from({ length: batch }, (_, i) => i % 4)],
  ]);

describe('a .mile LoRA against the built-in LoRA', () => {
  it('adds the same trainable parameters, at the same sites', () => {
    const builtin = compile(tinyWithMine, 'lora_qv');
    const mine = compile(tinyWithMine, 'my_qv');
    expect(trainableCount(mine)).toBe(trainableCount(builtin));
    expect(addedCount(mine, 'my_lora')).toBe(addedCount(builtin, 'lora'));
    // r·(in + out) per site, 4 sites.
    expect(addedCount(mine, 'my_lora')).toBe(4 * 8 * (32 + 32));
    expect(mine.forward.params.filter((p) => p.addedBy === 'my_lora').map((p) => p.name)).toEqual(
      builtin.forward.params.filter((p) => p.addedBy === 'lora').map((p) => p.name.replace('lora_', '')),
    );
    expect(mine.forward.params.find((p) => p.name === 'blocks[0].attn.query.A')!.init).toEqual({
      kind: 'kaiming_uniform',
      a: Math.sqrt(5),
      fanIn: 32,
    });
    expect(mine.forward.params.find((p) => p.name === 'blocks[0].attn.query.B')!.init).toEqual({ kind: 'zeros' });
    expect(mine.tune.matches.find((m) => m.method === 'my_lora')!.sites).toEqual([
      'blocks[0].attn.query',
      'blocks[0].attn.value',
      'blocks[1].attn.query',
      'blocks[1].attn.value',
    ]);
    // Gradients exist for exactly the trainable parameters.
    expect(Object.keys(mine.train!.grads).sort()).toEqual(
      mine.forward.params
        .filter((p) => p.trainable)
        .map((p) => p.name)
        .sort(),
    );
  });

  it('computes the same forward output with non-zero B', () => {
    const builtin = compile(tinyWithMine, 'lora_qv', { training: false });
    const mine = compile(tinyWithMine, 'my_qv', { training: false });
    const bind = { B: 3 };
    const p = initParams(builtin.forward, bind);
    let k = 0;
    for (const [name, v] of p) if (name.endsWith('lora_B')) p.set(name, floats(v.length, 100 + k++));
    expect(k).toBe(4);
    const q: Params = new Map([...p].map(([name, v]) => [name.replace('.lora_A', '.A').replace('.lora_B', '.B'), v]));
    const want = run(builtin.forward, bind, p, tinyInputs(3)).logits!;
    const got = run(mine.forward, bind, q, tinyInputs(3)).logits!;
    expectClose(got, want, 1e-12);
    // …and B ≠ 0 matters: the base model's output differs.
    const base = compile(tinyWithMine, 'full', { training: false });
    const plain = run(base.forward, bind, new Map([...p].filter(([n]) => !n.includes('lora_'))), tinyInputs(3)).logits!;
    expect(Math.max(...Array.from(plain, (x, i) => Math.abs(x - want[i]!)))).toBeGreaterThan(1e-6);
  });

  it('is a no-op at initialisation (B = 0)', () => {
    const mine = compile(tinyWithMine, 'my_qv', { training: false });
    const base = compile(tinyWithMine, 'full', { training: false });
    const bind = { B: 2 };
    const want = run(base.forward, bind, initParams(base.forward, bind), tinyInputs(2)).logits!;
    expect(Array.from(run(mine.forward, bind, initParams(mine.forward, bind), tinyInputs(2)).logits!)).toEqual(Array.from(want));
  });

  it('keeps dropout in training graphs only', () => {
    const text = `${tiny}\n${myLora}\ntune d for TinyClassifier { my_lora(dropout = 0.1) on blocks.*.attn.query }\n`;
    const train = compile(text, 'd', { training: true });
    const infer = compile(text, 'd', { training: false });
    expect(train.forward.nodes.filter((n) => n.op === 'dropout_mask')).toHaveLength(2);
    expect(infer.forward.nodes.filter((n) => n.op === 'dropout_mask')).toHaveLength(0);
  });
});

describe('gradients of .mile methods', () => {
  it('my_lora: d loss / d A, B match finite differences', () => {
    const fe = compile(linearModel(`${myLora}\ntune t for L1 { my_lora(r = 2, alpha = 3) on lin }`), 't');
    expect(gradCheck(fe, { B }, randomParams(fe.forward, 3, { B }), linearInputs(), (n) => n.startsWith('lin.'))).toBe(2 * (5 + 4));
  });

  // Binds the site's own parameters: a merged-weight update with a learned output scale.
  const merged = `
method merged(r: int = 2) on Linear(in, out, weight, bias) {
  param m: f32[out] = ones
  param A: f32[r, in] = normal(0, 0.5)
  param B: f32[out, r] = normal(0, 0.5)
  rewrite(x) {
    let w = weight + B @ A
    m * (x @ w^T) + bias
  }
}
tune t for L1 { merged() on lin }
`;

  it('a method that binds site parameters computes its formula', () => {
    const fe = compile(linearModel(merged), 't');
    const inputs = linearInputs();
    const p = randomParams(fe.forward, 4, { B });
    const got = run(fe.forward, { B }, p, inputs).out!;
    const ba = new Float64Array(4 * 5);
    const [Bm, Am] = [p.get('lin.B')!, p.get('lin.A')!];
    for (let i = 0; i < 4; i++) for (let j = 0; j < 5; j++) for (let t = 0; t < 2; t++) ba[i * 5 + j]! += Bm[i * 2 + t]! * Am[t * 5 + j]!;
    const w = zip(p.get('lin.weight')!, ba, (a, b) => a + b);
    const y = linearRows(inputs.get('x') as Float64Array, B * 3, w, 4);
    const m = p.get('lin.m')!;
    const bias = p.get('lin.bias')!;
    expectClose(
      got,
      Float64Array.from(y, (v, i) => m[i % 4]! * v + bias[i % 4]!),
    );
    expect(gradCheck(fe, { B }, p, inputs, (n) => /lin\.(m|A|B)$/.test(n))).toBe(4 + 2 * 5 + 4 * 2);
  });
});

describe('stacking, hooks and shared parameters', () => {
  it('stacks on a built-in method: `base` is the method below', () => {
    const text = linearModel(`
method twice on Linear { rewrite(x) { 2 * base(x) } }
tune l for L1 { lora(r = 2) on lin }
tune both for L1 {
  lora(r = 2) on lin
  twice() on lin
}`);
    const l = compile(text, 'l', { training: false });
    const both = compile(text, 'both', { training: false });
    const p = randomParams(l.forward, 5, { B });
    const inputs = linearInputs();
    const want = run(l.forward, { B }, p, inputs).out!;
    expectClose(
      run(both.forward, { B }, p, inputs).out!,
      Float64Array.from(want, (v) => 2 * v),
    );
  });

  const keyGain = `
method key_gain on MultiHeadAttention(dim, heads) {
  param g: f32[heads, 1, dim / heads] = ones
  hook keys(k) { k * g }
}
tune kg for TinyClassifier { key_gain() on blocks.*.attn }
`;

  it("hook blocks intervene at the site forward's hook points", () => {
    const text = `${tiny}\n${keyGain}`;
    const fe = compile(text, 'kg');
    expect(addedCount(fe, 'key_gain')).toBe(2 * 32);
    const base = compile(text, 'full', { training: false });
    const bind = { B: 2 };
    // g = 1 is the identity…
    const init = initParams(fe.forward, bind);
    const want = run(base.forward, bind, initParams(base.forward, bind), tinyInputs(2)).logits!;
    expectClose(run(fe.forward, bind, init, tinyInputs(2)).logits!, want, 1e-12);
    // …other gains change the output, with correct gradients.
    const p = new Map(init);
    for (const name of ['blocks[0].attn.g', 'blocks[1].attn.g']) p.set(name, floats(32, name.length + 7));
    expect(Math.abs(run(fe.forward, bind, p, tinyInputs(2)).logits![0]! - want[0]!)).toBeGreaterThan(1e-9);
    expect(gradCheck(fe, bind, p, tinyInputs(2), (n) => n.endsWith('.g'), 8)).toBe(16);
  });

  it('a method needing a hook the site lacks is a tune error', () => {
    const text = `${tiny}\n${keyGain.replace('MultiHeadAttention(dim, heads)', 'Linear(out)').replace('f32[heads, 1, dim / heads]', 'f32[out]')}\ntune bad for TinyClassifier { key_gain() on head }\n`;
    const r = compileFrontEnd({ host: fileHost(), file: 'test.mile', text, tune: 'bad', training: false });
    expect(r.diagnostics[0]!.message).toBe('`key_gain` needs the hook `keys` in the forward of Linear, which has none');
  });

  const gate = `
method gate on Linear(out) {
  shared param s: f32[out] = ones
  rewrite(x) { base(x) * s }
}
`;

  it('shared parameters are created once per tune item', () => {
    const text = `${tiny}\n${gate}\ntune g for TinyClassifier { gate() on blocks.*.mlp.fc2, blocks.*.attn.out }\n`;
    const fe = compile(text, 'g');
    const added = fe.forward.params.filter((p) => p.addedBy === 'gate');
    expect(added.map((p) => [p.name, p.shape])).toEqual([['gate_0.s', [32]]]);
    expect(fe.train!.grads['gate_0.s']).toBeDefined();
    const p = randomParams(fe.forward, 8, { B: 2 });
    expect(gradCheck(fe, { B: 2 }, p, tinyInputs(2), (n) => n === 'gate_0.s', 8)).toBe(8);
  });

  it('a shared parameter whose shape differs between the sites is located', () => {
    const text = `${tiny}\n${gate}\ntune g for TinyClassifier { gate() on blocks[0].mlp.{fc1, fc2} }\n`;
    const r = compileFrontEnd({ host: fileHost(), file: 'test.mile', text, tune: 'g', training: false });
    const d = r.diagnostics[0]!;
    expect(d.message).toBe(
      'shared parameter `s` uses `out`, which differs between the sites (int 64 at `blocks[0].mlp.fc1`, int 32 at `blocks[0].mlp.fc2`)',
    );
    expect({ line: d.span.line, col: d.span.col }).toEqual(at(text, 'out] = ones'));
  });

  it('several site types share one body, with renamed bindings', () => {
    const text = `${tiny}
method offset on Linear(out) | LayerNorm(dim = out) {
  param o: f32[out] = zeros
  rewrite(x) { base(x) + o }
}
tune o for TinyClassifier { offset() on head, norm, blocks.*.norm1 }
`;
    const fe = compile(text, 'o');
    expect(fe.forward.params.filter((p) => p.addedBy === 'offset').map((p) => [p.name, p.shape])).toEqual([
      ['blocks[0].norm1.o', [32]],
      ['blocks[1].norm1.o', [32]],
      ['norm.o', [32]],
      ['head.o', [4]],
    ]);
    const p = randomParams(fe.forward, 9, { B: 2 });
    expect(gradCheck(fe, { B: 2 }, p, tinyInputs(2), (n) => n.endsWith('.o'), 4)).toBe(16);
  });
});

describe('methods from used files', () => {
  it('are collected from `use`d files, and their errors point there', () => {
    const dir = mkdtempSync(join(tmpdir(), 'milec-method-'));
    writeFileSync(join(dir, 'adapters.mile'), `use std.nn\n${myLora}`);
    const main = linearModel(`tune t for L1 { my_lora(r = 2) on lin }`).replace('use std.nn', 'use std.nn, adapters');
    writeFileSync(join(dir, 'main.mile'), main);
    const r = compileFrontEnd({ host: fileHost(), file: join(dir, 'main.mile'), tune: 't', training: true });
    expect(renderDiagnostics(r.diagnostics, r.sources)).toBe('');
    expect(addedCount(r.result!, 'my_lora')).toBe(2 * 9);

    writeFileSync(join(dir, 'adapters.mile'), `use std.nn\n${myLora.replace('dropout(x, dropout) @ A^T', 'dropout(x, dropout) @ A')}`);
    const bad = compileFrontEnd({ host: fileHost(), file: join(dir, 'main.mile'), tune: 't', training: false });
    const d = bad.diagnostics[0]!;
    expect(d.message).toBe('matmul inner dimensions differ: [B, 3, 5] @ [2, 5] (5 vs 2)');
    expect(d.span.file).toMatch(/adapters\.mile$/);
    expect(d.related?.[0]?.message).toBe('in `my_lora` at `lin` (Linear), applied here');
    expect(d.related?.[0]?.span.file).toMatch(/main\.mile$/);
  });

  it('does not change the registry a caller passes in', () => {
    const registry = new MethodRegistry();
    const text = linearModel(`${myLora}\ntune t for L1 { my_lora(r = 2) on lin }`);
    compile(text, 't', { registry });
    compile(text, 't', { registry });
    expect(registry.get('my_lora')).toBeUndefined();
  });
});
