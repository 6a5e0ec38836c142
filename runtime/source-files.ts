/** `.mile` sources from the filesystem: the `SourceHost` of every command. */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { displayPath, type SourceHost } from '../compiler/sema/source-host.ts';
import { PACKAGE_ROOT } from './package-root.ts';

/** milec's standard library folder. */
export const STD_DIR = join(PACKAGE_ROOT, 'std');

/** Reads `.mile` files from disk; std from the installed package. */
export function fileHost(cwd: string = process.cwd()): SourceHost {
  return {
    stdDir: STD_DIR,
    readFile: (path) => (existsSync(path) && statSync(path).isFile() ? readFileSync(path, 'utf8') : undefined),
    mileFiles: (dir) => (existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.mile')) : []),
    displayName: (path) => displayPath(path, STD_DIR, cwd),
  };
}
