/**
 * Mutated documents (slices deleted, snippets inserted, lines duplicated, text cut off) get an
 * answer to every request, in bounded time, and their diagnostics published: the server never
 * crashes or hangs on a half-typed file.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CompletionRequest,
  DefinitionRequest,
  DocumentFormattingRequest,
  DocumentSymbolRequest,
  HoverRequest,
  PrepareRenameRequest,
  ReferencesRequest,
  ResponseError,
  SemanticTokensRequest,
} from 'vscode-languageserver-protocol/node';
import { startHarness, uri, type Harness } from './harness.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const BASES = [
  readFileSync(join(ROOT, 'examples', 'tiny_classifier.mile'), 'utf8'),
  readFileSync(join(ROOT, 'examples', 'vqa_tiny.mile'), 'utf8'),
];
const SNIPPETS = [
  '{',
  '}',
  '(',
  ')',
  '.',
  '=',
  ',',
  'repeat 99999 ',
  'let ',
  'on ',
  '**.',
  'f32[',
  '"',
  '#',
  'lora(r = ',
  'module ',
  'tune t for ',
  ' -> ',
  '^T',
  '[:, 1:]',
  '0.',
  'none',
];
const MUTANTS = 30;
const REQUEST_LIMIT_MS = 3000;

let h: Harness;
beforeAll(async () => {
  h = await startHarness([], { idleMs: 10 });
});
afterAll(async () => {
  await h.close();
});

/** A small deterministic generator (a linear congruential one) so a failure can be replayed. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function mutate(text: string, rnd: () => number): string {
  const at = Math.floor(rnd() * text.length);
  switch (Math.floor(rnd() * 5)) {
    case 0:
      return text.slice(0, at) + text.slice(at + 1 + Math.floor(rnd() * 20));
    case 1:
      return text.slice(0, at) + SNIPPETS[Math.floor(rnd() * SNIPPETS.length)] + text.slice(at);
    case 2: {
      const lines = text.split('\n');
      const i = Math.floor(rnd() * lines.length);
      lines.splice(i, 0, lines[i]!);
      return lines.join('\n');
    }
    case 3:
      return text.slice(0, at);
    default:
      return text.slice(0, at) + text.slice(at + 1, at + 2) + text.slice(at, at + 1) + text.slice(at + 2);
  }
}

function position(text: string, rnd: () => number) {
  const i = Math.floor(rnd() * (text.length + 1));
  const before = text.slice(0, i);
  return { line: before.split('\n').length - 1, character: i - (before.lastIndexOf('\n') + 1) };
}

it(`answers every request on ${MUTANTS} mutated documents, within ${REQUEST_LIMIT_MS} ms each`, async () => {
  const rnd = random(12345);
  const path = join(ROOT, 'examples', 'fuzzed.mile');
  const doc = { uri: uri(path) };
  await h.open(path, BASES[0]!);
  let slowest = 0;
  for (let n = 0; n < MUTANTS; n++) {
    let text = BASES[n % BASES.length]!;
    for (let k = 1 + Math.floor(rnd() * 3); k > 0; k--) text = mutate(text, rnd);
    const published = await h.change(path, text);
    // The compiler's own diagnostics, never a crash reported as one.
    expect(published.diagnostics.filter((d) => d.code === 'internal')).toEqual([]);
    for (let q = 0; q < 2; q++) {
      const p = { textDocument: doc, position: position(text, rnd) };
      const requests = [
        h.client.sendRequest(HoverRequest.type, p),
        h.client.sendRequest(DefinitionRequest.type, p),
        h.client.sendRequest(CompletionRequest.type, p),
        h.client.sendRequest(ReferencesRequest.type, { ...p, context: { includeDeclaration: true } }),
        h.client.sendRequest(DocumentSymbolRequest.type, { textDocument: doc }),
        h.client.sendRequest(SemanticTokensRequest.type, { textDocument: doc }),
        h.client.sendRequest(DocumentFormattingRequest.type, { textDocument: doc, options: { tabSize: 2, insertSpaces: true } }),
        // Refusing a rename is an answer too (an error the editor shows).
        h.client.sendRequest(PrepareRenameRequest.type, p).catch((e: unknown) => {
          expect(e).toBeInstanceOf(ResponseError);
          return null;
        }),
      ];
      const t = performance.now();
      await Promise.all(requests);
      slowest = Math.max(slowest, performance.now() - t);
    }
  }
  expect(slowest).toBeLessThan(REQUEST_LIMIT_MS);
  expect(h.logs).toEqual([]);
  // Still healthy afterwards: the original document checks clean.
  const clean = await h.change(path, BASES[0]!);
  expect(clean.diagnostics).toEqual([]);
});
