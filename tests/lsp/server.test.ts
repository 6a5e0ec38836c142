/**
 * The language server over a pipe, driven by the LSP client library: diagnostics (range,
 * message, did-you-mean quick fix), hover, definition, references, completion, symbols,
 * semantic tokens, formatting and rename on fixture documents held only in memory.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import {
  CodeActionRequest,
  CompletionRequest,
  DefinitionRequest,
  DocumentFormattingRequest,
  DocumentSymbolRequest,
  HoverRequest,
  ReferencesRequest,
  RenameRequest,
  SemanticTokensRequest,
  type CompletionItem,
  type Diagnostic,
  type DocumentSymbol,
  type Hover,
  type Location,
  type SemanticTokensLegend,
  type WorkspaceEdit,
} from 'vscode-languageserver-protocol/node';
import { positionOf, startHarness, uri, type Harness } from './harness.ts';

// Documents live in a folder that does not exist on disk: the server reads them from the editor only.
const DIR = join(import.meta.dirname, 'virtual');
const MAIN = join(DIR, 'main.mile');

const MODEL = `use std.nn

module Head(dim: int, classes: int) {
  query = Linear(dim, dim)
  out   = Linear(dim, classes, bias = false)
  forward(x: f32[B, T, dim]) -> f32[B, T, classes] {
    let h = gelu(query(x))
    out(h)
  }
}

model Tiny {
  config { dim = 32, classes = 4, seq = 8 }
  input tokens: f32[B, seq, dim]
  input label: i32[B, seq]
  head = Head(dim, classes)
  forward {
    let logits = head(tokens)
    loss mean(cross_entropy(logits, label))
  }
}

tune adapt for Tiny {
  lora(r = 4, alpha = 8) on head.query
  train head.out
}
`;

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

/** Semantic tokens as `text:type+modifiers`, decoded from LSP's relative encoding with the legend the server sent, as an editor does. */
function decodeTokens(text: string, data: number[], legend: SemanticTokensLegend): string[] {
  const { tokenTypes: types, tokenModifiers: mods } = legend;
  const lines = text.split('\n');
  const out: string[] = [];
  let line = 0;
  let col = 0;
  for (let i = 0; i < data.length; i += 5) {
    line += data[i]!;
    col = data[i] ? data[i + 1]! : col + data[i + 1]!;
    const m = mods.filter((_, k) => data[i + 4]! & (1 << k));
    out.push(`${lines[line]!.slice(col, col + data[i + 2]!)}:${types[data[i + 3]!]}${m.map((x) => `+${x}`).join('')}`);
  }
  return out;
}

const at = (needle: string, offset = 1, n = 0) => ({ textDocument: { uri: uri(MAIN) }, position: positionOf(MODEL, needle, offset, n) });
const hoverText = (r: Hover | null) => (r && typeof r.contents === 'object' && 'value' in r.contents ? r.contents.value : '');

describe('diagnostics', () => {
  it('publishes the compiler diagnostic with its range, message and a did-you-mean quick fix', async () => {
    const text = MODEL.replace('let h = gelu(query(x))', 'let h = gelu(qurey(x))');
    const p = await h.open(MAIN, text);
    expect(p.diagnostics).toHaveLength(1);
    const d = p.diagnostics[0]!;
    expect(d.message).toBe('unknown function or module `qurey`');
    expect(d.range).toEqual({ start: positionOf(text, 'qurey'), end: positionOf(text, 'qurey', 5) });
    expect(d.relatedInformation?.[0]?.message).toBe('help: did you mean `query`?');
    const actions = await h.client.sendRequest(CodeActionRequest.type, {
      textDocument: { uri: uri(MAIN) },
      range: d.range,
      context: { diagnostics: [d] },
    });
    expect(actions?.map((a) => ('title' in a ? a.title : ''))).toEqual(['replace `qurey` with `query`']);
  });

  it('clears them once the document is fixed, and reports a parse error of a half-typed line', async () => {
    const fixed = await h.change(MAIN, MODEL);
    expect(fixed.diagnostics).toEqual([]);
    const broken = MODEL.replace('train head.out', 'train head.');
    const p = await h.change(MAIN, broken);
    expect(p.diagnostics.length).toBeGreaterThan(0);
    expect(p.diagnostics.every((d: Diagnostic) => d.source === 'milec')).toBe(true);
    await h.change(MAIN, MODEL);
  });
});

describe('requests', () => {
  it('hover: a let value shape, a config value, a module signature, a method and a selector', async () => {
    const letH = hoverText(await h.client.sendRequest(HoverRequest.type, at('let h', 4)));
    expect(letH).toContain('let h: f32[B, 8, 32]');
    const cfg = hoverText(await h.client.sendRequest(HoverRequest.type, at('classes = 4', 1)));
    expect(cfg).toContain('config classes = 4');
    const mod = hoverText(await h.client.sendRequest(HoverRequest.type, at('Head(dim, classes)', 1)));
    expect(mod).toContain('module Head(dim: int, classes: int)');
    expect(mod).toContain('1,184 parameters'); // 32·32 + 32 + 32·4
    const lora = hoverText(await h.client.sendRequest(HoverRequest.type, at('lora(', 1)));
    expect(lora).toMatch(/\| `r` \| int \|/);
    const sel = hoverText(await h.client.sendRequest(HoverRequest.type, at('on head.query', 9)));
    expect(sel).toContain('matches 1 site');
    expect(sel).toContain('`head.query` (Linear)');
    expect(sel).toContain('adds at `head.query`: `lora_A: f32[4, 32]`, `lora_B: f32[32, 4]`; 256 parameters in all');
  });

  it('definition: a child module, a std module, a selector segment and a let', async () => {
    const toHead = (await h.client.sendRequest(DefinitionRequest.type, at('Head(dim, classes)', 1))) as Location[];
    expect(toHead[0]!.range.start).toEqual(positionOf(MODEL, 'Head(dim: int'));
    const toLinear = (await h.client.sendRequest(DefinitionRequest.type, at('Linear(dim, dim)', 1))) as Location[];
    expect(toLinear[0]!.uri).toMatch(/std\/nn\.mile$/);
    const seg = (await h.client.sendRequest(DefinitionRequest.type, at('head.query', 6))) as Location[];
    expect(seg[0]!.range.start).toEqual(positionOf(MODEL, 'query = Linear'));
    const toLet = (await h.client.sendRequest(DefinitionRequest.type, at('out(h)', 4))) as Location[];
    expect(toLet[0]!.range.start).toEqual(positionOf(MODEL, 'h = gelu'));
  });

  it('references: a config name and a child through a selector', async () => {
    const refs = (await h.client.sendRequest(ReferencesRequest.type, {
      ...at('seq = 8', 1),
      context: { includeDeclaration: true },
    })) as Location[];
    expect(refs.map((r) => r.range.start)).toEqual([
      positionOf(MODEL, 'seq = 8'),
      positionOf(MODEL, 'seq, dim]'),
      positionOf(MODEL, 'seq]'),
    ]);
    const child = (await h.client.sendRequest(ReferencesRequest.type, {
      ...at('query = Linear', 1),
      context: { includeDeclaration: false },
    })) as Location[];
    expect(child.map((r) => r.range.start)).toEqual([positionOf(MODEL, 'query(x)'), positionOf(MODEL, 'query', 0, 2)]);
  });

  it('completion: selector children, method options, named arguments, keywords', async () => {
    const text = MODEL.replace('train head.out', 'train head.');
    await h.change(MAIN, text);
    const labels = async (needle: string, offset: number) =>
      (
        (await h.client.sendRequest(CompletionRequest.type, {
          textDocument: { uri: uri(MAIN) },
          position: positionOf(text, needle, offset),
        })) as CompletionItem[]
      ).map((c) => c.label);
    expect(await labels('train head.', 11)).toEqual(expect.arrayContaining(['query', 'out']));
    expect(await labels('lora(r', 5)).toEqual(expect.arrayContaining(['r', 'alpha', 'dropout']));
    expect(await labels('Linear(dim, classes, ', 21)).toEqual(expect.arrayContaining(['in', 'out', 'bias', 'std']));
    expect(await labels('let logits', 0)).toEqual(expect.arrayContaining(['let', 'tokens', 'head', 'dim', 'mean']));
    expect(await labels('let logits', 0)).not.toContain('logits');
    const items = async (needle: string, offset: number) =>
      (await h.client.sendRequest(CompletionRequest.type, {
        textDocument: { uri: uri(MAIN) },
        position: positionOf(text, needle, offset),
      })) as CompletionItem[];
    expect((await items('Linear(dim, classes, ', 21)).find((c) => c.label === 'bias')?.detail).toBe('bool (optional)');
    expect((await items('head(tokens', 5)).find((c) => c.label === 'x')?.detail).toBe('f32[B, T, dim]');
    await h.change(MAIN, MODEL);
  });

  it('document symbols, semantic tokens, formatting and rename', async () => {
    const syms = (await h.client.sendRequest(DocumentSymbolRequest.type, { textDocument: { uri: uri(MAIN) } })) as DocumentSymbol[];
    expect(syms.map((s) => s.name)).toEqual(['std.nn', 'Head', 'Tiny', 'adapt']);
    expect(syms[2]!.children!.map((s) => s.name)).toEqual(['dim', 'classes', 'seq', 'tokens', 'label', 'head', 'forward']);
    const tokens = await h.client.sendRequest(SemanticTokensRequest.type, { textDocument: { uri: uri(MAIN) } });
    const decoded = decodeTokens(MODEL, tokens!.data, h.capabilities.semanticTokensProvider!.legend);
    expect(decoded.slice(0, 3)).toEqual(['use:keyword', 'std:namespace', 'nn:namespace']);
    for (const t of [
      'Head:type+declaration',
      'query:property+declaration',
      'Linear:type',
      'gelu:function+defaultLibrary',
      'B:typeParameter+declaration',
    ])
      expect(decoded).toContain(t);
    expect(decoded).toContain('lora:method+defaultLibrary');
    const messy = MODEL.replace('  query = Linear(dim, dim)', 'query    =   Linear( dim,dim )');
    await h.change(MAIN, messy);
    const edits = await h.client.sendRequest(DocumentFormattingRequest.type, {
      textDocument: { uri: uri(MAIN) },
      options: { tabSize: 2, insertSpaces: true },
    });
    expect(edits).toHaveLength(1);
    expect(edits![0]!.newText).toContain('  query = Linear(dim, dim)');
    await h.change(MAIN, MODEL);
    const edit = (await h.client.sendRequest(RenameRequest.type, {
      ...at('Head(dim, classes)', 1),
      newName: 'Classifier',
    })) as WorkspaceEdit;
    const changes = edit.changes![uri(MAIN)]!;
    expect(changes.map((c) => c.range.start)).toEqual([positionOf(MODEL, 'Head(dim: int'), positionOf(MODEL, 'Head(dim, classes)')]);
    expect(changes.every((c) => c.newText === 'Classifier')).toBe(true);
    // A config entry: its uses in the model, not the module argument of the same name.
    const cfg = (await h.client.sendRequest(RenameRequest.type, { ...at('dim = 32', 1), newName: 'width' })) as WorkspaceEdit;
    const starts = cfg.changes![uri(MAIN)]!.map((c) => c.range.start);
    expect(starts).toEqual([positionOf(MODEL, 'dim = 32'), positionOf(MODEL, 'dim]', 0, 1), positionOf(MODEL, 'dim, classes)', 0, 0)]);
    await expect(h.client.sendRequest(RenameRequest.type, { ...at('seq = 8', 1), newName: 'classes' })).rejects.toThrow('already declared');
    await expect(h.client.sendRequest(RenameRequest.type, { ...at('query = Linear', 1), newName: 'q' })).rejects.toThrow(
      'cannot be renamed',
    );
  });
});
