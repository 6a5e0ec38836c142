import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function milec(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/milec.js', ...args], { encoding: 'utf8', env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const data = ['--data', 'vqa-rad:tests/fixtures/vqa/vqa-rad', '--vocab', 'tests/fixtures/tokenizer/vocab.txt'];

describe('training and evaluating on a VQA-RAD-format folder', () => {
  it('trains, reports the corrupt image by path, and prints the three accuracies', () => {
    const out = mkdtempSync(join(tmpdir(), 'milec-rad-'));
    const t = milec('train', 'examples/miss_tiny.mile', '--tune', 'f_f_lora_r4', ...data, '--steps', '2', '--batch', '2', '--out', out, '--json');
    expect(t.code, t.err).toBe(0);
    expect(t.err).toMatch(/VQA_RAD Image Folder\/synpic300\.jpg: .*item skipped/);
    const e = milec('eval', 'examples/miss_tiny.mile', '--checkpoint', out, ...data, '--beams', '1', '--json');
    expect(e.code, e.err).toBe(0);
    const acc = JSON.parse(e.out.trim().split('\n').pop()!);
    expect(acc).toMatchObject({ n: 2 });
    expect(acc.nOpen + acc.nClosed).toBe(2);
    expect(acc.global).toBeGreaterThanOrEqual(0);
  });

  it('a missing vocabulary is a one-line error naming the option', () => {
    const r = milec('train', 'examples/miss_tiny.mile', '--tune', 'f_f_lora_r4', '--data', 'vqa-rad:tests/fixtures/vqa/vqa-rad', '--steps', '1');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/vocab/);
    expect(r.err).not.toMatch(/\bat .*\.ts:\d+/);
  });
});
