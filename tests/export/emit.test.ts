/**
 * The PyTorch export's compiler side, without PyTorch: model.py mirrors the .mile modules
 * (one class each, the config as constructor defaults), and what it cannot translate is a
 * located diagnostic (a PEFT method without a PyTorch implementation: one written in .mile, a parameter named like a
 * Python keyword); `milec export` reports it and writes nothing.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { emitTorchModel } from '../../compiler/emit/torch/model.ts';
import { torchPeftSpec } from '../../compiler/emit/torch/peft-spec.ts';
import { compileFrontEnd } from '../../compiler/pipeline.ts';
import { CompileError } from '../../core/diagnostic.ts';
import { fileHost } from '../../runtime/source-files.ts';
import { milec } from '../helpers/milec.ts';
import { compileTune, exportTune } from './helpers.ts';

const WITH_MILE_METHOD = `use std.nn
method my_lora(r: int = 2) on Linear(in, out) {
  param A: f32[r, in] = normal(0, 0.5)
  param B: f32[out, r] = zeros
  rewrite(x) { base(x) + x @ A^T @ B^T }
}
model M { input x: f32[B, 4]
  l = Linear(4, 2)
  forward { loss mean(l(x)) } }
tune d for M { my_lora(r = 2) on l }
`;

function compile(text: string, tune?: string) {
  const r = compileFrontEnd({ host: fileHost(), file: 'test.mile', text, tune, training: true });
  if (!r.result) throw new Error(r.diagnostics.map((d) => d.message).join('; '));
  return r.result;
}

function diagnosticOf(f: () => unknown) {
  try {
    f();
  } catch (e) {
    if (e instanceof CompileError) return e.diagnostic;
    throw e;
  }
  throw new Error('expected a CompileError');
}

describe('model.py', () => {
  it('has one class per .mile module with its forward, and the model with its config (overrides included)', () => {
    const fe = compileTune('prefix');
    const { text } = emitTorchModel(fe.model, 'examples/miss_tiny.mile', fe.program.modules);
    for (const m of ['Linear', 'LayerNorm', 'BertSelfAttention', 'BertLMHeadModel', 'VisionTransformer', 'Conv2d', 'MissTiny'])
      expect(text).toMatch(new RegExp(`^class ${m}\\(mile\\.Module\\):$`, 'm'));
    // Absent in this configuration, but a constructor may build it.
    expect(text).toMatch(/^class BertPooler\(mile\.Module\):$/m);
    expect(text).toContain('def __init__(self, image=16, patch=8, dim=16, depth=1, heads=2, hidden=16, vocab=64, qlen=5, alen=5, p=0.0');
    // A keyword argument is renamed, a hook is a method call, select is lazy, `/` between ints exact.
    expect(text).toContain('def __init__(self, in_, out, bias=True, std=0.02):');
    expect(text).toContain('self.milec_hook("keys", ');
    expect(text).toContain('self.crossattention(a, context, context_mask) if self.cross else a');
    expect(text).toContain('hd = mile.div(self.dim, self.heads)');
    expect(text).toContain('mile.dropout(self.LayerNorm(mile.add(x, tt)), self.p, training=self.training)');
  });
});

describe('what the export cannot translate', () => {
  it('a method milec_peft.py lacks (one written in .mile) is an error at its tune item', () => {
    const fe = compile(WITH_MILE_METHOD, 'd');
    const d = diagnosticOf(() => torchPeftSpec(fe.model, fe.tune));
    expect(d.message).toContain('no implementation of the method `my_lora`');
    expect(d.help).toContain('lora, dora, ia3, adapter, prompt, ln_tuning, prefix, ptv2');
    expect(d.span.line).toBe(10);
  });

  it('a parameter named like a Python keyword or an nn.Module attribute is an error at its declaration', () => {
    const fe = compile(`model M { input x: f32[B, 4]
  param lambda: f32[4] = ones
  forward { loss mean(x * lambda) } }`);
    const d = diagnosticOf(() => emitTorchModel(fe.model, 'test.mile', fe.program.modules));
    expect(d.message).toContain('`lambda` is a Python keyword');
    expect(d.span.line).toBe(2);
    const shadowing = compile(`model M { input x: f32[B, 4]
  param buffers: f32[4] = ones
  forward { loss mean(x * buffers) } }`);
    const e = diagnosticOf(() => emitTorchModel(shadowing.model, 'test.mile', shadowing.program.modules));
    expect(e.message).toContain('`buffers` is an attribute of every PyTorch module');
  });

  it('milec export prints the located error and writes nothing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'milec-export-'));
    try {
      await writeFile(join(dir, 'm.mile'), WITH_MILE_METHOD);
      const r = await milec('export', join(dir, 'm.mile'), '--tune', 'd', '--torch', join(dir, 'out'), '--steps', '1');
      expect(r.code).toBe(1);
      expect(r.err).toContain('cannot export to PyTorch: milec_peft.py has no implementation of the method `my_lora`');
      expect(r.err).toMatch(/m\.mile:10:\d+/);
      expect(existsSync(join(dir, 'out'))).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('the export folder', () => {
  it('an export replaces an earlier one, but not a folder holding anything else (a run of train.py)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'milec-export-'));
    try {
      const out = join(dir, 'pkg');
      await exportTune('ptv2', out, { batch: 2, steps: 1 });
      await exportTune('ptv2', out, { batch: 2, steps: 1 });
      await mkdir(join(out, 'run'));
      await expect(exportTune('ptv2', out, { batch: 2, steps: 1 })).rejects.toThrow(/holds run besides an earlier export/);
      expect(existsSync(join(out, 'run'))).toBe(true);
      await mkdir(join(dir, 'other'));
      await writeFile(join(dir, 'other', 'notes.txt'), 'mine');
      await expect(exportTune('ptv2', join(dir, 'other'), { batch: 2, steps: 1 })).rejects.toThrow(/not a folder milec export wrote/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
