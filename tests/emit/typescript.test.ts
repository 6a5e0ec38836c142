/**
 * The typed module of `milec compile -o`: generated for the tiny example into out/ (git-
 * ignored), type-checked strictly with the TypeScript compiler API (no errors; misuse is
 * rejected), then imported and run on Dawn: weights from a Map and from safetensors, a
 * training step, and inference that agrees with the float64 reference before and after
 * training (so trained weights reach the inference plan).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';
import { emitTypeScriptModule, inferenceGraph } from '../../compiler/emit/typescript.ts';
import { graphFromJson, graphToJson } from '../../compiler/emit/graph-json.ts';
import { specialize } from '../../compiler/ir/specialize.ts';
import { compileFrontEnd } from '../../compiler/pipeline.ts';
import { openDataset } from '../../runtime/data/index.ts';
import { type GpuContext, openDevice } from '../../runtime/device.ts';
import { initialParams } from '../../runtime/params.ts';
import { runReference } from '../../runtime/reference-run.ts';
import { encodeSafetensors } from '../../runtime/safetensors.ts';
import type { CompiledModel, CompiledModelOptions } from '../../runtime/compiled-model.ts';
import { fileHost } from '../../runtime/source-files.ts';
import { displayPath, internalPath } from '../../core/param-path.ts';

/** The part of the generated module's API this test uses (the file only exists at run time). */
type TinyModel = CompiledModel<string, { tokens: Int32Array; labels: Int32Array }, { tokens: Int32Array }, { logits: Float32Array }>;
interface TinyModule {
  createModel(ctx: GpuContext, B: number, options?: CompiledModelOptions): Promise<TinyModel>;
  loadWeights(model: TinyModel, weights: ReadonlyMap<string, Float32Array>): string[];
  loadSafetensors(model: TinyModel, path: string): Promise<string[]>;
  trainStep(model: TinyModel, batch: { tokens: Int32Array; labels: Int32Array }): Promise<number>;
  infer(model: TinyModel, batch: { tokens: Int32Array }): Promise<{ logits: Float32Array }>;
}

const file = 'examples/tiny_classifier.mile';
const train = compileFrontEnd({ host: fileHost(), file, tune: 'lora_qv', training: true }).result!;
const fwd = compileFrontEnd({ host: fileHost(), file, tune: 'lora_qv', training: false }).result!;

// Under out/, inside the package folder: the module's `milec/runtime` resolves to this checkout
// by package self-reference (tests/emit/installed.test.ts covers a folder outside it).
mkdirSync('out', { recursive: true });
const dir = mkdtempSync(join(resolve('out'), 'emit-ts-'));
const modPath = join(dir, 'TinyClassifier.ts');
const text = emitTypeScriptModule({ model: train.model.name, tune: 'lora_qv', source: file, train: train.train, forward: fwd.forward });
writeFileSync(modPath, text);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Diagnostics of `files` under the project's compiler options (strict), as `file:line: message`. */
function typeCheck(files: string[]): string[] {
  const cfg = ts.readConfigFile('tsconfig.json', ts.sys.readFile);
  const parsed = ts.parseJsonConfigFileContent(cfg.config, ts.sys, resolve('.'));
  expect(parsed.options.strict).toBe(true);
  const program = ts.createProgram(files, { ...parsed.options, noEmit: true });
  const want = new Set(files.map((f) => resolve(f)));
  return ts
    .getPreEmitDiagnostics(program)
    .filter((d) => d.file && want.has(resolve(d.file.fileName)))
    .map((d) => {
      const { line } = d.file!.getLineAndCharacterOfPosition(d.start ?? 0);
      return `${d.file!.fileName}:${line + 1}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
    });
}

describe('typed TypeScript module', () => {
  it('is generated with the params, inputs and functions', () => {
    expect(text).toContain("readonly 'blocks.0.attn.query.lora_A': readonly [8, 32];");
    expect(text).toContain("from 'milec/runtime';");
    expect(text).not.toMatch(/from '\.\.?\//);
    expect(text).not.toContain("'blocks[");
    expect(text).toContain('readonly tokens: Int32Array;');
    expect(text).toMatch(/export function createModel\(ctx: GpuContext, B: number, options: CompiledModelOptions = \{\}\): Promise<Model>/);
    expect(text).toMatch(/export type TrainableParamName = 'blocks\.0\.attn\.query\.lora_A' \|/);
    expect(text).toContain('export function loadWeights(');
    for (const f of ['loadSafetensors', 'trainStep', 'infer', 'saveAdapter']) expect(text).toContain(`export async function ${f}(`);
    // inference does not need the labels
    expect(text).toMatch(/export interface InferInputs \{\s*\/\*\*[^*]*\*\/\s*readonly tokens: Int32Array;\s*\}/);
  });

  it('type-checks strictly with no errors, and rejects misuse', () => {
    expect(typeCheck([modPath])).toEqual([]);
    const misuse = join(dir, 'misuse.ts');
    writeFileSync(
      misuse,
      [
        "import { loadWeights, type Model, type ParamShapes, type TrainInputs } from './TinyClassifier.ts';",
        'declare const m: Model;',
        "loadWeights(m, { 'nope.weight': new Float32Array(1) });",
        'const bad: TrainInputs = { tokens: new Float32Array(4), labels: new Int32Array(1) };',
        "const s: ParamShapes['head.weight'] = [4, 31];",
        'export { bad, s };',
        '',
      ].join('\n'),
    );
    const errs = typeCheck([misuse]).join('\n');
    expect(errs).toMatch(/misuse\.ts:3: .*nope\.weight.* does not exist/);
    expect(errs).toMatch(/misuse\.ts:4: .*Float32Array.* is not assignable to type 'Int32Array/);
    expect(errs).toMatch(/misuse\.ts:5: .*'31' is not assignable to type '32'/);
  });

  it('serialized graphs round-trip', () => {
    const g = train.train!;
    const back = graphFromJson(graphToJson(g));
    expect(back.nodes.length).toBe(g.nodes.length);
    expect(back.nodes.map((n) => [n.op, n.src, n.shape, n.dtype])).toEqual(g.nodes.map((n) => [n.op, n.src, n.shape, n.dtype]));
    // parameter paths are written the user-facing way, everywhere in the graph
    expect(back.grads).toEqual(Object.fromEntries(Object.entries(g.grads).map(([k, v]) => [displayPath(k), v])));
    expect(back.params.map((p) => [p.name, p.trainable])).toEqual(g.params.map((p) => [displayPath(p.name), p.trainable]));
    expect(back.nodes.filter((n) => n.op === 'param').map((n) => (n.attrs as { name: string }).name)).toEqual(
      g.params.map((p) => displayPath(p.name)),
    );
    const inf = inferenceGraph(fwd.forward);
    expect(Object.keys(inf.outputs)).toEqual(['logits']);
    expect(inf.inputs.map((i) => i.name)).toEqual(['tokens']);
  });
});

describe('typed module on Dawn', () => {
  let ctx: GpuContext;
  beforeAll(async () => {
    ctx = await openDevice();
  });
  afterAll(() => ctx?.close());

  it('loads weights, trains a step and infers like the float64 reference', async () => {
    const mod = (await import(pathToFileURL(modPath).href)) as TinyModule;
    const B = 4;
    const model = await mod.createModel(ctx, B, { lr: 1e-2, seed: 3 });
    try {
      // weights from a Map (every parameter), then the head from a safetensors file
      const g = train.train!;
      const weights = initialParams(g, 11);
      expect(mod.loadWeights(model, weights).length).toBe(g.params.length);
      const head = new Float32Array(4 * 32).map((_, i) => Math.sin(i) * 0.1);
      weights.set('head.weight', head);
      const st = join(dir, 'head.safetensors');
      writeFileSync(st, encodeSafetensors({ 'head.weight': { dtype: 'F32', shape: [4, 32], data: head } }));
      expect(await mod.loadSafetensors(model, st)).toEqual(['head.weight']);
      expect(() => mod.loadWeights(model, new Map([['nope', new Float32Array(1)]]))).toThrow(/no parameter nope/);

      const data = openDataset('synthetic', train.model, 5);
      const batch = data.batch(0, B, 'train');
      const tokens = batch.inputs.tokens as Int32Array;
      const labels = batch.inputs.labels as Int32Array;

      const inf = specialize(inferenceGraph(fwd.forward), { B });
      const reference = (w: ReadonlyMap<string, Float32Array>) => {
        const vals = runReference(inf, {
          params: new Map([...w].map(([k, v]) => [internalPath(k), Float64Array.from(v)])),
          inputs: new Map([['tokens', tokens]]),
        });
        return vals[inf.outputs.logits!]!.data;
      };
      const close = (a: ArrayLike<number>, b: ArrayLike<number>) => {
        expect(a.length).toBe(b.length);
        for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThan(1e-3);
      };

      const before = await mod.infer(model, { tokens });
      expect(before.logits.length).toBe(B * 4);
      close(before.logits, reference(weights));

      const loss = await mod.trainStep(model, { tokens, labels });
      expect(Number.isFinite(loss)).toBe(true);
      await model.trainStep({ tokens, labels });
      expect(model.stepCount).toBe(2);

      const trained = await model.readWeights();
      const after = await mod.infer(model, { tokens });
      close(after.logits, reference(trained));
      expect(after.logits.some((v, i) => Math.abs(v - before.logits[i]!) > 1e-6)).toBe(true);
      // frozen weights did not move; trainable ones did
      expect(trained.get('blocks.0.attn.query.weight')).toEqual(weights.get('blocks[0].attn.query.weight'));
      expect(trained.get('head.weight')).not.toEqual(head);
    } finally {
      model.destroy();
    }
  });
});
