/**
 * `--plugin FILE.ts`: PEFT methods written in TypeScript, loaded into the registry a compilation
 * uses (`compileFrontEnd({ registry })`). A plugin file exports one or more `PeftMethod`s (named
 * or default exports) and imports milec as `milec/peft`, as `milec new method` scaffolds it.
 *
 * Two things make such a file importable wherever it lives:
 *  - TypeScript: from the sources (bin/milec.js without a bundle, vitest) a loader is already
 *    active; the bundle (dist/milec.mjs) registers tsx's ESM loader on the first plugin.
 *  - `milec/...`: resolved as milec itself would resolve it (a self-reference through package.json
 *    `exports`), so a plugin outside any project that depends on milec still finds the running
 *    milec, and a project's own copy cannot mix with it.
 */
import { existsSync, statSync } from 'node:fs';
import { register } from 'node:module';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CompileError } from '../core/diagnostic.ts';
import type { PeftMethod } from '../compiler/peft/method.ts';
import { builtinMethods, MethodRegistry } from '../compiler/peft/registry.ts';
import { PACKAGE_ROOT } from './package-root.ts';

/** A plugin file that cannot be used; the message names the file and the reason, on one line. */
export class PluginError extends Error {
  override name = 'PluginError';
}

/** The registry of the built-ins (or `base`) plus every method the plugin files export, in order. */
export async function loadPlugins(paths: readonly string[], base: readonly PeftMethod[] = builtinMethods): Promise<MethodRegistry> {
  const registry = new MethodRegistry(base);
  if (paths.length === 0) return registry;
  await enablePluginImports();
  for (const path of paths) {
    for (const method of methodsOf(path, await importPlugin(path))) {
      if (registry.get(method.name))
        throw new PluginError(
          `${path}: PEFT method \`${method.name}\` is already registered (${base.some((m) => m.name === method.name) ? 'a built-in' : 'by an earlier plugin'}); rename it`,
        );
      registry.register(adoptErrors(method));
    }
  }
  return registry;
}

let importsEnabled: Promise<void> | undefined;

function enablePluginImports(): Promise<void> {
  importsEnabled ??= (async () => {
    // Hooks registered later run first: the `milec/...` mapping then hands the request on to tsx.
    if (!import.meta.url.endsWith('.ts')) (await import('tsx/esm/api')).register();
    register(`data:text/javascript,${encodeURIComponent(MILEC_RESOLVER)}`, {
      data: { self: pathToFileURL(join(PACKAGE_ROOT, 'package.json')).href },
    });
  })();
  return importsEnabled;
}

/**
 * A module resolve hook: `milec` and `milec/...` resolve from milec's own package.json, and a
 * TypeScript file outside node_modules is an ES module even where no package.json says
 * `"type": "module"` (a plugin in a bare folder: tsx would compile it to CommonJS, which
 * cannot import milec's ES modules).
 */
const MILEC_RESOLVER = `
let self;
export function initialize(data) { self = data.self; }
export async function resolve(specifier, context, next) {
  const milec = specifier === 'milec' || specifier.startsWith('milec/');
  const r = await next(specifier, milec ? { ...context, parentURL: self } : context);
  if (r.url.startsWith('file:') && /\\.ts$/.test(new URL(r.url).pathname) && !r.url.includes('/node_modules/')) return { ...r, format: 'module' };
  return r;
}
`;

async function importPlugin(path: string): Promise<Record<string, unknown>> {
  const abs = resolve(path);
  if (!existsSync(abs)) throw new PluginError(`${path}: no such file`);
  if (!statSync(abs).isFile()) throw new PluginError(`${path}: not a file`);
  try {
    return (await import(pathToFileURL(abs).href)) as Record<string, unknown>;
  } catch (e) {
    // One line: the first line of the message, and the next when the first only introduces it (esbuild's "Transform failed with 1 error:").
    const message = typeof (e as { message?: unknown })?.message === 'string' ? (e as { message: string }).message : String(e);
    const lines = message
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '');
    throw new PluginError(
      `${path}: cannot load it: ${lines[0]?.endsWith(':') && lines[1] ? `${lines[0]} ${lines[1]}` : (lines[0] ?? 'unknown error')}`,
    );
  }
}

/** The PEFT methods a plugin module exports: every export with a `rewrite` function, checked. */
function methodsOf(path: string, mod: Record<string, unknown>): PeftMethod[] {
  const candidates = [...new Set(Object.values(mod))].filter(
    (v): v is Record<string, unknown> => typeof v === 'object' && v !== null && typeof (v as { rewrite?: unknown }).rewrite === 'function',
  );
  if (candidates.length === 0)
    throw new PluginError(
      `${path}: exports no PEFT method (an object with name, summary, sites, options, params and rewrite; see \`milec new method\`)`,
    );
  return candidates.map((c) => {
    const bad = methodShapeError(c);
    if (bad) throw new PluginError(`${path}: ${typeof c.name === 'string' ? `method \`${c.name}\`` : 'an exported method'} ${bad}`);
    return c as unknown as PeftMethod;
  });
}

const isStringArray = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === 'string');

/** Why `m` is not a `PeftMethod`, or undefined when it is one (as far as the values show). */
export function methodShapeError(m: Record<string, unknown>): string | undefined {
  if (typeof m.name !== 'string' || !/^[a-z][a-z0-9_]*$/.test(m.name))
    return `has no valid \`name\` (lowercase letters, digits and _, got ${JSON.stringify(m.name)})`;
  if (typeof m.summary !== 'string') return 'has no `summary` string';
  if (!isStringArray(m.sites) || (m.sites as string[]).length === 0) return "has no `sites` (module types, or ['*'])";
  if (typeof m.options !== 'object' || m.options === null) return 'has no `options` object';
  for (const [k, o] of Object.entries(m.options as Record<string, { type?: unknown; default?: unknown }>)) {
    if (o?.type !== 'int' && o?.type !== 'float' && o?.type !== 'bool') return `option \`${k}\` has no type int, float or bool`;
    if (typeof o.default !== (o.type === 'bool' ? 'boolean' : 'number'))
      return `option \`${k}\` has a default that is not ${o.type === 'bool' ? 'a boolean' : 'a number'}`;
  }
  if (typeof m.params !== 'function') return 'has no `params(site, options)` function';
  if (m.shared !== undefined && typeof m.shared !== 'function') return '`shared` is not a function';
  if (m.hooks !== undefined && !isStringArray(m.hooks)) return '`hooks` is not a list of names';
  if (m.enclosingHooks !== undefined) {
    if (typeof m.enclosingHooks !== 'object' || m.enclosingHooks === null) return '`enclosingHooks` is not an object';
    for (const [k, h] of Object.entries(m.enclosingHooks as Record<string, { value?: unknown; doc?: unknown }>))
      if (typeof h?.value !== 'function' || typeof h.doc !== 'string') return `\`enclosingHooks.${k}\` is not { value(options), doc }`;
  }
  return undefined;
}

/**
 * From the bundle, a plugin's `milec/peft` is a second copy of the sources, so its
 * `CompileError` is another class: rethrow such errors as this copy's, so they stay located
 * diagnostics instead of internal errors.
 */
function adoptErrors(m: PeftMethod): PeftMethod {
  const adopt =
    <A extends unknown[], R>(f: (...a: A) => R) =>
    (...a: A): R => {
      try {
        return f(...a);
      } catch (e) {
        if (!(e instanceof CompileError) && e instanceof Error && e.constructor.name === 'CompileError' && 'diagnostic' in e)
          throw new CompileError((e as CompileError).diagnostic);
        throw e;
      }
    };
  return {
    ...m,
    params: adopt(m.params.bind(m)),
    ...(m.shared ? { shared: adopt(m.shared.bind(m)) } : {}),
    rewrite: adopt(m.rewrite.bind(m)),
  };
}
