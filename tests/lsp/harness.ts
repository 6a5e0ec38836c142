/**
 * Drives the language server in-process over a pair of pipes with the LSP client library, as
 * an editor would: initialize, open documents, wait for published diagnostics, send requests.
 */
import { PassThrough } from 'node:stream';
import { createConnection } from 'vscode-languageserver/node.js';
import {
  createProtocolConnection,
  type ProtocolConnection,
  type ServerCapabilities,
  type PublishDiagnosticsParams,
  StreamMessageReader,
  StreamMessageWriter,
  InitializeRequest,
  InitializedNotification,
  DidOpenTextDocumentNotification,
  DidChangeTextDocumentNotification,
  PublishDiagnosticsNotification,
  ShutdownRequest,
  ExitNotification,
  LogMessageNotification,
} from 'vscode-languageserver-protocol/node';
import { startServer } from '../../editor/server.ts';
import { fileHost } from '../../runtime/source-files.ts';
import { mileFilesUnder } from '../../cli/lsp.ts';
import { pathToFileURL } from 'node:url';

export interface Harness {
  client: ProtocolConnection;
  /** What the server answered to `initialize` (its legend of semantic tokens, …). */
  readonly capabilities: ServerCapabilities;
  open(path: string, text: string): Promise<PublishDiagnosticsParams>;
  change(path: string, text: string): Promise<PublishDiagnosticsParams>;
  /** Messages the server logged (its request handlers log what they caught). */
  readonly logs: string[];
  /** The first diagnostics published for `path` after this call. */
  next(path: string): Promise<PublishDiagnosticsParams>;
  /** The next diagnostics published for `path` with at least `version`. */
  diagnostics(path: string, version: number): Promise<PublishDiagnosticsParams>;
  close(): Promise<void>;
}

export const uri = (path: string) => pathToFileURL(path).href;

export async function startHarness(roots: string[] = [], options: { idleMs?: number } = {}): Promise<Harness> {
  const toServer = new PassThrough();
  const toClient = new PassThrough();
  const serverConnection = createConnection(new StreamMessageReader(toServer), new StreamMessageWriter(toClient));
  startServer(serverConnection, { files: fileHost(), workspaceFiles: mileFilesUnder, debounceMs: 10, idleMs: options.idleMs });
  const client = createProtocolConnection(new StreamMessageReader(toClient), new StreamMessageWriter(toServer));
  const published: PublishDiagnosticsParams[] = [];
  const waiters: (() => void)[] = [];
  client.onNotification(PublishDiagnosticsNotification.type, (p) => {
    published.push(p);
    for (const w of waiters.splice(0)) w();
  });
  const logs: string[] = [];
  client.onNotification(LogMessageNotification.type, (m: { message: string }) => {
    logs.push(m.message);
  });
  client.listen();
  const init = await client.sendRequest(InitializeRequest.type, {
    processId: null,
    rootUri: roots[0] ? uri(roots[0]) : null,
    workspaceFolders: roots.map((r) => ({ uri: uri(r), name: r })),
    capabilities: {},
  });
  await client.sendNotification(InitializedNotification.type, {});
  const versions = new Map<string, number>();
  const diagnostics = async (path: string, version: number) => {
    for (;;) {
      const hit = published.find((p) => p.uri === uri(path) && (p.version ?? 0) >= version);
      if (hit) return hit;
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
  };
  const next = async (path: string) => {
    const from = published.length;
    for (;;) {
      const hit = published.slice(from).find((p) => p.uri === uri(path));
      if (hit) return hit;
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
  };
  return {
    client,
    capabilities: init.capabilities,
    logs,
    next,
    diagnostics,
    async open(path, text) {
      versions.set(path, 1);
      await client.sendNotification(DidOpenTextDocumentNotification.type, {
        textDocument: { uri: uri(path), languageId: 'mile', version: 1, text },
      });
      return diagnostics(path, 1);
    },
    async change(path, text) {
      const v = (versions.get(path) ?? 1) + 1;
      versions.set(path, v);
      await client.sendNotification(DidChangeTextDocumentNotification.type, {
        textDocument: { uri: uri(path), version: v },
        contentChanges: [{ text }],
      });
      return diagnostics(path, v);
    },
    async close() {
      await client.sendRequest(ShutdownRequest.type);
      await client.sendNotification(ExitNotification.type);
      client.dispose();
      serverConnection.dispose();
    },
  };
}

/** The 0-based LSP position of the `n`-th (0-based) occurrence of `needle` in `text`, plus `offset` characters. */
export function positionOf(text: string, needle: string, offset = 0, n = 0): { line: number; character: number } {
  let i = -1;
  for (let k = 0; k <= n; k++) {
    i = text.indexOf(needle, i + 1);
    if (i < 0) throw new Error(`\`${needle}\` not found`);
  }
  i += offset;
  const before = text.slice(0, i);
  const line = before.split('\n').length - 1;
  return { line, character: i - (before.lastIndexOf('\n') + 1) };
}
