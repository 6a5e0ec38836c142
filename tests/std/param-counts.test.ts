/**
 * std.vit and std.bert against the parameter counts of the reference implementations
 * (timm ViT-B/16, HF bert-base-uncased, the MISS model of the MILE study), the trainable
 * counts of the study's tunes by closed form, compile time, and numerics of Conv2d.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compileFrontEnd, type FrontEnd } from '../../compiler/pipeline.ts';
import { specialize } from '../../compiler/ir/specialize.ts';
import type { Graph } from '../../compiler/ir/graph.ts';
import { runReference } from '../../runtime/reference-run.ts';
import { initialParams } from '../../runtime/params.ts';
import { fileHost } from '../../runtime/source-files.ts';
import { elementCount } from '../../core/dim.ts';

const MISS = 'examples/miss_vqa.mile';
const count = (g: Graph, keep: (p: Graph['params'][number]) => boolean = () => true) =>
  g.params.filter(keep).reduce((n, p) => n + elementCount(p.shape), 0);

/** Compiles (inference graph) and returns the front end with the time it took. */
function compile(opts: { file?: string; text?: string; tune?: string }): { fe: FrontEnd; ms: number } {
  const t0 = performance.now();
  const r = compileFrontEnd({ host: fileHost(), file: opts.file ?? 'test.mile', text: opts.text, tune: opts.tune, training: false });
  const ms = performance.now() - t0;
  if (!r.result) throw new Error(r.diagnostics.map((d) => `${d.span.file}:${d.span.line}:${d.span.col} ${d.message}`).join('\n'));
  return { fe: r.result, ms };
}

// timm `vit_base_patch16_224`: the encoder, with an optional 1000-class head on the CLS token.
const vitB16 = (head: boolean) => `
use std.nn, std.vit
model ViTB16 {
  config { image = 224, patch = 16, dim = 768, depth = 12, heads = 12, classes = 1000 }
  input image: f32[B, 3, image, image]
  vit  = VisionTransformer(image, patch, dim, depth, heads)
  ${head ? 'head = Linear(dim, classes)' : ''}
  forward { output y = ${head ? 'head(vit(image)[:, 0])' : 'vit(image)'} }
}`;

// HF `BertModel` for bert-base-uncased: token-type embeddings (2 × 768) and the pooler.
const bertBase = `
use std.bert
model BertBase {
  config { vocab = 30522, dim = 768, depth = 12, heads = 12, hidden = 3072, seq = 16 }
  input ids: i32[B, seq]
  bert = BertModel(vocab, dim, depth, heads, hidden, token_types = 2, add_pooling_layer = true)
  forward {
    let h = bert(ids)
    output pooled = bert.pooler(h)
  }
}`;

describe('parameter counts of the reference models', () => {
  it('ViT-B/16 at 224: 85,798,656 without a head, 86,567,656 with the 1000-class head (timm)', () => {
    const bare = compile({ text: vitB16(false) });
    const headed = compile({ text: vitB16(true) });
    expect(count(bare.fe.forward)).toBe(85_798_656);
    expect(count(headed.fe.forward)).toBe(86_567_656);
    expect(bare.fe.forward.nodes[bare.fe.forward.outputs.y!]!.shape).toEqual(['B', 197, 768]);
    // timm's state-dict names.
    const names = bare.fe.forward.params.map((p) => p.name);
    for (const n of [
      'vit.patch_embed.proj.weight',
      'vit.cls_token',
      'vit.pos_embed',
      'vit.blocks[11].attn.qkv.bias',
      'vit.blocks[0].mlp.fc2.weight',
      'vit.blocks[0].norm1.weight',
      'vit.norm.bias',
    ]) {
      expect(names).toContain(n);
    }
  });

  it('HF BertModel (bert-base-uncased, with token types and pooler): 109,482,240', () => {
    const { fe } = compile({ text: bertBase });
    expect(count(fe.forward)).toBe(109_482_240);
    const names = fe.forward.params.map((p) => p.name);
    for (const n of [
      'bert.embeddings.token_type_embeddings.weight',
      'bert.embeddings.position_embeddings.weight',
      'bert.embeddings.LayerNorm.weight',
      'bert.encoder.layer[11].attention.self.value.bias',
      'bert.encoder.layer[0].attention.output.dense.weight',
      'bert.encoder.layer[0].intermediate.dense.weight',
      'bert.encoder.layer[0].output.LayerNorm.bias',
      'bert.pooler.dense.weight',
    ]) {
      expect(names).toContain(n);
    }
    expect(fe.forward.nodes[fe.forward.outputs.pooled!]!.shape).toEqual(['B', 768]);
  });
});

describe('MISS (examples/miss_vqa.mile)', () => {
  // Closed forms. d = 768, hidden 3072, 12 layers, vocab 30524, 901 image tokens.
  const d = 768,
    H = 3072,
    L = 12,
    V = 30524,
    N = 900;
  const lin = (i: number, o: number) => i * o + o;
  const ln = 2 * d;
  const vit = lin(3 * 16 * 16, d) + d + (N + 1) * d + L * (2 * ln + lin(d, 3 * d) + lin(d, d) + lin(d, H) + lin(H, d)) + ln;
  const attention = 3 * lin(d, d) + lin(d, d) + ln; // query, key, value; output.dense + LayerNorm
  const layer = 2 * attention + lin(d, H) + lin(H, d) + ln; // self + cross, intermediate, output
  const bert = V * d + 512 * d + ln + L * layer; // no token types, no pooler (med.py)
  const decoder = bert + lin(d, d) + ln + V; // + cls.predictions.transform and the tied head's bias
  const total = vit + bert + decoder;
  const loraQV = (r: number) => L * 2 * 2 * r * (d + d); // q and v of self + cross, per BERT
  // r·(in + out) on qkv, proj, fc1, fc2 of each block, and r·(in·k·k + out) on the patch Conv2d.
  const loraViT = (r: number) => L * r * (d + 3 * d + d + d + d + H + H + d) + r * (3 * 16 * 16 + d);
  const ia3Bert = L * (4 * d + d + d + H); // k, v (self + cross); in-side on 3 output.dense
  const prefix = 10 * d + lin(d, d) + lin(d, L * 2 * d);
  const ptv2 = 10 * L * 2 * d;

  const trainable = (tune: string) => {
    const { fe } = compile({ file: MISS, tune });
    return { trainable: count(fe.forward, (p) => p.trainable), all: count(fe.forward), fe };
  };

  it('has the parameter count of the public code: 361,478,972', () => {
    const { fe } = compile({ file: MISS });
    expect([vit, bert, decoder]).toEqual([86_339_328, 137_258_496, 137_881_148]);
    expect(total).toBe(361_478_972);
    const g = fe.forward;
    expect(count(g)).toBe(total);
    expect(count(g, (p) => p.name.startsWith('visual_encoder.'))).toBe(vit);
    expect(count(g, (p) => p.name.startsWith('text_encoder.'))).toBe(bert);
    expect(count(g, (p) => p.name.startsWith('text_decoder.'))).toBe(decoder);
    // The card's 361,482,044 would need a token-type table in each BERT, which med.py lacks.
    const names = g.params.map((p) => p.name);
    expect(names.some((n) => n.includes('token_type') || n.includes('pooler'))).toBe(false);
    // The LM head is tied: its only own parameters are the transform and the bias.
    expect(names.filter((n) => n.startsWith('text_decoder.cls.')).sort()).toEqual([
      'text_decoder.cls.predictions.bias',
      'text_decoder.cls.predictions.transform.LayerNorm.bias',
      'text_decoder.cls.predictions.transform.LayerNorm.weight',
      'text_decoder.cls.predictions.transform.dense.bias',
      'text_decoder.cls.predictions.transform.dense.weight',
    ]);
    expect(g.nodes[g.outputs.logits!]!.shape).toEqual(['B', 9, V]);
    expect(g.nodes[g.outputs.loss!]!.shape).toEqual([]);
  });

  it('trains the closed-form number of parameters in each tune', () => {
    expect(trainable('f_f_t').trainable).toBe(decoder);
    expect(trainable('f_t_t').trainable).toBe(bert + decoder);
    expect(trainable('t_t_t').trainable).toBe(total);
    expect(trainable('f_f_lora_r4').trainable).toBe(loraQV(4));
    expect(trainable('t_t_lora_r8').trainable).toBe(vit + bert + loraQV(8));
    expect(trainable('f_lora_lora_r8').trainable).toBe(2 * loraQV(8));
    expect(trainable('lora_lora_lora_r4').trainable).toBe(2 * loraQV(4) + loraViT(4));
    expect(trainable('f_f_ia3').trainable).toBe(ia3Bert);
    expect(trainable('ia3_ia3_ia3').trainable).toBe(2 * ia3Bert + L * (3 * d + d));
    expect(trainable('f_prefix_prefix').trainable).toBe(2 * prefix);
    expect(trainable('t_t_ptv2').trainable).toBe(vit + bert + ptv2);

    // The study's rows with the ViT trained in full and PEFT on both text parts, and with the
    // text encoder trained in full and PEFT on the decoder.
    expect(trainable('t_lora_lora_r4').trainable).toBe(vit + 2 * loraQV(4));
    expect(trainable('t_lora_lora_r8').trainable).toBe(vit + 2 * loraQV(8));
    expect(trainable('t_prefix_prefix').trainable).toBe(vit + 2 * prefix);
    expect(trainable('t_ia3_ia3').trainable).toBe(vit + 2 * ia3Bert);
    expect(trainable('t_ptv2_ptv2').trainable).toBe(vit + 2 * ptv2);
    expect(trainable('f_t_lora_r4').trainable).toBe(bert + loraQV(4));
    expect(trainable('f_t_lora_r8').trainable).toBe(bert + loraQV(8));
    expect(trainable('f_t_ia3').trainable).toBe(bert + ia3Bert);

    // LoRA r = 4 on JTM + decoder trains 589,824 = 0.163% of base + added.
    const r4 = trainable('f_lora_lora_r4');
    expect(r4.trainable).toBe(589_824);
    expect(r4.all).toBe(total + 589_824);
    expect(((100 * r4.trainable) / r4.all).toFixed(3)).toBe('0.163');
    // P-tuning v2 (like prefix) sits on self-attention only: med.py feeds past_key_values there.
    const ptv = trainable('f_ptv2_ptv2')
      .fe.tune.matches.filter((m) => m.method === 'ptv2')
      .flatMap((m) => m.sites);
    expect(ptv).toHaveLength(2 * L);
    expect(ptv.every((s) => s.endsWith('.attention.self'))).toBe(true);
  });

  // Speed is measured by `npm run bench` (planning every tune), not asserted here.
  it('compiles every tune of the grid', () => {
    const tunes = [...readFileSync(MISS, 'utf8').matchAll(/^tune (\w+) for MissVQA/gm)].map((m) => m[1]!);
    expect(tunes).toHaveLength(29);
    for (const tune of tunes) expect(compile({ file: MISS, tune }).fe.tune.tune).toBe(tune);
  });
});

// --------------------------------------------------------------------------------------------
// Numerics and shapes on small instances.

/** Runs a forward graph on the float64 reference with seeded parameters and given inputs. */
function run(fe: FrontEnd, B: number, inputs: Record<string, Float64Array>, seed = 3) {
  const g = specialize(fe.forward, { B });
  const params = new Map([...initialParams(g, seed)].map(([k, v]) => [k, Float64Array.from(v)]));
  const values = runReference(g, { params, inputs: new Map(Object.entries(inputs)) });
  return { g, params, out: (name: string) => values[g.outputs[name]!]! };
}

describe('std.vit Conv2d', () => {
  it('matches a direct stride = kernel convolution', () => {
    const [B, C, O, K, Hh, W] = [2, 3, 4, 2, 4, 6];
    const { fe } = compile({
      text: `use std.vit
model Conv { input x: f32[B, ${C}, ${Hh}, ${W}]
  conv = Conv2d(${C}, ${O}, ${K})
  forward { output y = conv(x) } }`,
    });
    const x = Float64Array.from({ length: B * C * Hh * W }, (_, i) => Math.sin(0.37 * i + 0.1));
    const { params, out } = run(fe, B, { x });
    const w = params.get('conv.weight')!;
    const bias = params.get('conv.bias')!;
    expect(bias.some((v) => v !== 0)).toBe(true);
    const y = out('y');
    const [hp, wp] = [Hh / K, W / K];
    expect(y.shape).toEqual([B, O, hp, wp]);
    for (let b = 0; b < B; b++)
      for (let o = 0; o < O; o++)
        for (let i = 0; i < hp; i++)
          for (let j = 0; j < wp; j++) {
            let s = bias[o]!;
            for (let c = 0; c < C; c++)
              for (let ky = 0; ky < K; ky++)
                for (let kx = 0; kx < K; kx++) {
                  s += w[((o * C + c) * K + ky) * K + kx]! * x[((b * C + c) * Hh + i * K + ky) * W + j * K + kx]!;
                }
            expect(y.data[((b * O + o) * hp + i) * wp + j]).toBeCloseTo(s, 12);
          }
  });
});

describe('std.vit Attention', () => {
  it('splits the fused qkv output as timm does: [q | k | v], heads contiguous within each', () => {
    const [N, D, heads] = [3, 4, 2];
    const hd = D / heads;
    const { fe } = compile({
      text: `use std.vit\nmodel A { input x: f32[B, ${N}, ${D}]\n attn = Attention(${D}, ${heads})\n forward { output y = attn(x) } }`,
    });
    const x = Float64Array.from({ length: N * D }, (_, i) => Math.sin(1.3 * i + 0.2));
    const { params, out } = run(fe, 1, { x });
    const lin = (w: Float64Array, b: Float64Array, rows: number[][], o: number) =>
      rows.map((r) => Array.from({ length: o }, (_, j) => b[j]! + r.reduce((s, v, k) => s + v * w[j * r.length + k]!, 0)));
    const xs = Array.from({ length: N }, (_, n) => Array.from(x.slice(n * D, (n + 1) * D)));
    const qkv = lin(params.get('attn.qkv.weight')!, params.get('attn.qkv.bias')!, xs, 3 * D);
    const ctx = xs.map(() => new Array<number>(D).fill(0));
    for (let h = 0; h < heads; h++) {
      const col = (part: number, n: number, e: number) => qkv[n]![part * D + h * hd + e]!;
      for (let i = 0; i < N; i++) {
        const s = Array.from(
          { length: N },
          (_, j) => Array.from({ length: hd }, (_, e) => col(0, i, e) * col(1, j, e)).reduce((a, b) => a + b) / Math.sqrt(hd),
        );
        const z = s.map((v) => Math.exp(v - Math.max(...s)));
        const p = z.map((v) => v / z.reduce((a, b) => a + b));
        for (let e = 0; e < hd; e++) ctx[i]![h * hd + e] = p.reduce((a, pj, j) => a + pj * col(2, j, e), 0);
      }
    }
    const want = lin(params.get('attn.proj.weight')!, params.get('attn.proj.bias')!, ctx, D).flat();
    const got = Array.from(out('y').data);
    want.forEach((v, i) => expect(got[i]).toBeCloseTo(v, 12));
  });
});

describe('std.vit and std.bert block shapes', () => {
  const small = `use std.vit, std.bert
model Small {
  config { vocab = 50, dim = 16, heads = 2, hidden = 32, depth = 2, T = 5 }
  input image: f32[B, 3, 8, 8]
  input ids:   i32[B, T]
  input answer: i32[B, T]
  vit = VisionTransformer(8, 4, dim, depth, heads)
  enc = BertModel(vocab, dim, depth, heads, hidden, cross = true, encoder_width = dim)
  dec = BertLMHeadModel(vocab, dim, depth, heads, hidden, cross = true)
  txt = BertModel(vocab, dim, depth, heads, hidden)
  forward {
    output patches = vit.patch_embed(image)
    output block = vit.blocks[0](patches)
    output v = vit(image)
    output q = enc(ids, v)
    output text = txt(ids)
    output logits = dec(answer, q)
  }
}`;

  it('gives each block the shape of its reference', () => {
    const { fe } = compile({ text: small });
    const g = fe.forward;
    const shape = (o: string) => g.nodes[g.outputs[o]!]!.shape;
    expect(shape('patches')).toEqual(['B', 4, 16]);
    expect(shape('block')).toEqual(['B', 4, 16]);
    expect(shape('v')).toEqual(['B', 5, 16]);
    expect(shape('q')).toEqual(['B', 5, 16]);
    expect(shape('text')).toEqual(['B', 5, 16]);
    expect(shape('logits')).toEqual(['B', 5, 50]);
    // One per ViT block call; per BERT layer: self + cross for enc and dec, self only for txt
    // (the stand-in branch of a layer without cross-attention is dead and removed).
    const softmaxes = g.nodes.filter((n) => n.op === 'softmax').length;
    expect(softmaxes).toBe(2 /* vit */ + 1 /* block */ + 2 * 2 /* enc */ + 2 * 2 /* dec */ + 2 /* txt */);
  });

  it('the decoder is causal and its logits use the tied word embeddings', () => {
    const { fe } = compile({ text: small });
    const B = 2,
      T = 5;
    const image = Float64Array.from({ length: B * 3 * 64 }, (_, i) => Math.cos(0.11 * i));
    const ids = Float64Array.from({ length: B * T }, (_, i) => (i * 7 + 3) % 50);
    const answer = Float64Array.from({ length: B * T }, (_, i) => (i * 5 + 1) % 50);
    const changed = Float64Array.from(answer);
    changed[T - 1] = (changed[T - 1]! + 1) % 50; // only the last answer token of sample 0
    const a = run(fe, B, { image, ids, answer }).out('logits').data;
    const b = run(fe, B, { image, ids, answer: changed }).out('logits').data;
    const row = 50;
    // Sample 0: positions before the changed token are unchanged, the last one differs.
    expect(Array.from(b.slice(0, (T - 1) * row))).toEqual(Array.from(a.slice(0, (T - 1) * row)));
    expect(b.slice((T - 1) * row, T * row)).not.toEqual(a.slice((T - 1) * row, T * row));
    // The decoder owns no vocabulary projection of its own.
    expect(fe.forward.params.filter((p) => p.name.startsWith('dec.') && p.shape[0] === 50).map((p) => p.name)).toEqual([
      'dec.bert.embeddings.word_embeddings.weight',
      'dec.cls.predictions.bias',
    ]);
  });
});
