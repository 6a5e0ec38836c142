/**
 * Definition-time checks of a PEFT method written in `.mile` (see `mile-method.ts`): its options,
 * site types and the names bound from them, parameters, `rewrite` and `hook` blocks. Everything
 * checkable without a site is checked here, so `milec check` reports it even if no tune uses the
 * method; the result, a `CheckedMethod`, is what `mile-method-apply.ts` turns into a `PeftMethod`.
 */
import type {
  ArgDecl,
  Block,
  Expr,
  MethodDecl,
  MethodHookDecl,
  MethodParamDecl,
  MethodSite,
  ModuleDecl,
  RewriteDecl,
} from '../../grammar/ast.ts';
import { CompileError, error, suggestion } from '../../core/diagnostic.ts';
import type { Span } from '../../core/span.ts';
import { builtins } from '../lower/builtins.ts';
import { isConcrete } from '../../core/dim.ts';
import { constEval, describeScalar } from '../sema/consteval.ts';
import type { Program } from '../sema/program.ts';
import type { MethodOption } from './method.ts';

type OptionType = 'int' | 'float' | 'bool';
export type BindingKind = 'argument' | 'parameter' | 'child';

/** Functions a compile-time scalar expression (a shape, a condition, an initializer argument) may call. */
const SCALAR_FNS = new Set(['sqrt', 'abs', 'min', 'max', 'exp', 'log', 'int', 'float']);

export interface SitePattern {
  readonly decl: MethodSite;
  readonly module: ModuleDecl;
  /** What each bound name (in the method's scope) is in this site type. */
  readonly kinds: ReadonlyMap<string, BindingKind>;
  /** The site member each bound name stands for (`dim = out`: `out` → `dim`). */
  readonly members: ReadonlyMap<string, string>;
}

/** A method declaration checked against the program: everything its `PeftMethod` needs. */
export interface CheckedMethod {
  readonly decl: MethodDecl;
  readonly name: string;
  readonly options: Readonly<Record<string, MethodOption>>;
  readonly optionTypes: ReadonlyMap<string, OptionType>;
  readonly sites: ReadonlyMap<string, SitePattern>;
  /** Bound names that are scalar arguments in every site type: usable in parameter shapes. */
  readonly scalarBindings: readonly string[];
  readonly perSite: readonly MethodParamDecl[];
  readonly shared: readonly MethodParamDecl[];
  readonly rewrite?: RewriteDecl;
  readonly hooks: readonly MethodHookDecl[];
}

type Declared = Map<string, { span: Span; what: string }>;
/** Declares a name in the method's scope (or in `scope`, which sees the method's names too); twice is an error. */
type Claim = (id: { name: string; span: Span }, what: string, scope?: Declared) => void;

function nameClaims(method: string): { names: Declared; claim: Claim } {
  const names: Declared = new Map();
  const claim: Claim = (id, what, scope = names) => {
    if (id.name === 'base') {
      throw new CompileError(
        error('name', `\`base\` cannot be declared in a method: it names the site's original forward`, id.span, {
          help: 'choose another name',
        }),
      );
    }
    const prev = scope.get(id.name) ?? names.get(id.name);
    if (prev) {
      throw new CompileError(
        error('name', `\`${id.name}\` is declared twice in method \`${method}\` (${prev.what} and ${what})`, id.span, {
          related: [{ span: prev.span, message: 'first declared here' }],
        }),
      );
    }
    scope.set(id.name, { span: id.span, what });
  };
  return { names, claim };
}

/** Checks a method declaration against the program: everything its `PeftMethod` needs, checked before any site. */
export function checkMethod(decl: MethodDecl, program: Program): CheckedMethod {
  const name = decl.name.name;
  const { names, claim } = nameClaims(name);
  const { options, optionTypes } = checkOptions(decl, claim);
  const sites = checkSites(decl, program);
  const scalarBindings = checkBindingsAgree(decl, sites, claim);
  const items = checkItems(decl, claim, new Set([...optionTypes.keys(), ...scalarBindings]));
  const { rewrite, hooks } = items;
  if (rewrite) {
    for (const i of rewrite.inputs) claim(i, 'a rewrite input');
    for (const s of sites.values()) checkInputs(rewrite, s);
  }
  if (!rewrite && hooks.length === 0) {
    throw new CompileError(
      error('method', `method \`${name}\` has no \`rewrite\` block`, decl.name.span, {
        help: "add `rewrite(x) { base(x) ... }`: the site's new output, in terms of its original (`base`)",
      }),
    );
  }
  // Names in the blocks must resolve (checked now, so that an unused method is still checked).
  const scope = new Set(names.keys());
  if (rewrite) checkBlock(rewrite.body, new Set([...scope, 'base']));
  for (const h of hooks) {
    claim(h.input, 'a hook input', new Map(names));
    checkBlock(h.body, new Set([...scope, h.input.name]), baseInHook(h));
  }
  return { decl, name, options, optionTypes, sites, scalarBindings, ...items };
}

/** Options: typed, with constant defaults (a tune may leave out those that have one). */
function checkOptions(decl: MethodDecl, claim: Claim): Pick<CheckedMethod, 'options' | 'optionTypes'> {
  const options: Record<string, MethodOption> = {};
  const optionTypes = new Map<string, OptionType>();
  for (const o of decl.options) {
    claim(o.name, 'an option');
    optionTypes.set(o.name.name, o.type);
    const def = o.default ? optionDefault(o) : undefined;
    options[o.name.name] = {
      type: o.type,
      default: def ?? (o.type === 'bool' ? false : 0),
      doc: `${o.type} option of \`${decl.name.name}\``,
      ...(def === undefined ? { required: true } : {}),
    };
  }
  return { options, optionTypes };
}

/** Site types and the names bound from them. */
function checkSites(decl: MethodDecl, program: Program): Map<string, SitePattern> {
  const sites = new Map<string, SitePattern>();
  for (const s of decl.sites) {
    const prev = sites.get(s.module.name);
    if (prev)
      throw new CompileError(
        error('name', `site type \`${s.module.name}\` is listed twice`, s.module.span, {
          related: [{ span: prev.decl.span, message: 'first listed here' }],
        }),
      );
    sites.set(s.module.name, sitePattern(s, program));
  }
  return sites;
}

function sitePattern(s: MethodSite, program: Program): SitePattern {
  const module = program.modules.get(s.module.name);
  if (!module) {
    const isModel = program.models.has(s.module.name);
    const help = isModel
      ? { help: 'methods attach to module instances inside a model, e.g. `Linear`' }
      : suggestion(s.module.name, program.modules.keys());
    throw new CompileError(
      error(
        'name',
        `unknown site type \`${s.module.name}\`${isModel ? ' (a model, not a module)' : ''}`,
        s.module.span,
        help.help ? help : { help: 'is a `use` missing? (e.g. `use std.nn`)' },
      ),
    );
  }
  const kinds = new Map<string, BindingKind>();
  const members = new Map<string, string>();
  for (const b of s.bindings) {
    const kind = bindingKind(module, b.member.name);
    if (!kind) {
      const candidates = [
        ...module.args.map((a) => a.name.name),
        ...module.items.flatMap((i) => (i.kind === 'param' || i.kind === 'child' ? [i.name.name] : [])),
      ];
      throw new CompileError(
        error(
          'name',
          `site type \`${module.name.name}\` has no argument, parameter or child \`${b.member.name}\``,
          b.member.span,
          suggestion(
            b.member.name,
            candidates,
            `\`${module.name.name}\` has ${candidates.map((c) => `\`${c}\``).join(', ') || 'nothing to bind'}`,
          ),
        ),
      );
    }
    if (kinds.has(b.name.name))
      throw new CompileError(error('name', `\`${b.name.name}\` is bound twice from \`${module.name.name}\``, b.name.span));
    kinds.set(b.name.name, kind);
    members.set(b.name.name, b.member.name);
  }
  return { decl: s, module, kinds, members };
}

/** Every site type binds the same names (the body is shared); returns those that are scalar arguments in all of them. */
function checkBindingsAgree(decl: MethodDecl, sites: ReadonlyMap<string, SitePattern>, claim: Claim): string[] {
  const [first, ...others] = [...sites.values()];
  if (!first)
    throw new CompileError(
      error('method', `method \`${decl.name.name}\` names no site type`, decl.name.span, { help: 'write `on Linear(in, out)`' }),
    );
  for (const b of first.decl.bindings) claim(b.name, 'a name bound from the site');
  for (const o of others) {
    const want = [...first.kinds.keys()].sort().join(', ');
    const got = [...o.kinds.keys()].sort().join(', ');
    if (want !== got) {
      throw new CompileError(
        error(
          'name',
          `every site type must bind the same names: \`${o.decl.module.name}\` binds (${got}), \`${first.decl.module.name}\` binds (${want})`,
          o.decl.span,
          {
            help: 'the method body is shared by all its site types',
          },
        ),
      );
    }
  }
  return [...first.kinds.keys()].filter((n) => [...sites.values()].every((s) => s.kinds.get(n) === 'argument'));
}

/** Parameters (checked against the scalars usable in shapes), the rewrite and the hook blocks. */
function checkItems(
  decl: MethodDecl,
  claim: Claim,
  shapeScalars: ReadonlySet<string>,
): Pick<CheckedMethod, 'perSite' | 'shared' | 'rewrite' | 'hooks'> {
  const perSite: MethodParamDecl[] = [];
  const shared: MethodParamDecl[] = [];
  let rewrite: RewriteDecl | undefined;
  const hooks: MethodHookDecl[] = [];
  for (const item of decl.items) {
    if (item.kind === 'param') {
      claim(item.name, item.shared ? 'a shared parameter' : 'a parameter');
      checkParamDecl(item, shapeScalars);
      (item.shared ? shared : perSite).push(item);
    } else if (item.kind === 'rewrite') {
      rewrite = item;
    } else {
      const prev = hooks.find((h) => h.name.name === item.name.name);
      if (prev)
        throw new CompileError(
          error('name', `method \`${decl.name.name}\` has two \`hook ${item.name.name}\` blocks`, item.name.span, {
            related: [{ span: prev.name.span, message: 'first here' }],
          }),
        );
      hooks.push(item);
    }
  }
  return { perSite, shared, rewrite, hooks };
}

function optionDefault(o: ArgDecl): number | boolean {
  const v = constEval(o.default!, new Map());
  const bad = () =>
    new CompileError(error('type', `option \`${o.name.name}\` is ${o.type}, but its default is ${describeScalar(v)}`, o.default!.span));
  switch (o.type) {
    case 'bool':
      if (v.kind !== 'bool') throw bad();
      return v.v;
    case 'int':
      if ((v.kind === 'int' && isConcrete(v.v)) || (v.kind === 'float' && Number.isInteger(v.v))) return Number(v.v);
      throw bad();
    case 'float':
      if ((v.kind === 'int' && isConcrete(v.v)) || v.kind === 'float') return Number(v.v);
      throw bad();
  }
}

/** As in the module's forward, a parameter or child shadows an argument of the same name (`Linear`'s `bias`). */
function bindingKind(module: ModuleDecl, name: string): BindingKind | undefined {
  const item = module.items.find((i) => (i.kind === 'param' || i.kind === 'child') && i.name.name === name);
  if (item) return item.kind === 'param' ? 'parameter' : 'child';
  return module.args.some((a) => a.name.name === name) ? 'argument' : undefined;
}

/** The rewrite names the tensor inputs of the site's forward: not more, and not fewer than it needs. */
function checkInputs(rw: RewriteDecl, site: SitePattern): void {
  const fwd = site.module.items.find((i) => i.kind === 'forward');
  if (!fwd || fwd.kind !== 'forward') return;
  const all = fwd.params.map((p) => `\`${p.name.name}\``);
  const needed = fwd.params.filter((p) => !p.default).length;
  const type = site.module.name.name;
  if (rw.inputs.length > fwd.params.length) {
    throw new CompileError(
      error(
        'method',
        `\`rewrite\` names ${rw.inputs.length} inputs, but the forward of \`${type}\` takes ${fwd.params.length} (${all.join(', ')})`,
        rw.inputs[fwd.params.length]!.span,
      ),
    );
  }
  if (rw.inputs.length < needed) {
    throw new CompileError(
      error(
        'method',
        `\`rewrite\` names ${rw.inputs.length} input${rw.inputs.length === 1 ? '' : 's'}, but the forward of \`${type}\` needs ${needed} (${all.slice(0, needed).join(', ')})`,
        rw.span,
        {
          help: `write \`rewrite(${fwd.params
            .slice(0, needed)
            .map((p) => p.name.name)
            .join(', ')})\``,
        },
      ),
    );
  }
}

/** Definition-time checks of a method parameter: an initializer, f32, explicit dimensions, known names. */
function checkParamDecl(p: MethodParamDecl, scalars: ReadonlySet<string>): void {
  if (!p.init)
    throw new CompileError(
      error('init', `parameter \`${p.name.name}\` needs an initializer (e.g. \`= zeros\` or \`= normal(0, 0.02)\`)`, p.name.span),
    );
  if (p.type.dtype !== 'f32') throw new CompileError(error('type', 'parameters are f32', p.type.span));
  for (const d of p.type.dims)
    if (d.kind === 'ellipsis') throw new CompileError(error('shape', 'a parameter needs explicit dimensions, not `...`', d.span));
  for (const ref of scalarNames(p)) {
    if (!scalars.has(ref.name)) {
      throw new CompileError(
        error('name', `unknown name \`${ref.name}\` in the parameter \`${p.name.name}\``, ref.span, {
          ...suggestion(
            ref.name,
            scalars,
            `shapes, conditions and initializers may use the options and the site's bound arguments${scalars.size ? ` (${[...scalars].join(', ')})` : ''}`,
          ),
        }),
      );
    }
  }
}

/** The names a parameter's shape, condition and initializer arguments refer to. */
export function scalarNames(p: MethodParamDecl): { name: string; span: Span }[] {
  const out: { name: string; span: Span }[] = [];
  const visit = (e: Expr): void => {
    if (e.kind === 'name') out.push({ name: e.name, span: e.span });
    else if (e.kind === 'call') {
      if (e.callee.kind !== 'name' || !SCALAR_FNS.has(e.callee.name)) visit(e.callee);
      for (const a of e.args) visit(a.value);
    } else if (e.kind === 'unary') visit(e.operand);
    else if (e.kind === 'binary') {
      visit(e.left);
      visit(e.right);
    } else if (e.kind === 'list') e.items.forEach(visit);
  };
  for (const d of p.type.dims) if (d.kind === 'dim') visit(d.expr);
  if (p.condition) visit(p.condition);
  for (const a of p.init?.args ?? []) visit(a.value);
  return out;
}

/** Unknown names in a rewrite or hook block, reported with a did-you-mean (`misuse` explains a name that is known but not allowed here). */
function checkBlock(block: Block, scope: ReadonlySet<string>, misuse?: { name: string; error: (at: Span) => CompileError }): void {
  const known = new Set(scope);
  const fail = (name: string, span: Span, asCall: boolean): never => {
    if (misuse && name === misuse.name && !known.has(name)) throw misuse.error(span);
    const candidates = asCall ? [...known, ...Object.keys(builtins)] : [...known];
    throw new CompileError(
      error('name', asCall ? `unknown function \`${name}\`` : `unknown name \`${name}\``, span, suggestion(name, candidates)),
    );
  };
  const visit = (e: Expr): void => {
    switch (e.kind) {
      case 'name':
        if (!known.has(e.name)) fail(e.name, e.span, false);
        return;
      case 'call':
        if (e.callee.kind === 'name') {
          if (!known.has(e.callee.name) && !builtins[e.callee.name]) fail(e.callee.name, e.callee.span, true);
        } else visit(e.callee);
        for (const a of e.args) visit(a.value);
        return;
      case 'list':
        e.items.forEach(visit);
        return;
      case 'unary':
      case 'transpose':
        visit(e.operand);
        return;
      case 'binary':
        visit(e.left);
        visit(e.right);
        return;
      case 'indexing':
        visit(e.target);
        for (const i of e.items) {
          if (i.kind === 'index') visit(i.value);
          else if (i.kind === 'slice') for (const x of [i.start, i.stop, i.step]) if (x) visit(x);
        }
        return;
      case 'member':
        visit(e.target);
        return;
      case 'hook':
        visit(e.value);
        return;
      default:
        return;
    }
  };
  for (const s of block.stmts) {
    visit(s.value);
    if (s.kind === 'let') known.add(s.name.name);
  }
  if (block.result) visit(block.result);
}

export function baseInHook(h: MethodHookDecl): { name: string; error: (at: Span) => CompileError } {
  return {
    name: 'base',
    error: (at) =>
      new CompileError(
        error('type', `\`base\` cannot be called in \`hook ${h.name.name}\`: it runs inside the site's forward`, at, {
          help: 'call `base` in `rewrite`',
        }),
      ),
  };
}
