/**
 * The typed module as a user's project gets it: `milec compile -o` writes it into a folder
 * outside the checkout whose project depends on milec (`node_modules/milec`, a symlink to
 * this checkout, as `npm install /path/to/milec` makes), and a tsx script there imports it
 * and `milec/runtime` through package `exports`. The model has no `loss`, so the module is an
 * inference module; its weights come from a file with Hugging Face BERT names, loaded with
 * the `hf-bert` mapping.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { elementCount } from '../../core/dim.ts';
import { displayPath } from '../../core/param-path.ts';
import { compileFrontEnd } from '../../compiler/pipeline.ts';
import { encodeSafetensors, type TensorToWrite } from '../../runtime/safetensors.ts';
import { fileHost } from '../../runtime/source-files.ts';
import { milec, milecEnv, run } from '../helpers/milec.ts';

const MODEL = `use std.bert, std.nn
model TinyBert {
  config { vocab = 30, dim = 16, depth = 2, heads = 2, T = 8, classes = 3 }
  input ids: i32[B, T]
  bert = BertModel(vocab, dim, depth, heads, 32, max_positions = 16)
  head = Linear(dim, classes)
  forward {
    output logits = head(bert(ids)[:, 0])
  }
}
`;

const SCRIPT = `import { openDevice } from 'milec/runtime';
import { createModel, params } from './gen/TinyBert.ts';
const ctx = await openDevice();
try {
  const model = await createModel(ctx, 2);
  const loaded = await model.loadSafetensors(process.argv[2]!, { mapping: 'hf-bert', at: 'bert' });
  const weights = await model.readWeights();
  const out = await model.infer({ ids: new Int32Array(16).fill(3) });
  const q = weights.get('bert.encoder.layer.0.attention.self.query.weight')!;
  console.log(JSON.stringify({ loaded: loaded.length, params: Object.keys(params).length, sample: loaded[0], q: [q[0], q[1]], logits: out.logits.length, finite: out.logits.every(Number.isFinite) }));
  model.destroy();
} finally {
  ctx.close();
}
`;

const root = resolve('.');
const project = mkdtempSync(join(tmpdir(), 'milec-installed-'));
afterAll(() => rmSync(project, { recursive: true, force: true }));

describe('typed module in a project that depends on milec', () => {
  it('compiles a model without a loss to an inference module that loads HF-named weights', async () => {
    mkdirSync(join(project, 'node_modules'));
    symlinkSync(root, join(project, 'node_modules', 'milec'), 'dir');
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'user-project', type: 'module', private: true }));
    const mile = join(project, 'tiny_bert.mile');
    writeFileSync(mile, MODEL);
    const c = await milec('compile', mile, '-o', join(project, 'gen'));
    expect(c.code, c.err).toBe(0);
    expect(c.err).toMatch(/has no `loss` statement.*writing an inference module/);
    const text = readFileSync(join(project, 'gen', 'TinyBert.ts'), 'utf8');
    expect(text).toContain("from 'milec/runtime';");
    expect(text).toContain('export type TrainInputs = never;');
    expect(text).not.toContain('function trainStep(');
    expect(text).toContain("readonly 'bert.encoder.layer.0.attention.self.query.weight': readonly [16, 16];");

    // Every backbone parameter, under its Hugging Face name (`bert.` prefix, dotted indices).
    const fe = compileFrontEnd({ host: fileHost(), file: mile, training: false }).result!;
    const tensors: Record<string, TensorToWrite> = {};
    for (const p of fe.forward.params.filter((q) => q.name.startsWith('bert.'))) {
      const shape = p.shape.map(Number);
      tensors[displayPath(p.name)] = {
        dtype: 'F32',
        shape,
        data: Float32Array.from({ length: elementCount(shape) }, (_, i) => (i % 7) * 0.01),
      };
    }
    const bertParams = Object.keys(tensors).length;
    writeFileSync(join(project, 'bert.safetensors'), encodeSafetensors(tensors));
    writeFileSync(join(project, 'run.ts'), SCRIPT);

    const r = await run(join(root, 'node_modules', '.bin', 'tsx'), ['run.ts', 'bert.safetensors'], { cwd: project, env: milecEnv() });
    expect(r.code, r.err).toBe(0);
    const got = JSON.parse(r.out.trim().split('\n').pop()!);
    expect(got).toMatchObject({ loaded: bertParams, params: fe.forward.params.length, logits: 2 * 3, finite: true });
    expect(got.sample).toMatch(/^bert\.[A-Za-z_.0-9]+$/);
    expect(got.q[1]).toBeCloseTo(0.01, 6);
  });
});
