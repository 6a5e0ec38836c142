/** `milec new method NAME [--dir DIR]`: scaffolds a PEFT-method plugin file. */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkMethodName, methodConstName, scaffoldMethod } from '../compiler/emit/method-scaffold.ts';
import { builtinMethods } from '../compiler/peft/registry.ts';
import { UsageError, UserError } from './errors.ts';

/** A bad name is a `UsageError`, an existing file a `UserError`. */
export function newMethodCommand(name: string, o: { dir: string }): number {
  const bad = checkMethodName(
    name,
    builtinMethods.map((m) => m.name),
  );
  if (bad) throw new UsageError(bad);
  const path = join(o.dir, `${name}.ts`);
  if (existsSync(path)) throw new UserError(`${path} already exists; refusing to overwrite it (choose another name or --dir)`);
  const text = scaffoldMethod(name, { methodImport: 'milec/peft' });
  mkdirSync(o.dir, { recursive: true });
  writeFileSync(path, text, { flag: 'wx' });
  process.stdout.write(
    `wrote ${path}: PEFT method \`${name}\` (export ${methodConstName(name)}); use it with \`milec train FILE.mile --plugin ${path} --tune …\`\n`,
  );
  return 0;
}
