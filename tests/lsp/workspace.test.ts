/**
 * Across files: definition into a `use`d workspace file, references and rename of a module in
 * every workspace file that uses it, an unsaved edit of a `use`d file seen by the file using
 * it, an error in a `use`d file shown on the document, and `milec lsp --stdio` as a process.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createProtocolConnection,
  DefinitionRequest,
  DidOpenTextDocumentNotification,
  HoverRequest,
  InitializeRequest,
  PublishDiagnosticsNotification,
  ReferencesRequest,
  RenameRequest,
  StreamMessageReader,
  StreamMessageWriter,
  type Location,
  type PublishDiagnosticsParams,
  type WorkspaceEdit,
} from 'vscode-languageserver-protocol/node';
import { positionOf, startHarness, uri, type Harness } from './harness.ts';

const LIB = `use std.nn

module Block(dim: int) {
  fc = Linear(dim, dim)
  forward(x: f32[B, dim]) -> f32[B, dim] { fc(x) }
}
`;
const MAIN = `use lib

model M {
  config { dim = 16 }
  input x: f32[B, dim]
  block = Block(dim)
  forward {
    loss mean(block(x))
  }
}
`;
const OTHER = `use lib

model N {
  first  = Block(8)
  second = Block(8)
  input x: f32[B, 8]
  forward { loss mean(second(first(x))) }
}
`;

let dir: string;
let h: Harness;
const file = (name: string) => join(dir, name);
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'milec-lsp-'));
  writeFileSync(file('lib.mile'), LIB);
  writeFileSync(file('main.mile'), MAIN);
  writeFileSync(file('other.mile'), OTHER);
  h = await startHarness([dir]);
});
afterAll(async () => {
  await h.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('a workspace of three files', () => {
  it('goes to a module in a used file, and finds its references in every file', async () => {
    expect((await h.open(file('main.mile'), MAIN)).diagnostics).toEqual([]);
    const at = { textDocument: { uri: uri(file('main.mile')) }, position: positionOf(MAIN, 'Block(dim)', 1) };
    const defs = (await h.client.sendRequest(DefinitionRequest.type, at)) as Location[];
    expect(defs).toEqual([{ uri: uri(file('lib.mile')), range: { start: positionOf(LIB, 'Block'), end: positionOf(LIB, 'Block', 5) } }]);
    const refs = (await h.client.sendRequest(ReferencesRequest.type, { ...at, context: { includeDeclaration: true } })) as Location[];
    expect(refs.map((r) => `${r.uri.split('/').pop()}:${r.range.start.line}`)).toEqual([
      'lib.mile:2',
      'main.mile:5',
      'other.mile:3',
      'other.mile:4',
    ]);
  });

  it('renames a module in the file that declares it and in every file that uses it', async () => {
    const at = { textDocument: { uri: uri(file('main.mile')) }, position: positionOf(MAIN, 'Block(dim)', 1) };
    const edit = (await h.client.sendRequest(RenameRequest.type, { ...at, newName: 'Layer' })) as WorkspaceEdit;
    const files = Object.keys(edit.changes!)
      .map((u) => u.split('/').pop())
      .sort();
    expect(files).toEqual(['lib.mile', 'main.mile', 'other.mile']);
    expect(edit.changes![uri(file('other.mile'))]!.map((e) => e.newText)).toEqual(['Layer', 'Layer']);
    await expect(h.client.sendRequest(RenameRequest.type, { ...at, newName: 'model' })).rejects.toThrow('reserved word');
  });

  it('sees an unsaved edit of a used file, and shows an error in it on the document that uses it', async () => {
    const wider = LIB.replace('fc = Linear(dim, dim)', 'fc = Linear(dim, dim)\n  extra = Linear(dim, dim)');
    await h.open(file('lib.mile'), wider);
    const changed = await h.change(file('main.mile'), MAIN + '\n');
    expect(changed.diagnostics).toEqual([]);
    const hover = await h.client.sendRequest(HoverRequest.type, {
      textDocument: { uri: uri(file('main.mile')) },
      position: positionOf(MAIN, 'Block(dim)', 1),
    });
    expect(JSON.stringify(hover)).toContain('544 parameters'); // two 16×16 Linears with biases
    // Editing the used file alone re-checks the document that uses it.
    let recheck = h.next(file('main.mile'));
    await h.change(file('lib.mile'), LIB.replace('fc(x)', 'fc(y)'));
    let p = await recheck;
    // A re-check scheduled by the earlier open of lib.mile may publish first.
    for (let tries = 0; p.diagnostics.length === 0 && tries < 3; tries++) p = await (recheck = h.next(file('main.mile')));
    expect(p.diagnostics).toHaveLength(1);
    expect(p.diagnostics[0]!.message).toMatch(/^in .*lib\.mile: unknown name `y`/);
    expect(p.diagnostics[0]!.relatedInformation?.some((r) => r.location.uri === uri(file('lib.mile')))).toBe(true);
  });
});

it('runs as `milec lsp --stdio`', async () => {
  const server = spawn(process.execPath, [join(import.meta.dirname, '..', '..', 'bin', 'milec.js'), 'lsp', '--stdio'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const client = createProtocolConnection(new StreamMessageReader(server.stdout!), new StreamMessageWriter(server.stdin!));
  const diagnostics = new Promise<PublishDiagnosticsParams>((resolve) =>
    client.onNotification(PublishDiagnosticsNotification.type, resolve),
  );
  client.listen();
  try {
    const init = await client.sendRequest(InitializeRequest.type, { processId: null, rootUri: null, capabilities: {} });
    expect(init.capabilities.hoverProvider).toBe(true);
    const text = 'model M {\n  input x: f32[B, 4]\n  forward { loss mean(y) }\n}\n';
    await client.sendNotification(DidOpenTextDocumentNotification.type, {
      textDocument: { uri: uri(join(tmpdir(), 'stdio.mile')), languageId: 'mile', version: 1, text },
    });
    const p = await diagnostics;
    expect(p.diagnostics.map((d) => [d.message, d.range.start])).toEqual([['unknown name `y`', positionOf(text, 'y)')]]);
  } finally {
    client.dispose();
    server.kill();
  }
}, 20_000);
