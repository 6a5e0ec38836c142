/**
 * `milec new method NAME`: the scaffolded plugin type-checks strictly, registers, and works
 * as scaffolded (a zero-initialised delta: trainable, with gradients, identity at init);
 * existing files are never overwritten and invalid names are usage errors.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';
import { checkMethodName, methodConstName } from '../../compiler/emit/method-scaffold.ts';
import { specialize } from '../../compiler/ir/specialize.ts';
import type { PeftMethod } from '../../compiler/peft/method.ts';
import { MethodRegistry } from '../../compiler/peft/registry.ts';
import { compileFrontEnd } from '../../compiler/pipeline.ts';
import { planTraining } from '../../compiler/cost/report.ts';
import { initialParams } from '../../runtime/params.ts';
import { runReference } from '../../runtime/reference-run.ts';
import { fileHost } from '../../runtime/source-files.ts';
import { milec } from '../helpers/milec.ts';

mkdirSync('out', { recursive: true });
const dir = mkdtempSync(join(resolve('out'), 'new-method-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = join(dir, 'my_delta.ts');

describe('milec new method', () => {
  it('scaffolds a plugin that type-checks strictly', async () => {
    const r = await milec('new', 'method', 'my_delta', '--dir', dir);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`wrote ${join(dir, 'my_delta.ts')}`);
    const text = readFileSync(file, 'utf8');
    expect(text).toContain("from 'milec/peft'");
    expect(text).toContain('export const myDeltaMethod: PeftMethod = {');
    for (const section of ['---- sites', '---- options', '---- params', '---- rewrite']) expect(text).toContain(section);

    const cfg = ts.readConfigFile('tsconfig.json', ts.sys.readFile);
    const parsed = ts.parseJsonConfigFileContent(cfg.config, ts.sys, resolve('.'));
    const program = ts.createProgram([file], { ...parsed.options, noEmit: true });
    const errs = ts.getPreEmitDiagnostics(program).filter((d) => d.file && resolve(d.file.fileName) === file);
    expect(errs.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'))).toEqual([]);
    expect(parsed.options.strict).toBe(true);
  });

  it('works as scaffolded: trainable zero delta, gradients, identity at initialisation', async () => {
    const mod = (await import(pathToFileURL(file).href)) as Record<string, PeftMethod>;
    const method = mod.myDeltaMethod!;
    expect(mod.default).toBe(method);
    const registry = new MethodRegistry();
    registry.register(method);
    const src =
      readFileSync('examples/tiny_classifier.mile', 'utf8') +
      '\ntune mine for TinyClassifier {\n  my_delta(scale = 2.0) on blocks.*.mlp.fc2\n}\n';
    const train = compileFrontEnd({
      host: fileHost(),
      file: 'examples/tiny_classifier.mile',
      text: src,
      tune: 'mine',
      training: true,
      registry,
    });
    expect(train.diagnostics).toEqual([]);
    const fe = train.result!;
    const plan = planTraining(fe, { bindings: { B: 2 } });
    const dim = Number((fe.model.config.get('dim') as { v: number }).v);
    const depth = Number((fe.model.config.get('depth') as { v: number }).v);
    expect(plan.addedByMethod).toEqual([{ method: 'my_delta', params: depth * dim, tensors: depth }]);
    expect(plan.trainableParams).toBe(depth * dim);
    expect(Object.keys(fe.train!.grads).sort()).toEqual(Array.from({ length: depth }, (_, i) => `blocks[${i}].mlp.fc2.delta`));

    // delta = 0: the same logits as the untuned model (parameters are seeded by name)
    const logits = (tune: string | undefined) => {
      const r = compileFrontEnd({
        host: fileHost(),
        file: 'examples/tiny_classifier.mile',
        text: src,
        tune,
        training: false,
        registry,
      }).result!;
      const g = specialize(r.forward, { B: 2 });
      const params = new Map([...initialParams(g, 1)].map(([k, v]) => [k, Float64Array.from(v)]));
      const seq = Number((r.model.config.get('seq') as { v: number }).v);
      const inputs = new Map<string, Int32Array>([
        ['tokens', Int32Array.from({ length: 2 * seq }, (_, i) => (i * 7) % 13)],
        ['labels', Int32Array.of(0, 1)],
      ]);
      return runReference(g, { params, inputs })[g.outputs.logits!]!.data;
    };
    expect(logits('mine')).toEqual(logits(undefined));
  });

  it('goes from `milec new method` to the commands that compile with --plugin, with no code around it, from any folder', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'milec-plugin-'));
    try {
      expect((await milec('new', 'method', 'mine', '--dir', outside)).code).toBe(0);
      const mile = join(outside, 'tiny_mine.mile');
      writeFileSync(
        mile,
        readFileSync('examples/tiny_classifier.mile', 'utf8') +
          '\ntune mine for TinyClassifier {\n  train head\n  mine(scale = 2.0) on blocks.*.mlp.fc2\n}\n',
      );
      const plugin = join(outside, 'mine.ts');
      const check = await milec('check', mile, '--tune', 'mine', '--plugin', plugin);
      expect(check.err).toBe('');
      expect(check.out).toMatch(/ok — model TinyClassifier, tune mine: 20,420 parameters, 196 trainable/);
      const plan = await milec('plan', mile, '--tune', 'mine', '--plugin', plugin, '--json');
      expect(plan.code).toBe(0);
      expect(JSON.parse(plan.out).addedByMethod).toEqual([{ method: 'mine', params: 64, tensors: 2 }]);
      const without = await milec('check', mile, '--tune', 'mine');
      expect(without.code).toBe(1);
      expect(without.err).toContain('unknown PEFT method `mine`');
      const missing = await milec('compile', mile, '--tune', 'mine', '--emit', 'ir', '--plugin', join(outside, 'nope.ts'));
      expect([missing.code, missing.err]).toEqual([1, `error: ${join(outside, 'nope.ts')}: no such file\n`]);
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  it('refuses to overwrite an existing file', async () => {
    writeFileSync(join(dir, 'taken.ts'), '// mine\n');
    const r = await milec('new', 'method', 'taken', '--dir', dir);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/taken\.ts already exists; refusing to overwrite it/);
    expect(readFileSync(join(dir, 'taken.ts'), 'utf8')).toBe('// mine\n');
  });

  it('rejects invalid names as usage errors', async () => {
    for (const [name, why] of [
      ['My-Method', /not a valid method name: use lowercase letters, digits and _/],
      ['9lives', /not a valid method name/],
      ['lora', /already a built-in PEFT method/],
      ['train', /reserved word of the \.mile language/],
    ] as const) {
      const r = await milec('new', 'method', name, '--dir', dir);
      expect(r.code, name).toBe(2);
      expect(r.err).toMatch(why);
    }
    expect((await milec('new', 'method')).code).toBe(2);
  });

  it('names the export after the method', async () => {
    expect(methodConstName('my_delta')).toBe('myDeltaMethod');
    expect(methodConstName('delete')).toBe('deleteMethod');
    expect(methodConstName('ptv2')).toBe('ptv2Method');
    expect(checkMethodName('ok_name2', [])).toBeUndefined();
  });
});
