/**
 * Backbone weights from safetensors through the name mappings, with small synthetic files
 * written here in each naming scheme (timm ViT, HF ViT, HF BERT, BLIP) for a tiny model.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileOk } from '../compiler/helpers.ts';
import { encodeSafetensors, type TensorToWrite } from '../../runtime/safetensors.ts';
import {
  interpolatePosEmbed,
  loadWeights,
  type ModelParamInfo,
  MAPPINGS,
  milecToDotted,
  WeightsError,
  weightsSources,
} from '../../runtime/weights.ts';
import { elementCount } from '../../core/dim.ts';

const MODEL = (image: number) => `use std.vit, std.bert
model Tiny {
  config { image = ${image}, patch = 8, dim = 32, depth = 2, heads = 4, vocab = 50, T = 8 }
  input image: f32[B, 3, image, image]
  input ids: i32[B, T]
  visual_encoder = VisionTransformer(image, patch, dim, depth, heads)
  text_encoder   = BertModel(vocab, dim, depth, heads, 64, max_positions = 16, cross = true, encoder_width = dim)
  forward {
    let v = visual_encoder(image)
    loss mean(text_encoder(ids, v))
  }
}
tune lora for Tiny { lora(r = 2) on text_encoder.**.query }
`;

function params(image = 32, tune?: string): readonly ModelParamInfo[] {
  return compileOk(MODEL(image), { training: true, tune }).train!.params;
}

/** A distinct, recognisable value per (key, element). */
function values(seed: number, n: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => seed * 1000 + i * 0.001);
}

function writeFile(tensors: Record<string, { shape: number[]; data?: Float32Array }>): string {
  const dir = mkdtempSync(join(tmpdir(), 'milec-weights-'));
  const path = join(dir, 'w.safetensors');
  const out: Record<string, TensorToWrite> = {};
  let i = 1;
  for (const [k, t] of Object.entries(tensors))
    out[k] = { dtype: 'F32', shape: t.shape, data: t.data ?? values(i++, elementCount(t.shape)) };
  writeFileSync(path, encodeSafetensors(out));
  return path;
}

const under = (ps: readonly ModelParamInfo[], prefix: string) => ps.filter((p) => !p.addedBy && p.name.startsWith(prefix + '.'));

describe('name mappings', () => {
  it('timm ViT under a prefix: every parameter lands at its path; the 2×2 grid is interpolated to 4×4', async () => {
    const ps = params(32);
    const file: Record<string, { shape: number[] }> = {};
    for (const p of under(ps, 'visual_encoder')) {
      const key = milecToDotted(p.name.slice('visual_encoder.'.length));
      file[key] = { shape: key === 'pos_embed' ? [1, 5, 32] : (p.shape as number[]) };
    }
    file['head.weight'] = { shape: [10, 32] }; // timm's classifier: dropped by the mapping
    const path = writeFile(file);
    const w = await loadWeights(weightsSources(`${path}@visual_encoder`, 'timm-vit'), ps);
    expect(w.missing).toEqual([]);
    const qkv = w.values.get('visual_encoder.blocks[1].attn.qkv.weight')!;
    expect(qkv.length).toBe(96 * 32);
    expect(w.sources.get('visual_encoder.blocks[1].attn.qkv.weight')![0]).toMatch(/^blocks\.1\.attn\.qkv\.weight in /);
    expect(w.values.get('visual_encoder.pos_embed')!.length).toBe(17 * 32);
    expect(w.notes.join('\n')).toMatch(/position grid 2×2 interpolated to 4×4 \(bicubic, CLS row kept\)/);
    // No text-encoder parameter is expected from a file loaded under visual_encoder.
    expect([...w.values.keys()].every((k) => k.startsWith('visual_encoder.'))).toBe(true);
    expect(w.values.size).toBe(under(ps, 'visual_encoder').length);
  });

  it('HF ViT: query/key/value are fused into qkv in that order, names translated', async () => {
    const ps = params(16);
    const file: Record<string, { shape: number[]; data?: Float32Array }> = {
      'vit.embeddings.patch_embeddings.projection.weight': { shape: [32, 3, 8, 8] },
      'vit.embeddings.patch_embeddings.projection.bias': { shape: [32] },
      'vit.embeddings.cls_token': { shape: [1, 1, 32] },
      'vit.embeddings.position_embeddings': { shape: [1, 5, 32] },
      'vit.layernorm.weight': { shape: [32] },
      'vit.layernorm.bias': { shape: [32] },
    };
    for (const n of [0, 1]) {
      const l = `vit.encoder.layer.${n}.`;
      for (const [j, q] of ['query', 'key', 'value'].entries()) {
        file[`${l}attention.attention.${q}.weight`] = { shape: [32, 32], data: new Float32Array(1024).fill(10 * n + j) };
        file[`${l}attention.attention.${q}.bias`] = { shape: [32], data: new Float32Array(32).fill(-(10 * n + j)) };
      }
      for (const [src, shape] of [
        ['attention.output.dense', [32, 32]],
        ['layernorm_before', [32]],
        ['layernorm_after', [32]],
        ['intermediate.dense', [128, 32]],
        ['output.dense', [32, 128]],
      ] as const) {
        file[`${l}${src}.weight`] = { shape: [...shape] };
        file[`${l}${src}.bias`] = { shape: [shape[0]] };
      }
    }
    const w = await loadWeights(weightsSources(`${writeFile(file)}@visual_encoder`, 'hf-vit'), ps);
    const qkv = w.values.get('visual_encoder.blocks[1].attn.qkv.weight')!;
    expect([qkv[0], qkv[1024], qkv[2048], qkv[3071]]).toEqual([10, 11, 12, 12]);
    expect(Array.from(w.values.get('visual_encoder.blocks[0].attn.qkv.bias')!.filter((_, i) => i % 32 === 0))).toEqual([-0, -1, -2]);
    expect(w.sources.get('visual_encoder.blocks[0].mlp.fc2.weight')![0]).toMatch(/^vit\.encoder\.layer\.0\.output\.dense\.weight/);
    expect(w.sources.get('visual_encoder.norm.bias')![0]).toMatch(/^vit\.layernorm\.bias/);
    expect(w.values.size).toBe(under(ps, 'visual_encoder').length);
  });

  it('HF BERT (bert-base-uncased names): `bert.` stripped, gamma/beta, pooler and position_ids dropped; LoRA parameters not expected', async () => {
    const ps = params(16, 'lora');
    const file: Record<string, { shape: number[] }> = {};
    for (const p of under(ps, 'text_encoder')) {
      let key = 'bert.' + milecToDotted(p.name.slice('text_encoder.'.length));
      if (key.endsWith('attention.output.LayerNorm.weight')) key = key.replace(/weight$/, 'gamma');
      if (key.endsWith('attention.output.LayerNorm.bias')) key = key.replace(/bias$/, 'beta');
      file[key] = { shape: p.shape as number[] };
    }
    file['bert.pooler.dense.weight'] = { shape: [32, 32] };
    file['bert.embeddings.token_type_embeddings.weight'] = { shape: [2, 32] };
    file['cls.predictions.decoder.weight'] = { shape: [50, 32] };
    const path = writeFile(file);
    expect(file['bert.encoder.layer.1.crossattention.output.LayerNorm.gamma']).toBeDefined();
    const w = await loadWeights(weightsSources(`${path}@text_encoder`, 'hf-bert'), ps);
    expect(w.sources.get('text_encoder.encoder.layer[1].crossattention.output.LayerNorm.weight')![0]).toMatch(
      /^bert\.encoder\.layer\.1\.crossattention\.output\.LayerNorm\.gamma in /,
    );
    expect(w.sources.get('text_encoder.embeddings.word_embeddings.weight')![0]).toMatch(/^bert\.embeddings\.word_embeddings\.weight in /);
    expect(w.values.has('text_encoder.encoder.layer[0].attention.self.query.lora_A')).toBe(false);
    expect(w.values.size).toBe(under(ps, 'text_encoder').length);
  });

  it('BLIP checkpoint names at the root: visual_encoder.* and text_encoder.*; momentum copies dropped', async () => {
    const ps = params(16);
    const file: Record<string, { shape: number[] }> = {};
    for (const p of ps) file[milecToDotted(p.name)] = { shape: p.shape as number[] };
    file['visual_encoder_m.cls_token'] = { shape: [1, 1, 32] };
    file['text_encoder.embeddings.position_ids'] = { shape: [1, 16] };
    const w = await loadWeights(weightsSources(writeFile(file), 'blip'), ps);
    expect(w.values.size).toBe(ps.length);
    expect(w.sources.get('text_encoder.encoder.layer[0].crossattention.self.key.bias')![0]).toMatch(
      /^text_encoder\.encoder\.layer\.0\.crossattention\.self\.key\.bias in /,
    );
  });

  it('missing, unexpected and mis-shaped keys are listed in one error naming the file; --allow-missing warns instead', async () => {
    const ps = params(16);
    const file: Record<string, { shape: number[] }> = {};
    for (const p of under(ps, 'visual_encoder')) file[milecToDotted(p.name.slice(15))] = { shape: p.shape as number[] };
    delete file['blocks.0.norm1.bias'];
    file['blocks.7.attn.qkv.weight'] = { shape: [96, 32] };
    file['blocks.1.mlp.fc1.weight'] = { shape: [128, 31] };
    const path = writeFile(file);
    const src = weightsSources(`${path}@visual_encoder`, 'timm-vit');
    const err = await loadWeights(src, ps).catch((e) => e);
    expect(err).toBeInstanceOf(WeightsError);
    expect(err.message).toContain(`cannot load weights from ${path} (mapping timm-vit):`);
    expect(err.message).toMatch(
      /1 mis-shaped:\n {4}blocks\.1\.mlp\.fc1\.weight in .*@visual_encoder: shape \[128, 31\], but visual_encoder\.blocks\.1\.mlp\.fc1\.weight is \[128, 32\]/,
    );
    expect(err.message).toMatch(/missing:\n {4}visual_encoder\.blocks\.0\.norm1\.bias \[32\] \(expected from /);
    expect(err.message).toMatch(
      /unexpected:\n {4}blocks\.7\.attn\.qkv\.weight \(→ visual_encoder\.blocks\.7\.attn\.qkv\.weight, not a parameter of the model\)/,
    );
    // Mis-shaped stays an error with --allow-missing; without it, the rest is a warning.
    await expect(loadWeights(src, ps, { allowMissing: true })).rejects.toThrow(/mis-shaped/);
    file['blocks.1.mlp.fc1.weight'] = { shape: [128, 32] };
    const w = await loadWeights(weightsSources(`${writeFile(file)}@visual_encoder`, 'timm-vit'), ps, { allowMissing: true });
    expect(w.missing).toHaveLength(1);
    expect(w.unexpected).toHaveLength(1);
    expect(w.notes.join('\n')).toMatch(/warning: .*--allow-missing/);
    expect(w.values.has('visual_encoder.blocks[0].norm1.bias')).toBe(false);
  });

  it('a missing or truncated file is an error naming it; an unknown mapping lists the known ones', async () => {
    await expect(loadWeights(weightsSources('/nonexistent/w.safetensors', 'timm-vit'), [])).rejects.toThrow(
      '/nonexistent/w.safetensors: no such file',
    );
    const path = writeFile({ a: { shape: [4] } });
    writeFileSync(path, encodeSafetensors({ a: { dtype: 'F32', shape: [4], data: new Float32Array(4) } }).subarray(0, 20));
    await expect(loadWeights(weightsSources(path, 'none'), [])).rejects.toThrow(path);
    expect(() => weightsSources('x', 'nope')).toThrow(/known: hf-bert, timm-vit, hf-vit, blip, none/);
    expect(Object.keys(MAPPINGS)).toEqual(['hf-bert', 'timm-vit', 'hf-vit', 'blip', 'none']);
  });
});

describe('position-embedding interpolation', () => {
  const d = 3;
  function field(g: number, f: (y: number, x: number, c: number) => number): Float32Array {
    const out = new Float32Array((1 + g * g) * d);
    for (let c = 0; c < d; c++) out[c] = 100 + c; // CLS
    for (let y = 0; y < g; y++) for (let x = 0; x < g; x++) for (let c = 0; c < d; c++) out[(1 + y * g + x) * d + c] = f(y, x, c);
    return out;
  }

  for (const mode of ['bicubic', 'bilinear'] as const) {
    it(`${mode}: keeps the CLS row and a constant field exactly (14 → 30, as 224 → 480)`, () => {
      const out = interpolatePosEmbed(
        field(14, (_, __, c) => 0.25 + c),
        d,
        14,
        30,
        1,
        mode,
      );
      expect(out.length).toBe((1 + 900) * d);
      expect(Array.from(out.subarray(0, d))).toEqual([100, 101, 102]);
      for (let i = 1; i < 901; i++) for (let c = 0; c < d; c++) expect(out[i * d + c]).toBeCloseTo(0.25 + c, 6);
    });

    // Bilinear reproduces a linear field exactly; PyTorch's bicubic kernel (Keys, a = -0.75,
    // not -0.5) reproduces constants exactly but linear fields only approximately.
    it(`${mode}: ${mode === 'bilinear' ? 'reproduces' : 'approximates (within 0.05)'} a linear field wherever its stencil needs no border clamping`, () => {
      const g = 8;
      const G = 12;
      const f = (y: number, x: number, c: number) => 0.5 * y - 0.25 * x + c;
      const out = interpolatePosEmbed(field(g, f), d, g, G, 1, mode);
      const s = g / G;
      let checked = 0;
      for (let y = 0; y < G; y++) {
        for (let x = 0; x < G; x++) {
          const sy = (y + 0.5) * s - 0.5;
          const sx = (x + 0.5) * s - 0.5;
          const lo = mode === 'bicubic' ? 1 : 0;
          const hi = mode === 'bicubic' ? g - 3 : g - 2;
          if (Math.floor(sy) < lo || Math.floor(sy) > hi || Math.floor(sx) < lo || Math.floor(sx) > hi || sy < 0 || sx < 0) continue;
          for (let c = 0; c < d; c++)
            expect(Math.abs(out[(1 + y * G + x) * d + c]! - f(sy, sx, c))).toBeLessThan(mode === 'bilinear' ? 1e-5 : 0.05);
          checked++;
        }
      }
      expect(checked).toBeGreaterThan(40);
    });
  }

  it('bicubic matches PyTorch F.interpolate(align_corners=False) on a 1-D ramp 2 → 4 (hand-computed)', () => {
    // Rows only vary along x: [[0, 1], [0, 1]] -> x positions -0.25, 0.25, 0.75, 1.25.
    const out = interpolatePosEmbed(Float32Array.from([9, 0, 1, 0, 1]), 1, 2, 4, 1, 'bicubic');
    // t = 0.75 at x = -0.25 (i0 = -1): taps -2,-1,0,1 clamp to 0,0,0,1; weights c2(1.75), c1(0.75), c1(0.25), c2(1.25).
    const A = -0.75;
    const c1 = (x: number) => ((A + 2) * x - (A + 3)) * x * x + 1;
    const c2 = (x: number) => ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
    const first = c2(1.25);
    const second = c1(0.75) + c2(1.75); // taps -1..2 clamp to 0,0,1,1: value = w(1) + w(2)
    expect(out[1]).toBeCloseTo(first, 6);
    expect(out[2]).toBeCloseTo(second, 6);
    expect(out[0]).toBe(9);
  });
});
