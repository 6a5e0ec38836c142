/** `milec plan --svg` and `milec compile --emit graph` on the command line. */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { milec } from '../helpers/milec.ts';

const tiny = 'examples/tiny_classifier.mile';
const dir = mkdtempSync(join(tmpdir(), 'milec-picture-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('milec plan --svg', () => {
  it('writes the picture of one tune beside the plan it prints', async () => {
    const out = join(dir, 'lora_qv.svg');
    const r = await milec('plan', tiny, '--tune', 'lora_qv', '--svg', out);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('TinyClassifier / tune lora_qv');
    expect(r.err).toContain(`wrote ${out}`);
    const svg = readFileSync(out, 'utf8');
    expect(svg).toMatch(/^<\?xml[\s\S]*<svg [\s\S]*<\/svg>\s*$/);
    expect(svg).toContain('<title>blocks[0..1].attn.query</title>');
    expect(svg).toMatch(/<g id="[^"]+" class="node module frozen peft peft(-|&#45;)lora">\s*<title>blocks\[0\.\.1\]\.attn\.value<\/title>/);
    expect(readdirSync(dir)).toEqual(['lora_qv.svg']);
  }, 20_000);

  it('draws several tunes into a folder, one file each', async () => {
    const folder = join(dir, 'tunes');
    const r = await milec('plan', tiny, '--tune', 'ia3,prefix', '--svg', folder);
    expect(r.code, r.err).toBe(0);
    expect(readdirSync(folder).sort()).toEqual(['ia3.svg', 'prefix.svg']);
    expect(readFileSync(join(folder, 'prefix.svg'), 'utf8')).toContain('<title>prefix_0</title>');
  }, 20_000);

  it('writes nothing for an unknown tune', async () => {
    const bad = await milec('plan', tiny, '--tune', 'lora_vq', '--svg', join(dir, 'bad.svg'));
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/did you mean `lora_qv`\?/);
    expect(existsSync(join(dir, 'bad.svg'))).toBe(false);
  }, 20_000);
});

describe('milec compile --emit graph', () => {
  it('prints the picture as Graphviz DOT, for a tune of a model without a training graph too', async () => {
    const r = await milec('compile', tiny, '--tune', 'ia3', '--emit', 'graph');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^digraph "ia3" \{\n {2}graph \[layout=osage,/);
    expect(r.out).toContain('subgraph "cluster_blocks[0..1].mlp" {');
    expect(r.out).toMatch(/"blocks\[0\.\.1\]\.mlp\.fc2" \[class="module frozen peft peft-ia3"/);
    expect(r.out.trimEnd().endsWith('}')).toBe(true);
  }, 20_000);
});
