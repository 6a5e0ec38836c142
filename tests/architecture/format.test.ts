/**
 * One formatter: every file Prettier covers is formatted as `npm run format` leaves it
 * (`.prettierrc.json`, `.prettierignore`). Fails naming the files to format.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as prettier from 'prettier';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');

describe('formatting', () => {
  it('every tracked source file is formatted by Prettier', async () => {
    const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' })
      .split('\n')
      .filter((f) => /\.(ts|mts|js|mjs|json)$/.test(f));
    expect(files.length).toBeGreaterThan(100);
    const unformatted: string[] = [];
    for (const file of files) {
      const path = join(ROOT, file);
      const info = await prettier.getFileInfo(path, { ignorePath: join(ROOT, '.prettierignore') });
      if (info.ignored || !info.inferredParser) continue;
      const options = await prettier.resolveConfig(path);
      let text: string;
      try {
        text = readFileSync(path, 'utf8');
      } catch {
        continue; // listed by git but deleted in the working tree
      }
      if (!(await prettier.check(text, { ...options, filepath: path }))) unformatted.push(file);
    }
    expect(unformatted, 'run `npm run format`').toEqual([]);
  });
});
