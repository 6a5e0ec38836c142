/**
 * Completion from the text before the cursor and the document's analysis: keywords, module and
 * method names, named arguments with their types, a selector's children (`on blocks.*.attn.` →
 * `query`, `key`, …), method options, members of a child (`embeddings.` → `word_embeddings`),
 * names in scope and `use` paths. The text decides the context, so a half-typed line works.
 */
import { dirname } from 'node:path';
import { CompletionItemKind, type CompletionItem } from 'vscode-languageserver';
import type { ChildDecl, ForwardDecl, ModelDecl, ModuleDecl, TopDecl } from '../grammar/ast.ts';
import { builtins } from '../compiler/lower/builtins.ts';
import { initArgs } from '../compiler/sema/elaborate.ts';
import type { Analysis } from './analysis.ts';
import { type DefKind, itemsOf } from './occurrences.ts';
import { spanText } from './positions.ts';
import { selectorContinuations, selectorPrefix } from './selectors.ts';

const TOP_KEYWORDS = ['use', 'module', 'model', 'tune', 'method'];
const BODY_KEYWORDS = ['param', 'forward', 'repeat', 'if', 'config', 'input', 'weights'];
const STATEMENT_KEYWORDS = ['let', 'output', 'loss', 'hook', 'and', 'or', 'not', 'true', 'false', 'none', 'f32', 'i32'];
const TUNE_KEYWORDS = ['train', 'freeze', 'optimizer', 'on'];

const KIND_OF: Partial<Record<DefKind, CompletionItemKind>> = {
  config: CompletionItemKind.Constant,
  input: CompletionItemKind.Variable,
  param: CompletionItemKind.Property,
  child: CompletionItemKind.Field,
  arg: CompletionItemKind.Variable,
  'forward-input': CompletionItemKind.Variable,
  size: CompletionItemKind.TypeParameter,
  let: CompletionItemKind.Variable,
  output: CompletionItemKind.Variable,
  option: CompletionItemKind.Variable,
  binding: CompletionItemKind.Variable,
};

const keywordItems = (words: readonly string[]): CompletionItem[] => words.map((label) => ({ label, kind: CompletionItemKind.Keyword }));

/** Completions at a 1-based line and column of `text` (the document's current text). */
export function completions(a: Analysis, text: string, line: number, col: number): CompletionItem[] {
  const lines = text.split('\n');
  const before = (lines[line - 1] ?? '').slice(0, col - 1);
  if (/^\s*use\s+[\w.,\s]*$/.test(before)) return usePaths(a);
  const context = enclosingDecl(a, lines, line, col);
  if (!context) return keywordItems(TOP_KEYWORDS);
  if (context.keyword === 'tune') return tuneCompletions(a, /^tune\s+\w+\s+for\s+(\w+)/.exec(context.header)?.[1], before);
  if (context.keyword === 'method' && /\bon\s+[\w|\s()]*$/.test(before) && !before.includes('{')) return moduleNames(a);
  const decl: TopDecl = context.decl ?? { kind: 'use', paths: [], span: { file: a.main.file, line, col, endLine: line, endCol: col } };
  const member = /([A-Za-z_]\w*)\.(\w*)$/.exec(before);
  if (member) return memberCompletions(a, decl, member[1]!);
  const call = openCall(lines, line, col);
  const items: CompletionItem[] = [];
  if (call) items.push(...argumentCompletions(a, decl, call));
  if (/=\s*(repeat\s+\S+\s+)?\w*$/.test(before) && /^\s*\w+\s*=/.test(before) && context.keyword !== 'method')
    items.push(...moduleNames(a));
  items.push(...scopeNames(a, decl, line, col));
  items.push(...Object.entries(builtins).map(([label, b]) => ({ label, kind: CompletionItemKind.Function, detail: b.doc })));
  items.push(...Object.keys(initArgs).map((label) => ({ label, kind: CompletionItemKind.Function, detail: 'initializer' })));
  items.push(...keywordItems([...BODY_KEYWORDS, ...STATEMENT_KEYWORDS]));
  if (!call) items.push(...moduleNames(a));
  return dedupe(items);
}

function dedupe(items: CompletionItem[]): CompletionItem[] {
  const seen = new Set<string>();
  return items.filter((i) => !seen.has(i.label) && seen.add(i.label));
}

/**
 * The top-level declaration the cursor is in, found from the text (a half-typed declaration may
 * be missing from the AST): the nearest line above that starts with `module`, `model`, `tune` or
 * `method` and whose braces are still open at the cursor. Its AST node, when the parser kept one.
 */
function enclosingDecl(
  a: Analysis,
  lines: readonly string[],
  line: number,
  col: number,
): { keyword: string; header: string; decl?: TopDecl } | undefined {
  for (let l = line; l >= 1; l--) {
    const m = /^(module|model|tune|method)\b(.*)$/.exec(lines[l - 1] ?? '');
    if (!m) continue;
    let depth = 0;
    for (let k = l; k <= line; k++) {
      const text = (k === line ? lines[k - 1]!.slice(0, col - 1) : (lines[k - 1] ?? '')).replace(/"(?:[^"\\]|\\.)*"|(?:#|\/\/).*$/g, '');
      for (const ch of text) depth += ch === '{' ? 1 : ch === '}' ? -1 : 0;
    }
    const open =
      depth > 0 ||
      (depth === 0 &&
        !lines
          .slice(l - 1, line)
          .join('\n')
          .includes('{'));
    if (!open) return undefined;
    return { keyword: m[1]!, header: m[0], decl: a.main.decls.find((d) => d.span.line === l) };
  }
  return undefined;
}

function usePaths(a: Analysis): CompletionItem[] {
  const host = a.input.files;
  const std = host.mileFiles(a.stdDir).map((f) => `std.${f.slice(0, -5)}`);
  const local = host
    .mileFiles(dirname(a.input.path))
    .map((f) => f.slice(0, -5))
    .filter((f) => !a.input.path.endsWith(`/${f}.mile`));
  return [...std, ...local].map((label) => ({ label, kind: CompletionItemKind.Module }));
}

function moduleNames(a: Analysis): CompletionItem[] {
  const out: CompletionItem[] = [];
  for (const f of a.files)
    for (const d of f.decls)
      if (d.kind === 'module')
        out.push({
          label: d.name.name,
          kind: CompletionItemKind.Class,
          detail: `module ${d.name.name}(${d.args.map((x) => `${x.name.name}: ${x.type}`).join(', ')})`,
        });
  return out;
}

function tuneCompletions(a: Analysis, modelName: string | undefined, before: string): CompletionItem[] {
  if (/\bfor\s+\w*$/.test(before)) {
    const models = a.files.flatMap((f) => f.decls.filter((d) => d.kind === 'model').map((d) => (d as ModelDecl).name.name));
    return models.map((label) => ({ label, kind: CompletionItemKind.Class }));
  }
  const options = /\b([a-z_]\w*)\s*\(([^()]*)$/.exec(before);
  const method = options ? a.registry.get(options[1]!) : undefined;
  if (method) {
    return Object.entries(method.options).map(([k, o]) => ({
      label: k,
      kind: CompletionItemKind.Property,
      detail: `${o.type}${o.required ? ' (required)' : ` = ${o.default}`}`,
      documentation: o.doc,
      insertText: `${k} = `,
    }));
  }
  const model = modelName === undefined ? undefined : a.elaborated(modelName).model;
  const sel = /(?:^|[\s,])([\w*{}\[\].]*?(?:\{[\w\s,]*)?)$/.exec(before);
  const typed = sel?.[1] ?? '';
  const head = /\b(?:on|train|freeze)\s+([^]*)$/.exec(before);
  if (model && (typed.includes('.') || head)) {
    // Inside `{a, b` the prefix is what comes before the brace.
    const text = typed.includes('{') && !typed.includes('}') ? typed.slice(0, typed.lastIndexOf('{')) : typed;
    const upToDot = text.slice(0, text.lastIndexOf('.') + 1);
    const prefix = selectorPrefix(upToDot, model.root.span);
    if (prefix) {
      const next = selectorContinuations(model, prefix);
      const items = [...next].map(([label, detail]) => ({
        label,
        kind: detail.startsWith('param') ? CompletionItemKind.Property : CompletionItemKind.Field,
        detail,
      }));
      if (upToDot === '' && !head) return items;
      return [...items, ...(prefix.length || head ? [{ label: '**', kind: CompletionItemKind.Operator, detail: 'any depth' }] : [])];
    }
  }
  const methods = a.registry.names().map((label) => ({ label, kind: CompletionItemKind.Function, detail: a.registry.get(label)?.summary }));
  return [...keywordItems(TUNE_KEYWORDS), ...methods];
}

/** Members of a child: its module's children and parameters. */
function memberCompletions(a: Analysis, decl: TopDecl, name: string): CompletionItem[] {
  const child = bodyItems(decl).find((i): i is ChildDecl => i.kind === 'child' && i.name.name === name);
  const mod = child && a.globals.module(child.module.name);
  if (!mod) return [];
  return mod.items
    .filter((i) => i.kind === 'child' || i.kind === 'param')
    .map((i) => ({
      label: (i as ChildDecl).name.name,
      kind: i.kind === 'child' ? CompletionItemKind.Field : CompletionItemKind.Property,
      detail: i.kind === 'child' ? (i as ChildDecl).module.name : 'param',
    }));
}

function bodyItems(decl: TopDecl): readonly (ModuleDecl['items'][number] | ModelDecl['items'][number])[] {
  return decl.kind === 'module' || decl.kind === 'model' ? decl.items : [];
}

/** The name before the innermost `(` still open at the cursor (on this line or the ones above, within 20 lines). */
function openCall(lines: readonly string[], line: number, col: number): string | undefined {
  let depth = 0;
  for (let l = line; l >= Math.max(1, line - 20); l--) {
    const text = l === line ? lines[l - 1]!.slice(0, col - 1) : (lines[l - 1] ?? '');
    for (let i = text.length - 1; i >= 0; i--) {
      const ch = text[i];
      if (ch === ')') depth++;
      else if (ch === '(') {
        if (depth === 0) return /([A-Za-z_]\w*)\s*$/.exec(text.slice(0, i))?.[1];
        depth--;
      } else if ((ch === '{' || ch === '}') && depth === 0) return undefined;
    }
  }
  return undefined;
}

/** Named arguments of the call being typed: a module's arguments, a child's forward inputs, a built-in's parameters. */
function argumentCompletions(a: Analysis, decl: TopDecl, callee: string): CompletionItem[] {
  const named = (label: string, detail: string): CompletionItem => ({
    label,
    kind: CompletionItemKind.Property,
    detail,
    insertText: `${label} = `,
  });
  const mod = a.globals.module(callee);
  if (mod?.kind === 'module') return mod.args.map((x) => named(x.name.name, x.type + (x.default ? ' (optional)' : '')));
  const child = bodyItems(decl).find((i): i is ChildDecl => i.kind === 'child' && i.name.name === callee);
  const target = child && a.globals.module(child.module.name);
  const fwd = target && itemsOf(target).find((i): i is ForwardDecl => i.kind === 'forward');
  if (fwd) {
    const typeText = (p: ForwardDecl['params'][number]) => (p.type ? spanText(a.sourceOf(p.type.span.file) ?? '', p.type.span) : 'value');
    return fwd.params.map((p) => named(p.name.name, typeText(p) + (p.default ? ' (optional)' : '')));
  }
  const b = builtins[callee];
  if (b) return b.params.map((p) => named(p.name, p.default ? 'optional' : 'required'));
  return [];
}

/** Declarations visible at the cursor inside `decl`: its arguments, config, inputs, parameters, children, and the values bound before the cursor. */
function scopeNames(a: Analysis, decl: TopDecl, line: number, col: number): CompletionItem[] {
  const out: CompletionItem[] = [];
  const local = new Set<DefKind>(['let', 'output', 'forward-input', 'size']);
  const fwd = bodyItems(decl).find((i): i is ForwardDecl => i.kind === 'forward');
  const inForward = fwd !== undefined && contains(fwd.span, line, col);
  for (const o of a.occurrences()) {
    if (!o.isDecl || !o.def || !contains(decl.span, o.span.line, o.span.col)) continue;
    const before = o.span.line < line || (o.span.line === line && o.span.endCol <= col);
    if (local.has(o.def.kind) && (!before || !inForward)) continue;
    const kind = KIND_OF[o.def.kind];
    if (kind !== undefined) out.push({ label: o.name, kind, detail: o.def.kind });
  }
  return out;
}

function contains(s: { line: number; col: number; endLine: number; endCol: number }, line: number, col: number): boolean {
  return (s.line < line || (s.line === line && s.col <= col)) && (s.endLine > line || (s.endLine === line && s.endCol >= col));
}
