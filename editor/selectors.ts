/**
 * Selectors against an elaborated model: what a segment of a tune's selector names (for go to
 * definition), which sites a whole selector matches and what the method adds there (hover),
 * and the children a partly typed selector can continue with (completion).
 */
import type { ChildDecl, ParamDecl, Selector, SelectorSeg, TuneItem } from '../grammar/ast.ts';
import type { Span } from '../core/span.ts';
import { type ElaboratedModel, type Instance, walkInstances } from '../compiler/sema/instance.ts';
import { selectorMatches, selectorText } from '../compiler/sema/select.ts';
import type { Analysis } from './analysis.ts';
import { definitionOf, type Definition, itemsOf, type SelectorContext } from './occurrences.ts';

const parentsCache = new WeakMap<ElaboratedModel, Map<Instance, Instance>>();

function parents(model: ElaboratedModel): Map<Instance, Instance> {
  let m = parentsCache.get(model);
  if (!m) {
    m = new Map();
    for (const i of walkInstances(model.root)) for (const c of i.children.values()) for (const x of Array.isArray(c) ? c : [c]) m.set(x, i);
    parentsCache.set(model, m);
  }
  return m;
}

export function instancesMatching(model: ElaboratedModel, segments: readonly SelectorSeg[]): Instance[] {
  const sel: Selector = { segments, span: model.root.span };
  return [...walkInstances(model.root)].filter((i) => selectorMatches(sel, i.segments));
}

/** The declarations a selector segment's name stands for: children (in their parent modules) or parameters. */
export function segmentDefinitions(a: Analysis, ctx: SelectorContext, name: string, at: Span): Definition[] {
  const model = a.elaborated(ctx.tune.model.name).model;
  if (!model) return [];
  const prefix = ctx.selector.segments.slice(0, ctx.segment);
  const withName: SelectorSeg[] = [...prefix, { kind: 'name', name, span: at }];
  const defs = new Map<string, Definition>();
  const up = parents(model);
  for (const inst of instancesMatching(model, withName)) {
    const parent = up.get(inst);
    const c = parent && itemsOf(parent.decl).find((x): x is ChildDecl => x.kind === 'child' && x.name.name === name);
    if (c)
      defs.set(
        `${c.name.span.file}:${c.name.span.line}:${c.name.span.col}`,
        definitionOf('child', c.name, { node: c, module: c.module.name, container: parent!.type }),
      );
  }
  for (const inst of instancesMatching(model, prefix)) {
    const p = itemsOf(inst.decl).find((x): x is ParamDecl => x.kind === 'param' && x.name.name === name);
    if (p)
      defs.set(
        `${p.name.span.file}:${p.name.span.line}:${p.name.span.col}`,
        definitionOf('param', p.name, { node: p, container: inst.type }),
      );
  }
  return [...defs.values()];
}

export interface SelectorSites {
  readonly selector: string;
  /** Matched site paths (instances, or parameters for train/freeze), in tree order. */
  readonly sites: readonly string[];
  /** For a method: the site type of each site, and the parameters it adds (names and shapes, of the first site) and in all. */
  readonly types?: readonly string[];
  readonly added?: { readonly params: readonly { name: string; shape: readonly number[] }[]; readonly total: number };
}

/** The sites one selector of a tune item matches, from the applied tune when it applies, else by matching alone. */
export function selectorSites(a: Analysis, ctx: SelectorContext): SelectorSites | undefined {
  const model = a.elaborated(ctx.tune.model.name).model;
  if (!model) return undefined;
  const text = selectorText(ctx.selector);
  const report = a.tuneReport(ctx.tune).report;
  const item = ctx.item;
  const methodName = item.kind === 'apply' ? item.method.name : item.kind;
  const match = report?.matches.find((m) => m.selector === text && m.method === methodName);
  const sites = match ? match.sites : unappliedSites(model, ctx.selector, item.kind === 'apply');
  if (item.kind !== 'apply' || !report) return { selector: text, sites };
  const application = applicationIndex(ctx.tune.items, item);
  const byPath = new Map([...walkInstances(model.root)].map((i) => [i.path, i]));
  const types: string[] = [];
  let first: { name: string; shape: readonly number[] }[] | undefined;
  let total = 0;
  for (const path of sites) {
    const inst = byPath.get(path);
    if (!inst) continue;
    types.push(inst.type);
    const att = report.attachments.bySite.get(inst)?.find((x) => x.application === application);
    if (!att) continue;
    first ??= att.params.map((p) => ({ name: p.name, shape: p.shape }));
    total += att.params.reduce((n, p) => n + p.shape.reduce((x, y) => x * y, 1), 0);
  }
  return { selector: text, sites, types, added: { params: first ?? [], total } };
}

/** Sites by matching alone (the tune does not apply): instances for a method, parameters for train/freeze. */
function unappliedSites(model: ElaboratedModel, selector: Selector, method: boolean): string[] {
  const instances = new Set(instancesMatching(model, selector.segments));
  if (method) return [...instances].map((i) => i.path);
  return [...walkInstances(model.root)].flatMap((i) =>
    i.params.filter((p) => instances.has(i) || selectorMatches(selector, [...i.segments, p.name])).map((p) => p.path),
  );
}

/** Which method application (counted over the tune's `apply` items) an item is. */
function applicationIndex(items: readonly TuneItem[], item: TuneItem): number {
  return items.filter((i) => i.kind === 'apply').indexOf(item as Extract<TuneItem, { kind: 'apply' }>);
}

/**
 * Parses the selector text typed so far (`blocks.*.attn.`, `{a, b}.**.`) into complete segments;
 * undefined when it is not a selector prefix.
 */
export function selectorPrefix(text: string, at: Span): SelectorSeg[] | undefined {
  const segs: SelectorSeg[] = [];
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of text) {
    if (ch === '{') depth++;
    if (ch === '}') depth--;
    if (ch === '.' && depth === 0) {
      parts.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  for (const p of parts) {
    const m = /^([A-Za-z_]\w*|\*\*|\*|\{[\w\s,]*\})((?:\[\d+(?:\.\.\d*)?\])*)$/.exec(p);
    if (!m) return undefined;
    const head = m[1]!;
    if (head === '**') segs.push({ kind: 'globstar', span: at });
    else if (head === '*') segs.push({ kind: 'star', span: at });
    else if (head.startsWith('{'))
      segs.push({
        kind: 'alt',
        names: head
          .slice(1, -1)
          .split(',')
          .map((n) => ({ name: n.trim(), span: at }))
          .filter((n) => n.name),
        span: at,
      });
    else segs.push({ kind: 'name', name: head, span: at });
    for (const r of m[2]!.matchAll(/\[(\d+)(?:\.\.(\d*))?\]/g)) {
      const start = Number(r[1]);
      const end = r[0].includes('..') ? (r[2] ? Number(r[2]) : undefined) : start + 1;
      segs.push({ kind: 'range', start, end, span: at });
    }
  }
  return segs;
}

/** What may follow a selector prefix: child names (with their module types) and parameter names. */
export function selectorContinuations(model: ElaboratedModel, prefix: readonly SelectorSeg[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const inst of instancesMatching(model, prefix)) {
    for (const [name, c] of inst.children) out.set(name, Array.isArray(c) ? `repeat ${c.length} × ${c[0]?.type ?? '?'}` : c.type);
    for (const p of inst.params) if (!out.has(p.name)) out.set(p.name, `param f32[${p.shape.join(', ')}]`);
  }
  return out;
}
