/**
 * Prefix tuning and P-tuning v2 use Hugging Face's position ids. peft passes the prefix as
 * `past_key_values` and drops `position_ids`, and HF's BERT (BLIP's med.py too) numbers the
 * real tokens from `past_key_values_length` = n: positions n … n+T−1. On a tiny std.bert
 * BertModel the float64 reference must equal an independent BERT written here, with the n
 * virtual key/value rows prepended in every layer and the position ids explicitly shifted by
 * n; the position table's gradient must land on rows n … n+T−1; each BERT of an
 * encoder-decoder gets its own offset; and misuse (two token counts in one BERT, positions
 * past `max_positions`) is a located error.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compileFrontEnd } from '../../compiler/pipeline.ts';
import type { PeftMethod } from '../../compiler/peft/method.ts';
import { builtinMethods, MethodRegistry } from '../../compiler/peft/registry.ts';
import { gelu } from '../../compiler/ops/reference.ts';
import { fileHost } from '../../runtime/source-files.ts';
import { B, compile, expectClose, floats, gradCheck, gradients, linearRows, type Params, randomParams, run } from './helpers.ts';

const vocab = 20;
const dim = 8;
const heads = 2;
const hidden = 16;
const depth = 2;
const T = 4;
const n = 3;
const maxPositions = 16;

const text = (extra = '') => `use std.bert

model Enc {
  input ids: i32[B, ${T}]
  input y: f32[B, ${T}, ${dim}]
  bert = BertModel(${vocab}, ${dim}, ${depth}, ${heads}, ${hidden}, max_positions = ${maxPositions})
  forward {
    output h = bert(ids)
    loss mean((h - y) * (h - y))
  }
}

tune base for Enc { train ** }
tune ptv2 for Enc { ptv2(tokens = ${n}) on bert.encoder.layer.*.attention.self }
tune prefix for Enc { prefix(tokens = ${n}, hidden = 5) on bert.encoder.layer.*.attention.self }
tune ptv2_pos for Enc {
  train bert.embeddings.position_embeddings
  ptv2(tokens = ${n}) on bert.encoder.layer.*.attention.self
}
${extra}`;

const ids = Int32Array.from({ length: B * T }, (_, i) => 1 + ((i * 7) % (vocab - 1)));
const inputs = () =>
  new Map<string, Float64Array | Int32Array>([
    ['ids', ids],
    ['y', floats(B * T * dim, 5)],
  ]);

// ------------------------------------------------------------------ an independent BERT

function layerNorm(x: Float64Array, rows: number, w: Float64Array, b: Float64Array): Float64Array {
  const out = new Float64Array(x.length);
  for (let r = 0; r < rows; r++) {
    const row = x.subarray(r * dim, (r + 1) * dim);
    const mean = row.reduce((a, c) => a + c, 0) / dim;
    const variance = row.reduce((a, c) => a + (c - mean) ** 2, 0) / dim;
    for (let j = 0; j < dim; j++) out[r * dim + j] = ((row[j]! - mean) / Math.sqrt(variance + 1e-12)) * w[j]! + b[j]!;
  }
  return out;
}

const add = (a: Float64Array, b: Float64Array) => a.map((v, i) => v + b[i]!);

/**
 * HF's BertModel with past_key_values: `past[l]` = [keys, values] rows ([m, dim] each) of
 * layer l, position ids `start` … `start`+T−1. No masks, no dropout.
 */
function bert(p: Params, tokens: Int32Array, start: number, past: readonly (readonly [Float64Array, Float64Array])[]): Float64Array {
  const g = (name: string) => p.get(`bert.${name}`)!;
  const out = new Float64Array(B * T * dim);
  const hd = dim / heads;
  for (let b = 0; b < B; b++) {
    let x: Float64Array = new Float64Array(T * dim);
    for (let t = 0; t < T; t++)
      for (let j = 0; j < dim; j++)
        x[t * dim + j] =
          g('embeddings.word_embeddings.weight')[tokens[b * T + t]! * dim + j]! +
          g('embeddings.position_embeddings.weight')[(start + t) * dim + j]!;
    x = layerNorm(x, T, g('embeddings.LayerNorm.weight'), g('embeddings.LayerNorm.bias'));
    for (let l = 0; l < depth; l++) {
      const at = (name: string) => g(`encoder.layer[${l}].${name}`);
      const lin = (name: string, rows: Float64Array, outDim: number) =>
        linearRows(rows, T, at(`${name}.weight`), outDim, at(`${name}.bias`));
      const q = lin('attention.self.query', x, dim);
      const [pk, pv] = past[l] ?? [new Float64Array(0), new Float64Array(0)];
      const k = Float64Array.from([...pk, ...lin('attention.self.key', x, dim)]);
      const v = Float64Array.from([...pv, ...lin('attention.self.value', x, dim)]);
      const S = k.length / dim;
      const ctx = new Float64Array(T * dim);
      for (let h = 0; h < heads; h++)
        for (let i = 0; i < T; i++) {
          const scores = Array.from({ length: S }, (_, j) => {
            let s = 0;
            for (let e = 0; e < hd; e++) s += q[i * dim + h * hd + e]! * k[j * dim + h * hd + e]!;
            return s / Math.sqrt(hd);
          });
          const mx = Math.max(...scores);
          const w = scores.map((s) => Math.exp(s - mx));
          const z = w.reduce((a, c) => a + c);
          for (let e = 0; e < hd; e++) ctx[i * dim + h * hd + e] = w.reduce((acc, wj, j) => acc + (wj / z) * v[j * dim + h * hd + e]!, 0);
        }
      const a = layerNorm(
        add(lin('attention.output.dense', ctx, dim), x),
        T,
        at('attention.output.LayerNorm.weight'),
        at('attention.output.LayerNorm.bias'),
      );
      const inter = lin('intermediate.dense', a, hidden).map(gelu);
      x = layerNorm(add(lin('output.dense', inter, dim), a), T, at('output.LayerNorm.weight'), at('output.LayerNorm.bias'));
    }
    out.set(x, b * T * dim);
  }
  return out;
}

/** Columns [c0, c0 + w) of a row-major [rows, cols] matrix. */
const columns = (m: Float64Array, rows: number, cols: number, c0: number, w: number) =>
  Float64Array.from({ length: rows * w }, (_, i) => m[Math.floor(i / w) * cols + c0 + (i % w)]!);

/** peft's past_key_values from P [n, depth·2·dim]: layer l's keys are block 2l, its values block 2l + 1. */
function pastOf(P: Float64Array): [Float64Array, Float64Array][] {
  const w = depth * 2 * dim;
  return Array.from({ length: depth }, (_, l) => [columns(P, n, w, 2 * l * dim, dim), columns(P, n, w, (2 * l + 1) * dim, dim)]);
}

function table(tune: string, p: Params): Float64Array {
  if (tune !== 'prefix') return p.get('ptv2_0.embedding')!;
  const hid = linearRows(
    p.get('prefix_0.embedding')!,
    n,
    p.get('prefix_0.transform_in_weight')!,
    5,
    p.get('prefix_0.transform_in_bias')!,
  ).map(Math.tanh);
  return linearRows(hid, n, p.get('prefix_0.transform_out_weight')!, depth * 2 * dim, p.get('prefix_0.transform_out_bias')!);
}

describe('prefix tuning and P-tuning v2 start the positions after the virtual tokens', () => {
  it('the independent BERT reproduces the base model (positions 0 … T−1)', () => {
    const fe = compile(text(), 'base');
    const p = randomParams(fe.forward, 1, { B });
    expectClose(run(fe.forward, { B }, p, inputs()).h!, bert(p, ids, 0, []));
  });

  for (const tune of ['ptv2', 'prefix']) {
    it(`${tune}: equals HF's forward with past_key_values (n rows per layer) and position ids n … n+T−1`, () => {
      const fe = compile(text(), tune);
      const p = randomParams(fe.forward, 2, { B });
      const got = run(fe.forward, { B }, p, inputs()).h!;
      const past = pastOf(table(tune, p));
      expectClose(got, bert(p, ids, n, past));
      // Positions from 0 (milec before, and HF without the prefix's past length) differ: the test has teeth.
      const from0 = bert(p, ids, 0, past);
      expect(Math.max(...got.map((v, i) => Math.abs(v - from0[i]!)))).toBeGreaterThan(1e-3);
    });
  }

  it('the position table gets gradient on rows n … n+T−1 only, and it matches finite differences', () => {
    const fe = compile(text(), 'ptv2_pos');
    const p = randomParams(fe.forward, 3, { B });
    const g = gradients(fe, { B }, p, inputs()).get('bert.embeddings.position_embeddings.weight')!;
    const rowNorm = (r: number) => Math.hypot(...g.subarray(r * dim, (r + 1) * dim));
    for (let r = 0; r < maxPositions; r++) {
      if (r >= n && r < n + T) expect(rowNorm(r), `row ${r}`).toBeGreaterThan(1e-8);
      else expect(rowNorm(r), `row ${r}`).toBe(0);
    }
    gradCheck(fe, { B }, p, inputs(), (name) => name === 'bert.embeddings.position_embeddings.weight' || name === 'ptv2_0.embedding', 40);
  });

  it('each BERT of an encoder-decoder gets its own offset; tunes without a prefix keep positions 0 …', () => {
    const vqa = readFileSync('examples/vqa_tiny.mile', 'utf8');
    const tunes = `
tune dec for VqaTiny { ptv2(tokens = 4) on text_decoder.bert.encoder.layer.*.attention.self }
tune both for VqaTiny {
  prefix(tokens = 3, hidden = 8) on text_encoder.encoder.layer.*.attention.self
  ptv2(tokens = 4) on text_decoder.bert.encoder.layer.*.attention.self
}`;
    /** The [start, stop) rows of each position table the graph reads. */
    const starts = (tune: string) => {
      const fe = compileFrontEnd({ host: fileHost(), file: 'vqa.mile', text: vqa + tunes, tune, training: true });
      expect(fe.diagnostics).toEqual([]);
      const g = fe.result!.forward;
      const out: Record<string, [number, number | null]> = {};
      for (const prm of g.params.filter((q) => q.name.endsWith('position_embeddings.weight'))) {
        const slice = g.nodes.find((x) => x.op === 'slice' && x.src[0] === prm.node)!;
        const r = (slice.attrs as { ranges: { start: number; stop: number | null }[] }).ranges[0]!;
        out[prm.name.split('.')[0]!] = [r.start, r.stop];
      }
      return out;
    };
    // Questions of 8 tokens; the decoder reads answer[:, :-1], 5 tokens.
    expect(starts('f_f_lora')).toEqual({ text_encoder: [0, 8], text_decoder: [0, 5] });
    expect(starts('dec')).toEqual({ text_encoder: [0, 8], text_decoder: [4, 9] });
    expect(starts('both')).toEqual({ text_encoder: [3, 11], text_decoder: [4, 9] });
  });

  it('two token counts in one BERT are a located error at the second selector', () => {
    const tune = `tune mixed for Enc {
  ptv2(tokens = ${n}) on bert.encoder.layer[0].attention.self
  prefix(tokens = 2, hidden = 5) on bert.encoder.layer[1].attention.self
}`;
    const src = text(tune);
    const r = compileFrontEnd({ host: fileHost(), file: 'test.mile', text: src, tune: 'mixed', training: true });
    expect(r.diagnostics).toHaveLength(1);
    const d = r.diagnostics[0]!;
    expect(d.code).toBe('tune');
    expect(d.message).toContain('`prefix` on `bert.encoder.layer[1].attention.self` sets `hook past_length` of `bert` (BertModel) to 2');
    expect(d.message).toContain(`\`ptv2\` on \`bert.encoder.layer[0].attention.self\` sets it to ${n}`);
    expect(d.span.line).toBe(src.split('\n').findIndex((l) => l.includes('prefix(tokens = 2')) + 1);
    expect(src.split('\n')[d.span.line - 1]!.slice(d.span.col - 1)).toMatch(/^bert\.encoder\.layer\[1\]/);
    expect(d.related?.[0]?.message).toContain(`sets \`past_length\` to ${n}`);
    expect(d.help).toContain('max_positions');
  });

  it('a method giving an enclosing hook a value that is not an int is a tune error', () => {
    const half: PeftMethod = {
      name: 'half',
      summary: 'sets past_length to 1.5',
      sites: ['Linear'],
      options: {},
      enclosingHooks: { past_length: { value: () => 1.5, doc: 'not an int' } },
      params: () => [],
      rewrite: (ctx) => ctx.base(ctx.args),
    };
    const src = text(`tune half for Enc { half() on bert.encoder.layer[0].attention.self.query }`);
    const registry = new MethodRegistry([...builtinMethods, half]);
    const r = compileFrontEnd({ host: fileHost(), file: 'test.mile', text: src, tune: 'half', training: true, registry });
    expect(r.diagnostics.map((d) => d.message)).toEqual(['`half` gives `hook past_length` the value 1.5, which is not an int']);
  });

  it('positions past max_positions are a located error at the tune item', () => {
    const tooMany = maxPositions - T + 1;
    const tune = `tune long for Enc { ptv2(tokens = ${tooMany}) on bert.encoder.layer.*.attention.self }`;
    const src = text(tune);
    const r = compileFrontEnd({ host: fileHost(), file: 'test.mile', text: src, tune: 'long', training: true });
    expect(r.diagnostics).toHaveLength(1);
    const d = r.diagnostics[0]!;
    expect(d.message).toContain(
      `\`ptv2\` on \`bert.encoder.layer[0].attention.self\` sets \`hook past_length\` of \`bert\` (BertModel) to ${tooMany}`,
    );
    expect(d.message).toContain(`out of range for axis 0 of size ${maxPositions}`);
    expect(d.span.file).toBe('test.mile');
    expect(src.split('\n')[d.span.line - 1]!.slice(d.span.col - 1)).toMatch(/^ptv2\(tokens = 13\)/);
    expect(d.help).toContain('max_positions');
    // One fewer token fits exactly.
    expect(
      compile(text(`tune fits for Enc { ptv2(tokens = ${tooMany - 1}) on bert.encoder.layer.*.attention.self }`), 'fits').forward,
    ).toBeDefined();
  });
});
