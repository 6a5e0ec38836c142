/**
 * Where milec's own files are: the package root, found by walking up from this module to the
 * `package.json` named milec. Works from the sources (tsx) and from the bundle (dist/).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'milec') return dir;
    if (dirname(dir) === dir) throw new Error(`cannot find milec's package.json above ${start}`);
  }
}

export const PACKAGE_ROOT = findRoot(dirname(fileURLToPath(import.meta.url)));

/** milec's version, from its package.json (recorded in the files it writes). */
export const MILEC_VERSION: string = (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
