/**
 * The `.mile` language server: LSP requests answered from `Analysis` (one per open document,
 * remade on the first request after an edit) and diagnostics published by `deepCheck`, run in
 * steps after a debounce so that requests are answered in between. Reads no files itself:
 * `ServerEnvironment` brings the files (`cli/lsp.ts` passes the disk's).
 */
import {
  CodeActionKind,
  type CodeAction,
  type Connection,
  type Diagnostic as LspDiagnostic,
  DiagnosticSeverity,
  type InitializeResult,
  ResponseError,
  TextDocuments,
  TextDocumentSyncKind,
} from 'vscode-languageserver';
import { TextDocument } from 'vscode-languageserver-textdocument';
import type { Diagnostic } from '../core/diagnostic.ts';
import { MileSyntax } from '../grammar/parse.ts';
import { formatMile } from '../grammar/format.ts';
import type { SourceHost } from '../compiler/sema/source-host.ts';
import type { MethodRegistry } from '../compiler/peft/registry.ts';
import { Analysis, BoundedParseCache, deepCheck } from './analysis.ts';
import { completions } from './completion.ts';
import { hoverText } from './hover.ts';
import {
  badNewName,
  nameTaken,
  definitionKey,
  definitionLocation,
  definitionsOf,
  referencesTo,
  renameEdit,
  renameRefusal,
  absolutePath,
} from './navigation.ts';
import { occurrenceAt } from './occurrences.ts';
import { documentSymbols, semanticTokens, semanticTokensLegend } from './outline.ts';
import { fromPosition, location, pathOfUri, toRange, uriOf } from './positions.ts';

export interface ServerEnvironment {
  /** Files not open in the editor, and the standard library. */
  readonly files: SourceHost;
  /** Absolute paths of the `.mile` files under the workspace folders (for workspace-wide references and rename). */
  workspaceFiles(roots: readonly string[]): string[];
  readonly registry?: MethodRegistry;
  /** Milliseconds between the last edit and the check (default 200). */
  readonly debounceMs?: number;
  /** The check's next step waits until no request came for this long (default 150 ms): requests come first. */
  readonly idleMs?: number;
}

interface DocumentState {
  /** The analysis of one version of the document, made while the open documents were at `epoch`. */
  analysis?: { version: number; epoch: number; value: Analysis };
  timer?: ReturnType<typeof setTimeout>;
  /** The version whose check is running or done. */
  checking?: number;
}

export function startServer(connection: Connection, env: ServerEnvironment): void {
  const documents = new TextDocuments(TextDocument);
  const states = new Map<string, DocumentState>();
  const syntax = new MileSyntax();
  const parseCache = new BoundedParseCache();
  let roots: string[] = [];
  const workspaceCache = new Map<string, { text: string; analysis: Analysis }>();
  /** When the last request was answered: the background check steps aside while requests come. */
  let lastRequest = 0;
  /** Counts edits to any open document: a document's analysis is stale when a file it `use`s changed too. */
  let epoch = 0;
  const idleMs = env.idleMs ?? 150;

  const openTexts = () => new Map(documents.all().map((d) => [pathOfUri(d.uri), d.getText()]));

  const analyse = (path: string, text: string, previous?: Analysis) =>
    Analysis.create({ files: env.files, documents: openTexts(), path, text, syntax, registry: env.registry, parseCache, previous });

  /** The analysis of a document's current text (made now when an edit made it stale). */
  function current(uri: string): Analysis | undefined {
    const doc = documents.get(uri);
    if (!doc) return undefined;
    const state = states.get(uri) ?? {};
    states.set(uri, state);
    if (state.analysis?.version !== doc.version || state.analysis.epoch !== epoch)
      state.analysis = { version: doc.version, epoch, value: analyse(pathOfUri(uri), doc.getText(), state.analysis?.value) };
    return state.analysis.value;
  }

  /** Checks the document after the debounce (`slower` times it, for documents that were not the one edited). */
  function schedule(uri: string, slower = 1): void {
    const state = states.get(uri) ?? {};
    states.set(uri, state);
    if (state.timer) clearTimeout(state.timer);
    state.timer = setTimeout(() => void check(uri), (env.debounceMs ?? 200) * slower);
  }

  /** Runs the deep check of the current version in steps; a newer edit stops it. */
  async function check(uri: string): Promise<void> {
    const doc = documents.get(uri);
    if (!doc) return;
    const version = doc.version;
    const state = states.get(uri)!;
    state.checking = version;
    const a = current(uri);
    if (!a) return;
    const steps = deepCheck(a);
    let r: IteratorResult<void, Diagnostic[]>;
    do {
      await new Promise((resolve) => setImmediate(resolve));
      // One step (lowering a tune of a large model) takes up to a few hundred ms: none starts while the editor is asking.
      while (performance.now() - lastRequest < idleMs) await new Promise((resolve) => setTimeout(resolve, idleMs));
      if (documents.get(uri)?.version !== version || state.checking !== version || state.analysis?.value !== a) return;
      r = safeStep(() => steps.next(), a);
    } while (!r.done);
    await connection.sendDiagnostics({ uri, version, diagnostics: r.value.map((d) => toLspDiagnostic(a, d)) });
  }

  /** A request handler that answers `fallback` instead of failing when the server has a bug. */
  function guard<P, R>(name: string, fallback: R, f: (p: P) => R): (p: P) => R {
    return (p: P) => {
      lastRequest = performance.now();
      try {
        return f(p);
      } catch (e) {
        if (e instanceof ResponseError) throw e; // an answer: the editor shows it
        connection.console.error(`${name}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
        return fallback;
      } finally {
        lastRequest = performance.now();
      }
    };
  }

  const at = (uri: string, position: { line: number; character: number }) => {
    const a = current(uri);
    if (!a) return undefined;
    const { line, col } = fromPosition(position);
    const o = occurrenceAt(a.occurrences(), line, col);
    return o ? { a, o } : undefined;
  };

  /** Analyses of every workspace file and open document (cached by text), for references across files. */
  function workspaceAnalyses(main: Analysis): Analysis[] {
    const out = [main];
    const open = openTexts();
    const paths = new Set([...env.workspaceFiles(roots), ...open.keys()]);
    for (const path of paths) {
      if (path === main.input.path || !path.endsWith('.mile')) continue;
      const text = open.get(path) ?? env.files.readFile(path);
      if (text === undefined) continue;
      let cached = workspaceCache.get(path);
      if (!cached || cached.text !== text) {
        cached = { text, analysis: analyse(path, text) };
        workspaceCache.set(path, cached);
      }
      out.push(cached.analysis);
    }
    return out;
  }

  connection.onInitialize((params): InitializeResult => {
    roots = (params.workspaceFolders?.map((f) => pathOfUri(f.uri)) ?? (params.rootUri ? [pathOfUri(params.rootUri)] : [])).filter(Boolean);
    return {
      capabilities: {
        textDocumentSync: TextDocumentSyncKind.Incremental,
        hoverProvider: true,
        definitionProvider: true,
        referencesProvider: true,
        documentSymbolProvider: true,
        completionProvider: { triggerCharacters: ['.', '(', ',', '{'] },
        semanticTokensProvider: { legend: semanticTokensLegend, full: true },
        documentFormattingProvider: true,
        renameProvider: { prepareProvider: true },
        codeActionProvider: { codeActionKinds: [CodeActionKind.QuickFix] },
      },
      serverInfo: { name: 'milec', version: '0.1.0' },
    };
  });

  /** An edit of one document re-checks it, and the other open documents after it (they may `use` it). */
  function edited(uri: string): void {
    epoch++;
    schedule(uri);
    for (const d of documents.all()) if (d.uri !== uri) schedule(d.uri, 4);
  }

  documents.onDidOpen((e) => edited(e.document.uri));
  documents.onDidChangeContent((e) => edited(e.document.uri));
  documents.onDidClose((e) => {
    epoch++;
    const s = states.get(e.document.uri);
    if (s?.timer) clearTimeout(s.timer);
    states.delete(e.document.uri);
    void connection.sendDiagnostics({ uri: e.document.uri, diagnostics: [] });
  });

  connection.onHover(
    guard('hover', null, (p) => {
      const hit = at(p.textDocument.uri, p.position);
      const text = hit && hoverText(hit.a, hit.o);
      return text ? { contents: { kind: 'markdown', value: text }, range: toRange(hit.o.span) } : null;
    }),
  );

  connection.onDefinition(
    guard('definition', null, (p) => {
      const hit = at(p.textDocument.uri, p.position);
      if (!hit) return null;
      const defs = definitionsOf(hit.a, hit.o);
      return defs.length ? defs.map((d) => definitionLocation(hit.a, d)) : null;
    }),
  );

  connection.onReferences(
    guard('references', [], (p) => {
      const hit = at(p.textDocument.uri, p.position);
      if (!hit) return [];
      const defs = definitionsOf(hit.a, hit.o);
      const global = defs.some(
        (d) => d.kind === 'module' || d.kind === 'model' || d.kind === 'method' || d.kind === 'arg' || d.kind === 'file',
      );
      const analyses = global ? workspaceAnalyses(hit.a) : [hit.a];
      return defs.flatMap((d) => referencesTo(analyses, d, definitionKey(hit.a, d), p.context.includeDeclaration));
    }),
  );

  connection.onPrepareRename(
    guard('prepareRename', null, (p) => {
      const hit = at(p.textDocument.uri, p.position);
      const refusal = hit ? renameRefusal(hit.a, hit.o.def) : 'nothing to rename here';
      if (refusal) throw new ResponseError(0, refusal);
      return { range: toRange(hit!.o.span), placeholder: hit!.o.name };
    }),
  );

  connection.onRenameRequest((p) => {
    const hit = at(p.textDocument.uri, p.position);
    const def = hit?.o.def;
    const refusal = hit ? renameRefusal(hit.a, def) : 'nothing to rename here';
    if (refusal) throw new ResponseError(0, refusal);
    const bad = badNewName(p.newName);
    if (bad) throw new ResponseError(0, bad);
    const global = def!.kind === 'module' || def!.kind === 'model' || def!.kind === 'method';
    if (nameTaken(hit!.a, def!, p.newName)) throw new ResponseError(0, `\`${p.newName}\` is already declared`);
    const analyses = global ? workspaceAnalyses(hit!.a) : [hit!.a];
    const refs = referencesTo(analyses, def!, definitionKey(hit!.a, def!), true);
    if (refs.some((r) => pathOfUri(r.uri).startsWith(hit!.a.stdDir)))
      throw new ResponseError(0, 'the rename would edit the standard library');
    return renameEdit(refs, p.newName);
  });

  connection.onCompletion(
    guard('completion', [], (p) => {
      const a = current(p.textDocument.uri);
      const doc = documents.get(p.textDocument.uri);
      if (!a || !doc) return [];
      const { line, col } = fromPosition(p.position);
      return completions(a, doc.getText(), line, col);
    }),
  );

  connection.onDocumentSymbol(
    guard('documentSymbol', [], (p) => {
      const a = current(p.textDocument.uri);
      return a ? documentSymbols(a.main) : [];
    }),
  );

  connection.languages.semanticTokens.on(
    guard('semanticTokens', { data: [] }, (p) => {
      const a = current(p.textDocument.uri);
      const doc = documents.get(p.textDocument.uri);
      return a && doc ? { data: semanticTokens(doc.getText(), a.occurrences()) } : { data: [] };
    }),
  );

  connection.onDocumentFormatting(
    guard('formatting', null, (p) => {
      const doc = documents.get(p.textDocument.uri);
      if (!doc) return null;
      const text = doc.getText();
      const r = formatMile(text, { file: pathOfUri(p.textDocument.uri) });
      if (r.diagnostics.length || r.text === text) return [];
      return [{ range: { start: { line: 0, character: 0 }, end: doc.positionAt(text.length) }, newText: r.text }];
    }),
  );

  connection.onCodeAction(
    guard('codeAction', [], (p) => {
      const out: CodeAction[] = [];
      for (const d of p.context.diagnostics) {
        const replacement = (d.data as { replacement?: string } | undefined)?.replacement;
        if (!replacement) continue;
        const doc = documents.get(p.textDocument.uri);
        const was = doc?.getText(d.range) ?? '';
        out.push({
          title: `replace \`${was}\` with \`${replacement}\``,
          kind: CodeActionKind.QuickFix,
          diagnostics: [d],
          isPreferred: true,
          edit: { changes: { [p.textDocument.uri]: [{ range: d.range, newText: replacement }] } },
        });
      }
      return out;
    }),
  );

  documents.listen(connection);
  connection.listen();
}

function safeStep<T>(f: () => IteratorResult<void, T>, a: Analysis): IteratorResult<void, T> {
  try {
    return f();
  } catch (e) {
    const span = { file: a.input.path, line: 1, col: 1, endLine: 1, endCol: 1 };
    const d: Diagnostic = {
      severity: 'error',
      code: 'internal',
      message: `internal compiler error: ${e instanceof Error ? e.message : String(e)}`,
      span,
    };
    return { done: true, value: [d] as T };
  }
}

const SEVERITY = { error: DiagnosticSeverity.Error, warning: DiagnosticSeverity.Warning, note: DiagnosticSeverity.Information } as const;

/**
 * A compiler diagnostic for the document of `a`: its range, message and code; the help and the
 * related notes as related information; a did-you-mean suggestion as `data.replacement` (the
 * quick fix). A diagnostic in another file (a `use`d one) is shown at the document's start.
 */
export function toLspDiagnostic(a: Analysis, d: Diagnostic): LspDiagnostic {
  const file = absolutePath(a, d.span.file);
  const here = file === a.input.path;
  const range = here ? toRange(d.span) : { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } };
  const related = [
    ...(d.help ? [{ location: here ? { uri: uriOf(file), range } : location(file, d.span), message: `help: ${d.help}` }] : []),
    ...(here ? [] : [{ location: location(file, d.span), message: `${d.span.file}:${d.span.line}:${d.span.col}: ${d.message}` }]),
    ...(d.related ?? []).map((r) => ({ location: location(absolutePath(a, r.span.file), r.span), message: r.message })),
  ];
  const replacement = here ? /^did you mean `([^`]+)`\?$/.exec(d.help ?? '')?.[1] : undefined;
  return {
    range,
    severity: SEVERITY[d.severity],
    code: d.code,
    source: 'milec',
    message: here ? d.message : `in ${d.span.file}: ${d.message}`,
    ...(related.length ? { relatedInformation: related } : {}),
    ...(replacement ? { data: { replacement } } : {}),
  };
}
