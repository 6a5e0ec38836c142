/**
 * Hover text for a name: its kind and type, from the declaration and, where the model was
 * elaborated and lowered, the concrete values — a module's signature and parameter count, a
 * `let` value's shape, a config value, a PEFT method's options, the sites a selector matches.
 */
import type { ArgDecl, ChildDecl, ConfigEntry, InputDecl, ModelDecl, ModuleDecl, ParamDecl, TuneDecl } from '../grammar/ast.ts';
import { builtins } from '../compiler/lower/builtins.ts';
import { describeValue } from '../compiler/lower/value.ts';
import { initArgs } from '../compiler/sema/elaborate.ts';
import { type ElaboratedModel, type Instance, scalarText, walkInstances } from '../compiler/sema/instance.ts';
import { shapeToString } from '../core/dim.ts';
import type { PeftMethod } from '../compiler/peft/method.ts';
import { spanKey, type Analysis } from './analysis.ts';
import type { Definition, Occurrence } from './occurrences.ts';
import { spanText } from './positions.ts';
import { selectorSites } from './selectors.ts';

const fmt = (n: number) => n.toLocaleString('en-US');
const code = (s: string) => '```mile\n' + s + '\n```';
const MAX_LISTED = 12;

/** The markdown hover of an occurrence, or undefined when there is nothing to say. */
export function hoverText(a: Analysis, o: Occurrence): string | undefined {
  if (o.selector) return selectorHover(a, o);
  if (o.builtin === 'function') return builtinHover(o.name);
  if (o.builtin === 'initializer') return code(`${o.name}(${(initArgs[o.name] ?? []).join(', ')})`) + '\n\nparameter initializer';
  if (o.builtin === 'method' || o.def?.kind === 'method') {
    const m = a.registry.get(o.name);
    return m ? methodHover(m) : undefined;
  }
  if (o.argumentOf?.kind === 'method' && !o.def) {
    const opt = a.registry.get(o.argumentOf.callee)?.options[o.name];
    return opt ? code(`${o.name}: ${opt.type} = ${opt.default}`) + `\n\noption of \`${o.argumentOf.callee}\`: ${opt.doc}` : undefined;
  }
  if (o.argumentOf?.kind === 'builtin' && !o.def) return builtinHover(o.argumentOf.callee);
  return o.def ? definitionHover(a, o.def) : undefined;
}

function definitionHover(a: Analysis, d: Definition): string | undefined {
  const src = (n: { span: Definition['span'] }) => firstLine(spanText(a.sourceOf(n.span.file) ?? '', n.span));
  switch (d.kind) {
    case 'module':
    case 'model': {
      const decl = d.node as ModuleDecl | ModelDecl;
      const sig =
        decl.kind === 'module' ? `module ${decl.name.name}(${decl.args.map((x) => argText(a, x)).join(', ')})` : `model ${decl.name.name}`;
      return [code(sig), instanceSummary(a, (i) => i.type === d.name)].filter(Boolean).join('\n\n');
    }
    case 'child': {
      const c = d.node as ChildDecl;
      const lines = [code(src(c)), `child of \`${d.container}\``];
      return [
        ...lines,
        instanceSummary(
          a,
          (i) => i.segments.at(-1) === d.name || (i.segments.at(-2) === d.name && /^\d+$/.test(i.segments.at(-1)!)),
          d.container,
        ),
      ]
        .filter(Boolean)
        .join('\n\n');
    }
    case 'param': {
      const p = d.node as ParamDecl;
      const shapes = new Set<string>();
      for (const i of allInstances(a))
        if (i.type === d.container) for (const q of i.params) if (q.name === d.name) shapes.add(`f32[${q.shape.join(', ')}]`);
      return [
        code(src(p)),
        shapes.size
          ? `shape: ${[...shapes]
              .slice(0, 6)
              .map((s) => `\`${s}\``)
              .join(', ')}`
          : '',
      ]
        .filter(Boolean)
        .join('\n\n');
    }
    case 'config': {
      const e = d.node as ConfigEntry;
      const value = elaboratedModel(a, d.container)?.config.get(d.name);
      return [
        code(`config ${d.name} = ${spanText(a.sourceOf(e.value.span.file) ?? '', e.value.span)}`),
        value ? `value: \`${scalarText(value)}\` (${value.kind})` : '',
      ]
        .filter(Boolean)
        .join('\n\n');
    }
    case 'input': {
      const i = d.node as InputDecl;
      const input = elaboratedModel(a, d.container)?.inputs.find((x) => x.name === d.name);
      return [code(src(i)), input ? `\`${input.dtype}${shapeToString(input.shape)}\`` : ''].filter(Boolean).join('\n\n');
    }
    case 'arg': {
      const arg = d.node as ArgDecl;
      const values = new Set<string>();
      for (const i of allInstances(a)) if (i.type === d.container && i.args.has(d.name)) values.add(scalarText(i.args.get(d.name)!));
      const seen = values.size
        ? `values: ${[...values]
            .slice(0, 8)
            .map((v) => `\`${v}\``)
            .join(', ')}`
        : '';
      return [code(`${d.container}(${argText(a, arg)})`), `argument of \`${d.container}\``, seen].filter(Boolean).join('\n\n');
    }
    case 'option': {
      const m = a.registry.get(d.container ?? '');
      const opt = m?.options[d.name];
      return code(`${d.name}: ${opt?.type ?? '?'}${opt ? ` = ${opt.default}` : ''}`) + `\n\noption of method \`${d.container}\``;
    }
    case 'let':
    case 'output':
    case 'forward-input':
      return valueHover(a, d);
    case 'size':
      return code(d.name) + `\n\nsize bound by the shape of \`${d.container}\`'s inputs`;
    case 'tune':
      return tuneHover(a, d.node as TuneDecl);
    case 'method':
      return undefined;
    case 'binding':
      return code(d.name) + `\n\nbound from the site of method \`${d.container}\``;
    case 'file':
      return `\`${d.path}\``;
  }
}

function firstLine(s: string): string {
  return s.split('\n')[0]!;
}

function argText(a: Analysis, x: ArgDecl): string {
  const def = x.default ? ` = ${spanText(a.sourceOf(x.default.span.file) ?? '', x.default.span)}` : '';
  return `${x.name.name}: ${x.type}${def}`;
}

/** `let q: f32[B, 12, T, 64]`, or the shapes per instance when the instances differ. */
function valueHover(a: Analysis, d: Definition): string {
  const word = d.kind === 'forward-input' ? 'input' : d.kind;
  const carried = a.checked ? undefined : a.carried?.get(`${d.container}:${d.name}`);
  const seen = a.bindings.get(spanKey(d.span)) ?? carried ?? [];
  const types = [...new Set(seen.map((s) => s.type))];
  if (types.length === 0)
    return code(`${word} ${d.name}`) + `\n\n(shape known once the model is ${a.checked ? 'checked without errors' : 'checked'})`;
  if (types.length === 1) return code(`${word} ${d.name}: ${types[0]}`) + (seen.length > 1 ? `\n\nthe same in ${seen.length} calls` : '');
  const rows = seen.slice(0, MAX_LISTED).map((s) => `- \`${s.instance || '(model)'}\`: \`${s.type}\``);
  return code(`${word} ${d.name}`) + `\n\n${types.length} shapes:\n${rows.join('\n')}`;
}

function allInstances(a: Analysis): Instance[] {
  const out: Instance[] = [];
  for (const m of mainModels(a)) out.push(...walkInstances(m.root));
  return out;
}

/** The models of the document (or those its tunes name), elaborated. */
function mainModels(a: Analysis): ElaboratedModel[] {
  const names = new Set<string>();
  for (const d of a.main.decls) {
    if (d.kind === 'model') names.add(d.name.name);
    if (d.kind === 'tune') names.add(d.model.name);
  }
  return [...names].map((n) => a.elaborated(n).model).filter((m): m is ElaboratedModel => m !== undefined);
}

function elaboratedModel(a: Analysis, name: string | undefined): ElaboratedModel | undefined {
  return name === undefined ? undefined : a.elaborated(name).model;
}

function paramCount(i: Instance): number {
  let n = 0;
  for (const x of walkInstances(i)) for (const p of x.params) n += p.shape.reduce((u, v) => u * v, 1);
  return n;
}

/** How many instances of the model(s) satisfy `pick`, and their parameter counts. */
function instanceSummary(a: Analysis, pick: (i: Instance) => boolean, parentType?: string): string {
  const rows: string[] = [];
  for (const m of mainModels(a)) {
    const insts = [...walkInstances(m.root)].filter(
      (i) => pick(i) && (parentType === undefined || i === m.root || parentTypeOf(m, i) === parentType),
    );
    if (!insts.length) continue;
    const counts = new Set(insts.map(paramCount));
    const each =
      counts.size === 1
        ? `${fmt([...counts][0]!)} parameters${insts.length > 1 ? ' each' : ''}`
        : `${fmt(Math.min(...counts))}–${fmt(Math.max(...counts))} parameters`;
    const paths =
      insts
        .slice(0, 4)
        .map((i) => `\`${i.path || m.name}\``)
        .join(', ') + (insts.length > 4 ? `, … (${insts.length})` : '');
    rows.push(`in \`${m.name}\`: ${insts.length} instance${insts.length > 1 ? 's' : ''}, ${each} — ${paths}`);
  }
  return rows.join('\n\n');
}

function parentTypeOf(m: ElaboratedModel, inst: Instance): string | undefined {
  for (const i of walkInstances(m.root))
    for (const c of i.children.values()) if (c === inst || (Array.isArray(c) && c.includes(inst))) return i.type;
  return undefined;
}

function builtinHover(name: string): string | undefined {
  const b = builtins[name];
  if (!b) return undefined;
  const valueText = (v: NonNullable<(typeof b.params)[number]['default']>) =>
    v.kind === 'string' ? JSON.stringify(v.v) : describeValue(v).replace(/^(int|float|bool) /, '');
  const params = b.params.map((p) => (p.default ? `${p.name} = ${valueText(p.default)}` : p.name));
  return code(`${name}(${params.join(', ')})`) + `\n\nbuilt-in: ${b.doc}`;
}

export function methodHover(m: PeftMethod): string {
  const options = Object.entries(m.options).map(
    ([k, o]) => `| \`${k}\` | ${o.type} | ${o.required ? '(required)' : `\`${o.default}\``} | ${o.doc.replace(/\|/g, '\\|')} |`,
  );
  return [
    code(
      `method ${m.name}(${Object.entries(m.options)
        .map(([k, o]) => `${k}: ${o.type}${o.required ? '' : ` = ${o.default}`}`)
        .join(', ')})`,
    ),
    m.summary,
    `sites: ${m.sites.map((s) => `\`${s}\``).join(', ')}`,
    options.length ? ['| option | type | default | |', '|---|---|---|---|', ...options].join('\n') : '',
  ]
    .filter(Boolean)
    .join('\n\n');
}

function selectorHover(a: Analysis, o: Occurrence): string | undefined {
  const s = selectorSites(a, o.selector!);
  if (!s) return undefined;
  const item = o.selector!.item;
  const what = item.kind === 'apply' ? `\`${item.method.name}\` on` : `${item.kind}`;
  const listed = s.sites.slice(0, MAX_LISTED).map((p, i) => `- \`${p}\`${s.types?.[i] ? ` (${s.types[i]})` : ''}`);
  if (s.sites.length > MAX_LISTED) listed.push(`- … and ${s.sites.length - MAX_LISTED} more`);
  const parts = [
    code(`${what} ${s.selector}`),
    `matches ${s.sites.length} ${item.kind === 'apply' ? 'site' : 'parameter'}${s.sites.length === 1 ? '' : 's'}:\n${listed.join('\n')}`,
  ];
  if (s.added && s.added.params.length) {
    parts.push(
      `adds at \`${s.sites[0]}\`: ${s.added.params.map((p) => `\`${p.name}: f32[${p.shape.join(', ')}]\``).join(', ')}; ${fmt(s.added.total)} parameters ${s.sites.length === 1 ? 'in all' : `at all ${s.sites.length} sites`}`,
    );
  }
  return parts.join('\n\n');
}

function tuneHover(a: Analysis, t: TuneDecl): string {
  const r = a.tuneReport(t).report;
  const head = code(`tune ${t.name.name} for ${t.model.name}`);
  if (!r) return head;
  const model = a.elaborated(t.model.name).model!;
  const size = (shape: readonly number[]) => shape.reduce((x, y) => x * y, 1);
  let added = 0;
  for (const atts of r.attachments.bySite.values()) for (const att of atts) for (const p of att.params) added += size(p.shape);
  for (const s of r.attachments.shared) for (const p of s.params) added += size(p.shape);
  // The model's trainable flags are shared by every tune applied to it: count from this tune's own items.
  const trainedPaths = new Set<string>();
  for (const m of r.matches) {
    if (m.method === 'train') for (const p of m.sites) trainedPaths.add(p);
    if (m.method === 'freeze') for (const p of m.sites) trainedPaths.delete(p);
  }
  let trained = 0;
  for (const i of walkInstances(model.root)) for (const p of i.params) if (trainedPaths.has(p.path)) trained += size(p.shape);
  const rows = r.matches.map(
    (m) => `- ${m.method} \`${m.selector}\`: ${m.sites.length} ${m.method === 'train' || m.method === 'freeze' ? 'parameters' : 'sites'}`,
  );
  return [head, `${fmt(added)} parameters added, ${fmt(trained)} of the model's trained`, rows.join('\n')].join('\n\n');
}
