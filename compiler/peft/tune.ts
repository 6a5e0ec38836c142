/**
 * Applies a `tune` to an elaborated model: sets what is trained or frozen (everything is
 * frozen by default) and attaches PEFT methods at the sites their selectors match.
 * A selector that matches nothing, or a method at a site of the wrong type, is an error.
 */
import type { Arg, Selector, TuneDecl, TuneItem } from '../../grammar/ast.ts';
import { CompileError, type Diagnostic, didYouMean, error, suggestion } from '../../core/diagnostic.ts';
import { constEval, describeScalar } from '../sema/consteval.ts';
import {
  type Attachment,
  type Attachments,
  type ElaboratedModel,
  type HookValue,
  NO_ATTACHMENTS,
  type Instance,
  type ParamSlot,
  type Scalar,
  type SharedParams,
  walkInstances,
} from '../sema/instance.ts';
import type { Span } from '../../core/span.ts';
import { selectorMatches, selectorText } from '../sema/select.ts';
import type { AddedParam, MethodOptions, PeftMethod } from './method.ts';
import type { MethodRegistry } from './registry.ts';

export interface SiteMatch {
  readonly method: string;
  readonly selector: string;
  readonly sites: readonly string[];
}

export interface TuneReport {
  readonly tune: string | undefined;
  readonly matches: readonly SiteMatch[];
  /** The PEFT methods attached at sites and the parameters they add (what lowering rewrites). */
  readonly attachments: Attachments;
  /** The methods the tune applies, by name: what the adapter format and reports ask about a method. */
  readonly methods: ReadonlyMap<string, PeftMethod>;
  /** The tune's `optimizer { ... }` settings (only the keys it sets); absent without the block. */
  readonly optimizer?: TuneOptimizer;
}

/** A tune's training settings: what `milec train` and `milec sweep` use unless the command line sets them. */
export interface TuneOptimizer {
  readonly lr?: number;
  readonly weightDecay?: number;
  readonly schedule?: 'constant' | 'cosine';
  readonly warmup?: number;
}

const OPTIMIZER_KEYS = ['lr', 'weight_decay', 'schedule', 'warmup'] as const;
const SCHEDULES = ['constant', 'cosine'] as const;

/** The one line `milec plan` prints for a tune's optimizer settings: `lr 0.01, weight decay 0, cosine schedule, warm-up 10 steps`. */
export function optimizerText(o: TuneOptimizer): string {
  const parts: string[] = [];
  if (o.lr !== undefined) parts.push(`lr ${o.lr}`);
  if (o.weightDecay !== undefined) parts.push(`weight decay ${o.weightDecay}`);
  if (o.schedule !== undefined) parts.push(`${o.schedule} schedule`);
  if (o.warmup !== undefined) parts.push(`warm-up ${o.warmup} steps`);
  return parts.join(', ');
}

/** Checks an `optimizer { ... }` block: known keys, each once, of the right type and range. */
function optimizerSettings(item: Extract<TuneItem, { kind: 'optimizer' }>): TuneOptimizer {
  const out: { lr?: number; weightDecay?: number; schedule?: 'constant' | 'cosine'; warmup?: number } = {};
  const seen = new Set<string>();
  for (const e of item.entries) {
    const key = e.name.name;
    if (!(OPTIMIZER_KEYS as readonly string[]).includes(key))
      throw new CompileError(
        error(
          'tune',
          `unknown optimizer setting \`${key}\``,
          e.name.span,
          suggestion(key, OPTIMIZER_KEYS, `the settings are ${OPTIMIZER_KEYS.map((k) => `\`${k}\``).join(', ')}`),
        ),
      );
    if (seen.has(key)) throw new CompileError(error('tune', `optimizer setting \`${key}\` is set twice`, e.name.span));
    seen.add(key);
    if (key === 'schedule') {
      const v = e.value;
      if (v.kind !== 'name' || !(SCHEDULES as readonly string[]).includes(v.name))
        throw new CompileError(
          error(
            'type',
            `optimizer setting \`schedule\` is \`constant\` or \`cosine\`${v.kind === 'name' ? `, not \`${v.name}\`` : ''}`,
            v.span,
            v.kind === 'name' ? suggestion(v.name, SCHEDULES) : {},
          ),
        );
      out.schedule = v.name as 'constant' | 'cosine';
      continue;
    }
    const s: Scalar = e.value.kind === 'name' ? { kind: 'none' } : constEval(e.value, new Map());
    const n = s.kind === 'int' && typeof s.v === 'number' ? s.v : s.kind === 'float' ? s.v : undefined;
    const what = e.value.kind === 'name' ? `\`${e.value.name}\`` : describeScalar(s);
    if (key === 'warmup') {
      if (s.kind !== 'int' || n === undefined || n < 0)
        throw new CompileError(error('type', `optimizer setting \`warmup\` is a non-negative int (steps), got ${what}`, e.value.span));
      out.warmup = n;
    } else if (n === undefined || !Number.isFinite(n)) {
      throw new CompileError(error('type', `optimizer setting \`${key}\` is a number, got ${what}`, e.value.span));
    } else if (key === 'lr') {
      if (n <= 0) throw new CompileError(error('tune', `optimizer setting \`lr\` must be greater than 0, got ${n}`, e.value.span));
      out.lr = n;
    } else {
      if (n < 0) throw new CompileError(error('tune', `optimizer setting \`weight_decay\` must not be negative, got ${n}`, e.value.span));
      out.weightDecay = n;
    }
  }
  return out;
}

/** The attachments of one tune while it is applied. */
interface Attaching {
  readonly bySite: Map<Instance, Attachment[]>;
  readonly shared: SharedParams[];
  /** Method applications (tune items) so far. */
  applications: number;
  /** Values set at int hooks of instances enclosing sites (`PeftMethod.enclosingHooks`). */
  readonly hookValues: Map<Instance, Map<string, HookValue>>;
  /** Each instance's parent (the root has none). */
  readonly parents: ReadonlyMap<Instance, Instance>;
}

export function applyTune(
  model: ElaboratedModel,
  tune: TuneDecl | undefined,
  registry: MethodRegistry,
): { report?: TuneReport; diagnostics: Diagnostic[] } {
  try {
    return { report: apply(model, tune, registry), diagnostics: [] };
  } catch (e) {
    if (e instanceof CompileError) return { diagnostics: [e.diagnostic] };
    throw e;
  }
}

function apply(model: ElaboratedModel, tune: TuneDecl | undefined, registry: MethodRegistry): TuneReport {
  const instances = [...walkInstances(model.root)];
  const matches: SiteMatch[] = [];
  const parents = new Map<Instance, Instance>();
  for (const i of instances) for (const c of i.children.values()) for (const x of Array.isArray(c) ? c : [c]) parents.set(x, i);
  const attaching: Attaching = { bySite: new Map(), shared: [], applications: 0, hookValues: new Map(), parents };
  const methods = new Map<string, PeftMethod>();
  if (!tune) {
    // No tune: full fine-tuning of every parameter.
    for (const i of instances) for (const p of i.params) p.trainable = true;
    return { tune: undefined, matches, attachments: NO_ATTACHMENTS, methods };
  }
  if (tune.model.name !== model.name)
    throw new CompileError(
      error('tune', `tune \`${tune.name.name}\` is for \`${tune.model.name}\`, not \`${model.name}\``, tune.model.span),
    );
  let optimizer: TuneOptimizer | undefined;
  for (const item of tune.items) {
    switch (item.kind) {
      case 'optimizer':
        if (optimizer) throw new CompileError(error('tune', `tune \`${tune.name.name}\` has two \`optimizer\` blocks`, item.span));
        optimizer = optimizerSettings(item);
        break;
      case 'train':
      case 'freeze':
        for (const sel of item.selectors) {
          const params = selectParams(instances, attaching, sel);
          if (params.length === 0) throw noMatch(sel, instances);
          checkAlternatives(sel, [
            ...instances.map((i) => i.segments),
            ...instances.flatMap((i) => i.params.map((p) => [...i.segments, p.name])),
          ]);
          for (const p of params) p.trainable = item.kind === 'train';
          matches.push({ method: item.kind, selector: selectorText(sel), sites: params.map((p) => p.path) });
        }
        break;
      case 'apply': {
        const method = registry.get(item.method.name);
        if (!method) {
          throw new CompileError(
            error('tune', `unknown PEFT method \`${item.method.name}\``, item.method.span, suggestion(item.method.name, registry.names())),
          );
        }
        methods.set(method.name, method);
        matches.push(...applyMethod(method, item, instances, attaching));
        break;
      }
    }
  }
  return {
    tune: tune.name.name,
    matches,
    attachments: {
      bySite: attaching.bySite,
      shared: attaching.shared,
      ...(attaching.hookValues.size ? { hookValues: attaching.hookValues } : {}),
    },
    methods,
    ...(optimizer ? { optimizer } : {}),
  };
}

/** One application of a method (one tune item): its sites, over all its selectors, in tree order. */
function applyMethod(
  method: PeftMethod,
  item: Extract<TuneItem, { kind: 'apply' }>,
  instances: readonly Instance[],
  attaching: Attaching,
): SiteMatch[] {
  const matches: SiteMatch[] = [];
  const options = bindOptions(method, item.args, item.method.span);
  const picked: { site: Instance; sel: Selector }[] = [];
  for (const sel of item.selectors) {
    const sites = instances.filter((i) => i.path !== '' && selectorMatches(sel, i.segments));
    if (sites.length === 0) throw noMatch(sel, instances);
    checkAlternatives(
      sel,
      instances.map((i) => i.segments),
    );
    for (const site of sites) {
      checkSite(method, site, attaching, sel);
      if (!picked.some((p) => p.site === site)) picked.push({ site, sel });
    }
    matches.push({ method: method.name, selector: selectorText(sel), sites: sites.map((s) => s.path) });
  }
  picked.sort((a, b) => instances.indexOf(a.site) - instances.indexOf(b.site));
  let shared: SharedParams | undefined;
  if (method.shared) {
    const added = method.shared(
      picked.map((p) => p.site),
      options,
    );
    if (typeof added === 'string') throw new CompileError(error('tune', added, item.span));
    const prefix = `${method.name}_${attaching.shared.filter((s) => s.method === method.name).length}`;
    shared = { method: method.name, params: added.map((p) => slot(p, `${prefix}.${p.name}`, method.name, item.span)) };
    attaching.shared.push(shared);
  }
  const application = attaching.applications++;
  picked.forEach(({ site, sel }, i) =>
    attach(attaching, method, site, options, sel, item.span, { shared, application, siteIndex: i, siteCount: picked.length }),
  );
  for (const { site, sel } of picked) setEnclosingHooks(attaching, method, site, options, sel, item.span);
  return matches;
}

/**
 * Gives the int hooks a method sets (`PeftMethod.enclosingHooks`) their value at the nearest
 * instance above `site` whose forward marks them; a second, different value there is an error.
 */
function setEnclosingHooks(
  attaching: Attaching,
  method: PeftMethod,
  site: Instance,
  options: MethodOptions,
  sel: Selector,
  span: Span,
): void {
  for (const [name, hook] of Object.entries(method.enclosingHooks ?? {})) {
    let owner = attaching.parents.get(site);
    while (owner && !hooksOf(owner).has(name)) owner = attaching.parents.get(owner);
    if (!owner) continue;
    const value = hook.value(options);
    if (!Number.isInteger(value))
      throw new CompileError(error('tune', `\`${method.name}\` gives \`hook ${name}\` the value ${value}, which is not an int`, span));
    const byName = attaching.hookValues.get(owner) ?? new Map<string, HookValue>();
    attaching.hookValues.set(owner, byName);
    const prev = byName.get(name);
    if (!prev) {
      byName.set(name, { value, method: method.name, span, site: site.path, doc: hook.doc });
      continue;
    }
    if (prev.value === value) continue;
    const where = owner.path === '' ? `the model` : `\`${owner.path}\` (${owner.type})`;
    throw new CompileError(
      error(
        'tune',
        `\`${method.name}\` on \`${site.path}\` sets \`hook ${name}\` of ${where} to ${value}, but \`${prev.method}\` on \`${prev.site}\` sets it to ${prev.value}`,
        sel.span,
        { help: hook.doc, related: [{ span: prev.span, message: `\`${prev.method}\` sets \`${name}\` to ${prev.value} here` }] },
      ),
    );
  }
}

/** A `train`/`freeze` selector's parameters: the model's own and those methods added so far. */
function selectParams(instances: readonly Instance[], attaching: Attaching, sel: Selector): ParamSlot[] {
  const out = new Set<ParamSlot>();
  const paramsAt = (inst: Instance) => [...inst.params, ...(attaching.bySite.get(inst) ?? []).flatMap((a) => a.params)];
  for (const inst of instances) {
    const own = paramsAt(inst);
    if (inst.path !== '' && selectorMatches(sel, inst.segments)) {
      // A selected instance selects everything beneath it.
      for (const sub of walkInstances(inst)) for (const p of paramsAt(sub)) out.add(p);
    }
    for (const p of own) if (selectorMatches(sel, [...inst.segments, p.name])) out.add(p);
  }
  return [...out];
}

/**
 * In `{a, b}` every alternative must match something: peft silently skipping a misspelled
 * target module is one of its most reported problems.
 */
function checkAlternatives(sel: Selector, paths: readonly (readonly string[])[]): void {
  sel.segments.forEach((seg, i) => {
    if (seg.kind !== 'alt') return;
    for (const alt of seg.names) {
      const only: Selector = {
        ...sel,
        segments: sel.segments.map((s, j) => (j === i ? { kind: 'name', name: alt.name, span: alt.span } : s)),
      };
      if (paths.some((p) => selectorMatches(only, p))) continue;
      const names = new Set<string>();
      for (const p of paths) for (const part of p) names.add(part);
      throw new CompileError(
        error('tune', `\`${alt.name}\` in \`${selectorText(sel)}\` matches nothing in the model`, alt.span, suggestion(alt.name, names)),
      );
    }
  });
}

function noMatch(sel: Selector, instances: readonly Instance[]): CompileError {
  const paths = instances.filter((i) => i.path !== '').map((i) => i.path);
  const segPaths = [...instances.map((i) => i.segments), ...instances.flatMap((i) => i.params.map((p) => [...i.segments, p.name]))];
  const text = selectorText(sel);
  let help: string | undefined;
  // Find the first name segment after which nothing matches, and suggest a fix for it.
  const names = new Set<string>();
  for (const p of segPaths) for (const part of p) names.add(part);
  for (let i = 0; i < sel.segments.length && help === undefined; i++) {
    const seg = sel.segments[i]!;
    const prefix: Selector = { ...sel, segments: sel.segments.slice(0, i + 1) };
    const some = segPaths.some((p) => p.some((_, k) => selectorMatches(prefix, p.slice(0, k + 1))));
    if (some) continue;
    if (seg.kind === 'name') {
      const near = didYouMean(seg.name, names);
      if (near) {
        const fixed: Selector = { ...sel, segments: sel.segments.map((s, j) => (j === i ? { ...seg, name: near } : s)) };
        help = `did you mean \`${selectorText(fixed)}\`?`;
      }
    }
    break;
  }
  help ??= `paths look like: ${paths.slice(0, 4).join(', ')}${paths.length > 4 ? ', …' : ''}`;
  return new CompileError(error('tune', `selector \`${text}\` matches nothing in the model`, sel.span, { help }));
}

function bindOptions(method: PeftMethod, args: readonly Arg[], at: Span): MethodOptions {
  const out: Record<string, number | boolean> = {};
  const names = Object.keys(method.options);
  let pos = 0;
  for (const a of args) {
    const name = a.name ? a.name.name : names[pos++];
    if (name === undefined) throw new CompileError(error('tune', `\`${method.name}\` takes at most ${names.length} option(s)`, a.span));
    const spec = method.options[name];
    if (!spec)
      throw new CompileError(
        error(
          'tune',
          `\`${method.name}\` has no option \`${name}\``,
          a.name?.span ?? a.span,
          suggestion(name, names, `options of \`${method.name}\`: ${names.join(', ')}`),
        ),
      );
    const v: Scalar = constEval(a.value, new Map());
    let value: number | boolean;
    if (spec.type === 'bool') {
      if (v.kind !== 'bool') throw new CompileError(error('type', `option \`${name}\` is bool, got ${describeScalar(v)}`, a.value.span));
      value = v.v;
    } else {
      if (v.kind !== 'int' && v.kind !== 'float')
        throw new CompileError(error('type', `option \`${name}\` is ${spec.type}, got ${describeScalar(v)}`, a.value.span));
      const n = Number(v.v);
      if (spec.type === 'int' && !Number.isInteger(n))
        throw new CompileError(error('type', `option \`${name}\` is int, got ${n}`, a.value.span));
      value = n;
    }
    const bad = spec.check?.(value);
    if (bad) throw new CompileError(error('value', `option \`${name}\` of \`${method.name}\` ${bad}, got ${value}`, a.value.span));
    out[name] = value;
  }
  for (const [k, spec] of Object.entries(method.options)) {
    if (k in out) continue;
    if (spec.required)
      throw new CompileError(
        error('tune', `\`${method.name}\` needs option \`${k}\` (${spec.type})`, at, { help: `write \`${method.name}(${k} = …)\`` }),
      );
    out[k] = spec.default;
  }
  return out;
}

function slot(p: AddedParam, path: string, method: string, span: Span): ParamSlot {
  return { name: p.name, path, shape: p.shape, init: p.init, trainable: true, addedBy: method, span };
}

/** The hook names a module's forward exposes (`hook keys(...)`). */
function hooksOf(site: Instance): Set<string> {
  const out = new Set<string>();
  const visit = (x: unknown): void => {
    if (Array.isArray(x)) x.forEach(visit);
    else if (x && typeof x === 'object') {
      const o = x as { kind?: string; name?: { name: string } };
      if (o.kind === 'hook' && o.name) out.add(o.name.name);
      for (const [k, v] of Object.entries(o)) if (k !== 'span') visit(v);
    }
  };
  visit(site.forward?.body);
  return out;
}

/** `Linear`, `Linear or Conv2d`, `A, B or C`. */
function sitesText(sites: readonly string[]): string {
  return sites.length <= 2 ? sites.join(' or ') : `${sites.slice(0, -1).join(', ')} or ${sites[sites.length - 1]}`;
}

function checkSite(method: PeftMethod, site: Instance, attaching: Attaching, sel: Selector): void {
  // `sites: ['*']` accepts any module type; the method's `hooks` then decide (prefix tuning).
  if (!method.sites.includes('*') && !method.sites.includes(site.type)) {
    throw new CompileError(
      error('tune', `\`${method.name}\` attaches to ${sitesText(method.sites)} sites, but \`${site.path}\` is a ${site.type}`, sel.span, {
        help: `narrow the selector \`${selectorText(sel)}\` to ${method.sites.join('/')} modules`,
      }),
    );
  }
  if (attaching.bySite.get(site)?.some((a) => a.method === method.name)) {
    throw new CompileError(error('tune', `\`${method.name}\` is applied to \`${site.path}\` twice`, sel.span));
  }
  const have = hooksOf(site);
  const missing = (method.hooks ?? []).filter((h) => !have.has(h));
  if (missing.length) {
    throw new CompileError(
      error(
        'tune',
        `\`${method.name}\` needs the hook${missing.length > 1 ? 's' : ''} ${missing.map((h) => `\`${h}\``).join(', ')} in the forward of ${site.type}, which has ${have.size ? [...have].map((h) => `\`${h}\``).join(', ') : 'none'}`,
        sel.span,
        {
          help: `mark the tensor in ${site.type}'s forward with \`hook ${missing[0]}(...)\``,
        },
      ),
    );
  }
}

function attach(
  attaching: Attaching,
  method: PeftMethod,
  site: Instance,
  options: MethodOptions,
  sel: Selector,
  span: Span,
  at: Pick<Attachment, 'shared' | 'application' | 'siteIndex' | 'siteCount'>,
): void {
  const atSite = attaching.bySite.get(site) ?? [];
  const added = method.params(site, options, atSite);
  if (typeof added === 'string') throw new CompileError(error('tune', added, sel.span));
  const params = added.map((p) => slot(p, `${site.path}.${p.name}`, method.name, span));
  if (method.trainsSite) for (const p of site.params) p.trainable = true;
  attaching.bySite.set(site, [...atSite, { method: method.name, options, params, span, ...at }]);
}
