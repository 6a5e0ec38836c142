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
import { type Definition, type Occurrence, occurrenceAt } from './occurrences.ts';
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

type Position = { line: number; character: number };

/**
 * The open documents and what the server knows about them: their analyses (remade on demand),
 * the background checks that publish diagnostics, and analyses of the other workspace files.
 */
class Workspace {
  readonly documents = new TextDocuments(TextDocument);
  roots: string[] = [];
  private readonly states = new Map<string, DocumentState>();
  private readonly syntax = new MileSyntax();
  private readonly parseCache = new BoundedParseCache();
  private readonly others = new Map<string, { text: string; analysis: Analysis }>();
  /** When the last request was answered: the background check steps aside while requests come. */
  private lastRequest = 0;
  /** Counts edits to any open document: a document's analysis is stale when a file it `use`s changed too. */
  private epoch = 0;

  constructor(
    private readonly connection: Connection,
    private readonly env: ServerEnvironment,
  ) {}

  private openTexts(): Map<string, string> {
    return new Map(this.documents.all().map((d) => [pathOfUri(d.uri), d.getText()]));
  }

  private analyse(path: string, text: string, previous?: Analysis): Analysis {
    const { files, registry } = this.env;
    return Analysis.create({
      files,
      documents: this.openTexts(),
      path,
      text,
      syntax: this.syntax,
      registry,
      parseCache: this.parseCache,
      previous,
    });
  }

  private state(uri: string): DocumentState {
    let s = this.states.get(uri);
    if (!s) this.states.set(uri, (s = {}));
    return s;
  }

  /** The analysis of a document's current text (made now when an edit made it stale). */
  current(uri: string): Analysis | undefined {
    const doc = this.documents.get(uri);
    if (!doc) return undefined;
    const state = this.state(uri);
    if (state.analysis?.version !== doc.version || state.analysis.epoch !== this.epoch) {
      const value = this.analyse(pathOfUri(uri), doc.getText(), state.analysis?.value);
      state.analysis = { version: doc.version, epoch: this.epoch, value };
    }
    return state.analysis.value;
  }

  /** The analysis and the name at a position, if there is a name there. */
  at(uri: string, position: Position): { a: Analysis; o: Occurrence } | undefined {
    const a = this.current(uri);
    if (!a) return undefined;
    const { line, col } = fromPosition(position);
    const o = occurrenceAt(a.occurrences(), line, col);
    return o ? { a, o } : undefined;
  }

  /** An edit of one document re-checks it, and the other open documents after it (they may `use` it). */
  edited(uri: string): void {
    this.epoch++;
    this.schedule(uri);
    for (const d of this.documents.all()) if (d.uri !== uri) this.schedule(d.uri, 4);
  }

  closed(uri: string): void {
    this.epoch++;
    const s = this.states.get(uri);
    if (s?.timer) clearTimeout(s.timer);
    this.states.delete(uri);
    void this.connection.sendDiagnostics({ uri, diagnostics: [] });
  }

  /** Checks the document after the debounce (`slower` times it, for documents that were not the one edited). */
  private schedule(uri: string, slower = 1): void {
    const state = this.state(uri);
    if (state.timer) clearTimeout(state.timer);
    const run = () =>
      this.check(uri).catch((e: unknown) => {
        // A bug in the server must not end it (an unhandled rejection would): log it and go on.
        this.connection.console.error(`check: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      });
    state.timer = setTimeout(run, (this.env.debounceMs ?? 200) * slower);
  }

  /** Runs the deep check of the current version in steps and publishes its diagnostics; a newer edit stops it. */
  private async check(uri: string): Promise<void> {
    const doc = this.documents.get(uri);
    if (!doc) return;
    const version = doc.version;
    const state = this.state(uri);
    state.checking = version;
    const a = this.current(uri);
    if (!a) return;
    const idleMs = this.env.idleMs ?? 150;
    const steps = deepCheck(a);
    let r: IteratorResult<void, Diagnostic[]>;
    do {
      await new Promise((resolve) => setImmediate(resolve));
      // One step (lowering a tune of a large model) takes up to a few hundred ms: none starts while the editor is asking.
      while (performance.now() - this.lastRequest < idleMs) await new Promise((resolve) => setTimeout(resolve, idleMs));
      if (this.documents.get(uri)?.version !== version || state.checking !== version || state.analysis?.value !== a) return;
      r = safeStep(() => steps.next(), a);
    } while (!r.done);
    await this.connection.sendDiagnostics({ uri, version, diagnostics: r.value.map((d) => toLspDiagnostic(a, d)) });
  }

  /** A request handler that answers `fallback` instead of failing when the server has a bug. */
  guard<P, R>(name: string, fallback: R, f: (p: P) => R): (p: P) => R {
    return (p: P) => {
      this.lastRequest = performance.now();
      try {
        return f(p);
      } catch (e) {
        if (e instanceof ResponseError) throw e; // an answer: the editor shows it
        this.connection.console.error(`${name}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
        return fallback;
      } finally {
        this.lastRequest = performance.now();
      }
    };
  }

  /** `main` and analyses of every other workspace file and open document (cached by text), for references across files. */
  withOtherFiles(main: Analysis): Analysis[] {
    const out = [main];
    const open = this.openTexts();
    for (const path of new Set([...this.env.workspaceFiles(this.roots), ...open.keys()])) {
      if (path === main.input.path || !path.endsWith('.mile')) continue;
      const text = open.get(path) ?? this.env.files.readFile(path);
      if (text === undefined) continue;
      let cached = this.others.get(path);
      if (!cached || cached.text !== text) this.others.set(path, (cached = { text, analysis: this.analyse(path, text) }));
      out.push(cached.analysis);
    }
    return out;
  }
}

export function startServer(connection: Connection, env: ServerEnvironment): void {
  const ws = new Workspace(connection, env);
  connection.onInitialize((params): InitializeResult => {
    const folders = params.workspaceFolders?.map((f) => pathOfUri(f.uri)) ?? (params.rootUri ? [pathOfUri(params.rootUri)] : []);
    ws.roots = folders.filter(Boolean);
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
  ws.documents.onDidOpen((e) => ws.edited(e.document.uri));
  ws.documents.onDidChangeContent((e) => ws.edited(e.document.uri));
  ws.documents.onDidClose((e) => ws.closed(e.document.uri));
  answerNavigation(connection, ws);
  answerRename(connection, ws);
  answerViews(connection, ws);
  answerEdits(connection, ws);
  ws.documents.listen(connection);
  connection.listen();
}

const isGlobal = (d: Definition) => d.kind === 'module' || d.kind === 'model' || d.kind === 'method';

/** Hover, definition and references. */
function answerNavigation(connection: Connection, ws: Workspace): void {
  connection.onHover(
    ws.guard('hover', null, (p) => {
      const hit = ws.at(p.textDocument.uri, p.position);
      const text = hit && hoverText(hit.a, hit.o);
      return text ? { contents: { kind: 'markdown', value: text }, range: toRange(hit.o.span) } : null;
    }),
  );
  connection.onDefinition(
    ws.guard('definition', null, (p) => {
      const hit = ws.at(p.textDocument.uri, p.position);
      const defs = hit ? definitionsOf(hit.a, hit.o) : [];
      return defs.length ? defs.map((d) => definitionLocation(hit!.a, d)) : null;
    }),
  );
  connection.onReferences(
    ws.guard('references', [], (p) => {
      const hit = ws.at(p.textDocument.uri, p.position);
      if (!hit) return [];
      const defs = definitionsOf(hit.a, hit.o);
      // Module arguments are named from other files too (`Linear(dim, dim, bias = false)`), and so are files.
      const wide = defs.some((d) => isGlobal(d) || d.kind === 'arg' || d.kind === 'file');
      const analyses = wide ? ws.withOtherFiles(hit.a) : [hit.a];
      return defs.flatMap((d) => referencesTo(analyses, d, definitionKey(hit.a, d), p.context.includeDeclaration));
    }),
  );
}

/** Rename: what can be renamed, and the edits in every file that names it. */
function answerRename(connection: Connection, ws: Workspace): void {
  const target = (p: { textDocument: { uri: string }; position: Position }) => {
    const hit = ws.at(p.textDocument.uri, p.position);
    const refusal = hit ? renameRefusal(hit.a, hit.o.def) : 'nothing to rename here';
    if (refusal) throw new ResponseError(0, refusal);
    return { a: hit!.a, o: hit!.o, def: hit!.o.def! };
  };
  connection.onPrepareRename(
    ws.guard('prepareRename', null, (p) => {
      const { o } = target(p);
      return { range: toRange(o.span), placeholder: o.name };
    }),
  );
  connection.onRenameRequest(
    ws.guard('rename', null, (p) => {
      const { a, def } = target(p);
      const bad = badNewName(p.newName) ?? (nameTaken(a, def, p.newName) ? `\`${p.newName}\` is already declared` : undefined);
      if (bad) throw new ResponseError(0, bad);
      const refs = referencesTo(isGlobal(def) ? ws.withOtherFiles(a) : [a], def, definitionKey(a, def), true);
      if (refs.some((r) => pathOfUri(r.uri).startsWith(a.stdDir))) throw new ResponseError(0, 'the rename would edit the standard library');
      return renameEdit(refs, p.newName);
    }),
  );
}

/** Completion, outline and semantic tokens. */
function answerViews(connection: Connection, ws: Workspace): void {
  connection.onCompletion(
    ws.guard('completion', [], (p) => {
      const a = ws.current(p.textDocument.uri);
      const doc = ws.documents.get(p.textDocument.uri);
      if (!a || !doc) return [];
      const { line, col } = fromPosition(p.position);
      return completions(a, doc.getText(), line, col);
    }),
  );
  connection.onDocumentSymbol(
    ws.guard('documentSymbol', [], (p) => {
      const a = ws.current(p.textDocument.uri);
      return a ? documentSymbols(a.main) : [];
    }),
  );
  connection.languages.semanticTokens.on(
    ws.guard('semanticTokens', { data: [] }, (p) => {
      const a = ws.current(p.textDocument.uri);
      const doc = ws.documents.get(p.textDocument.uri);
      return a && doc ? { data: semanticTokens(doc.getText(), a.occurrences()) } : { data: [] };
    }),
  );
}

/** Formatting (the whole document through `formatMile`) and the did-you-mean quick fixes. */
function answerEdits(connection: Connection, ws: Workspace): void {
  connection.onDocumentFormatting(
    ws.guard('formatting', null, (p) => {
      const doc = ws.documents.get(p.textDocument.uri);
      if (!doc) return null;
      const text = doc.getText();
      const r = formatMile(text, { file: pathOfUri(p.textDocument.uri) });
      if (r.diagnostics.length || r.text === text) return [];
      return [{ range: { start: { line: 0, character: 0 }, end: doc.positionAt(text.length) }, newText: r.text }];
    }),
  );
  connection.onCodeAction(
    ws.guard('codeAction', [], (p) => {
      const out: CodeAction[] = [];
      const doc = ws.documents.get(p.textDocument.uri);
      for (const d of p.context.diagnostics) {
        const replacement = (d.data as { replacement?: string } | undefined)?.replacement;
        if (!replacement) continue;
        out.push({
          title: `replace \`${doc?.getText(d.range) ?? ''}\` with \`${replacement}\``,
          kind: CodeActionKind.QuickFix,
          diagnostics: [d],
          isPreferred: true,
          edit: { changes: { [p.textDocument.uri]: [{ range: d.range, newText: replacement }] } },
        });
      }
      return out;
    }),
  );
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
