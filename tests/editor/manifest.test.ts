/**
 * The VS Code extension's manifest (`editors/vscode/package.json`) points at files that exist and
 * agree with each other: what `vsce package` would only find out at install time, or never.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const EXTENSION = join(import.meta.dirname, '..', '..', 'editors', 'vscode');
const read = (file: string) => readFileSync(join(EXTENSION, file), 'utf8');
const manifest = JSON.parse(read('package.json')) as {
  main: string;
  engines: { vscode: string };
  scripts: Record<string, string>;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  contributes: {
    languages: { id: string; extensions: string[]; configuration: string }[];
    grammars: { language: string; scopeName: string; path: string }[];
    commands: { command: string }[];
    configuration: { properties: Record<string, unknown> };
  };
};

describe('the VS Code extension manifest', () => {
  it('contributes the mile language with its configuration and grammar', () => {
    const [language] = manifest.contributes.languages;
    expect(language).toMatchObject({ id: 'mile', extensions: ['.mile'] });
    expect(existsSync(join(EXTENSION, language!.configuration))).toBe(true);
    const [grammar] = manifest.contributes.grammars;
    expect(grammar).toMatchObject({ language: 'mile', scopeName: 'source.mile' });
    expect(JSON.parse(read(grammar!.path)).scopeName).toBe(grammar!.scopeName);
  });

  it('runs the bundle the build script writes, and bundles the client', () => {
    expect(manifest.scripts.bundle).toContain(`--outfile=${manifest.main.replace(/^\.\//, '')}`);
    expect(manifest.scripts.bundle).toContain('--external:vscode');
    expect(manifest.scripts.package).toContain('--no-dependencies');
    expect(Object.keys(manifest.dependencies)).toEqual(['vscode-languageclient']);
  });

  it('targets a VS Code no older than the API types it compiles against', () => {
    const version = (v: string) =>
      v
        .replace(/^[^\d]*/, '')
        .split('.')
        .map(Number);
    const [engineMajor, engineMinor] = version(manifest.engines.vscode);
    const [typesMajor, typesMinor] = version(manifest.devDependencies['@types/vscode']!);
    expect(engineMajor! * 1000 + engineMinor!).toBeGreaterThanOrEqual(typesMajor! * 1000 + typesMinor!);
  });

  it('declares every setting and command the client uses', () => {
    const client = read('src/extension.ts');
    const settings = [...client.matchAll(/getConfiguration\('(\w+)'\)\.get<\w+>\('(\w+)'/g)].map((m) => `${m[1]}.${m[2]}`);
    const changed = [...client.matchAll(/affectsConfiguration\('([\w.]+)'\)/g)].map((m) => m[1]!);
    const commands = [...client.matchAll(/registerCommand\('([\w.]+)'/g)].map((m) => m[1]!);
    expect(settings).toEqual(['milec.serverPath']);
    for (const s of [...settings, ...changed]) expect(Object.keys(manifest.contributes.configuration.properties)).toContain(s);
    expect(commands).toEqual(manifest.contributes.commands.map((c) => c.command));
    // `vscode-languageclient` reads `<client id>.trace.server` for its tracing.
    expect(client).toContain("new LanguageClient('milec',");
    expect(manifest.contributes.configuration.properties).toHaveProperty(['milec.trace.server']);
  });
});
