/**
 * `--plugin FILE.ts` (runtime/plugins.ts : loadPlugins): a plugin file's exported methods join
 * the built-ins; a file that cannot be used is a one-line error naming it and the reason.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { builtinMethods } from '../../compiler/peft/registry.ts';
import { compileFrontEnd } from '../../compiler/pipeline.ts';
import { loadPlugins, methodShapeError, PluginError } from '../../runtime/plugins.ts';
import { fileHost } from '../../runtime/source-files.ts';

mkdirSync('out', { recursive: true });
const dir = mkdtempSync(join(resolve('out'), 'plugins-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const write = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

describe('loadPlugins', () => {
  it('adds the methods a file exports to the built-ins, and the compiler uses them', async () => {
    const registry = await loadPlugins(['examples/plugins/ssf.ts']);
    expect(registry.names()).toEqual([...builtinMethods.map((m) => m.name), 'ssf']);
    const src = `${readFileSync('examples/tiny_classifier.mile', 'utf8')}\ntune ssf_mlp for TinyClassifier {\n  ssf() on blocks.*.mlp.fc2\n}\n`;
    const fe = compileFrontEnd({
      host: fileHost(),
      file: 'examples/tiny_classifier.mile',
      text: src,
      tune: 'ssf_mlp',
      training: true,
      registry,
    });
    expect(fe.diagnostics).toEqual([]);
    expect(
      Object.keys(fe.result!.train!.grads)
        .filter((k) => k.includes('ssf'))
        .sort(),
    ).toEqual(['blocks[0].mlp.fc2.ssf_scale', 'blocks[0].mlp.fc2.ssf_shift', 'blocks[1].mlp.fc2.ssf_scale', 'blocks[1].mlp.fc2.ssf_shift']);
  });

  it('reports a file it cannot use on one line, naming it', async () => {
    const cases: [string, RegExp][] = [
      [join(dir, 'missing.ts'), /missing\.ts: no such file$/],
      [write('empty.ts', 'export const x = 1;\n'), /empty\.ts: exports no PEFT method/],
      [write('syntax.ts', 'export const m = \n'), /syntax\.ts: cannot load it: .*(Unexpected end of file|Transform failed)/],
      [
        write(
          'bad_name.ts',
          "export const m = { name: 'Bad', summary: '', sites: ['Linear'], options: {}, params: () => [], rewrite: () => 0 };\n",
        ),
        /bad_name\.ts: method `Bad` has no valid `name`/,
      ],
      [
        write(
          'clash.ts',
          "export const m = { name: 'lora', summary: '', sites: ['Linear'], options: {}, params: () => [], rewrite: () => 0 };\n",
        ),
        /clash\.ts: PEFT method `lora` is already registered \(a built-in\)/,
      ],
    ];
    for (const [path, why] of cases) {
      const err = await loadPlugins([path]).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, path).toBeInstanceOf(PluginError);
      expect((err as Error).message).toMatch(why);
      expect((err as Error).message).not.toContain('\n');
    }
  });

  it('checks the shape of a method', () => {
    const ok = {
      name: 'm',
      summary: 's',
      sites: ['Linear'],
      options: { r: { type: 'int', default: 2 } },
      params: () => [],
      rewrite: () => 0,
    };
    expect(methodShapeError(ok)).toBeUndefined();
    expect(methodShapeError({ ...ok, sites: [] })).toMatch(/no `sites`/);
    expect(methodShapeError({ ...ok, options: { r: { type: 'int', default: true } } })).toMatch(
      /option `r` has a default that is not a number/,
    );
    expect(methodShapeError({ ...ok, options: { r: { type: 'str', default: 1 } } })).toMatch(/option `r` has no type/);
    expect(methodShapeError({ ...ok, params: undefined })).toMatch(/no `params/);
    expect(methodShapeError({ ...ok, hooks: 'keys' })).toMatch(/`hooks` is not a list/);
    expect(methodShapeError({ ...ok, enclosingHooks: { past_length: { value: () => 1, doc: 'the offset' } } })).toBeUndefined();
    expect(methodShapeError({ ...ok, enclosingHooks: { past_length: 3 } })).toMatch(
      /`enclosingHooks.past_length` is not \{ value\(options\), doc \}/,
    );
  });
});
