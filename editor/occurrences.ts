/**
 * Every name in one `.mile` file, with what it names: the index that hover, go to definition,
 * references, rename and semantic tokens read. Built from the AST alone (the parser recovers,
 * so a half-typed file gets one too); module and method names are resolved through the
 * `Globals` of the file's program. Selector segments are resolved later, against an
 * elaborated model (`editor/selectors.ts`).
 */
import type {
  Arg,
  Block,
  ChildDecl,
  Expr,
  ForwardDecl,
  Ident,
  MethodDecl,
  MileFile,
  ModelDecl,
  ModelItem,
  ModuleDecl,
  ParamDecl,
  Selector,
  TensorType,
  TuneDecl,
  TuneItem,
  UseDecl,
} from '../grammar/ast.ts';
import type { Span } from '../core/span.ts';
import { builtins } from '../compiler/lower/builtins.ts';
import { initArgs } from '../compiler/sema/elaborate.ts';

export type DefKind =
  | 'module'
  | 'model'
  | 'method'
  | 'tune'
  | 'config'
  | 'input'
  | 'param'
  | 'child'
  | 'arg'
  | 'forward-input'
  | 'size'
  | 'let'
  | 'output'
  | 'option'
  | 'binding'
  | 'file';

/** A declaration a name can resolve to. `span` is the declared name's (file: the display name). */
export interface Definition {
  readonly kind: DefKind;
  readonly name: string;
  readonly span: Span;
  /** For children: the module they instantiate. */
  readonly module?: string;
  /** The module, model, tune or method the declaration is in. */
  readonly container?: string;
  /** The declaring AST node (a ModuleDecl, ArgDecl, ChildDecl, ConfigEntry, …). */
  readonly node?: unknown;
  /** For `file` definitions: the file's absolute path. */
  readonly path?: string;
}

/** How a name is coloured: LSP semantic token types. */
export type Role = 'type' | 'function' | 'method' | 'variable' | 'parameter' | 'property' | 'namespace' | 'decorator' | 'typeParameter';

export interface SelectorContext {
  readonly tune: TuneDecl;
  readonly item: TuneItem;
  readonly selector: Selector;
  /** The segment this name is (or is inside, for `{a, b}`). */
  readonly segment: number;
}

export interface Occurrence {
  readonly span: Span;
  readonly name: string;
  readonly role: Role;
  readonly isDecl: boolean;
  readonly def?: Definition;
  /** A built-in function, initializer or PEFT method this name calls. */
  readonly builtin?: 'function' | 'initializer' | 'method';
  /** Set on selector segment names. */
  readonly selector?: SelectorContext;
  /** Set on a named argument: the callee's name and what kind of callee it is. */
  readonly argumentOf?: { readonly callee: string; readonly kind: 'module' | 'forward' | 'builtin' | 'method' };
}

/** Program-wide names: modules and models share one namespace, methods another. */
export interface Globals {
  module(name: string): ModuleDecl | ModelDecl | undefined;
  method(name: string): MethodDecl | undefined;
  /** The display name of the file a declaration is in. */
  fileOf(decl: object): string | undefined;
  /** The file a `use` path names, when it was loaded: its display name and absolute path. */
  useTarget(from: MileFile, parts: readonly string[]): { name: string; path: string } | undefined;
  /** Whether a name is a built-in PEFT method. */
  isBuiltinMethod(name: string): boolean;
}

/** The items of a module or model as one array type (a module's are a subset of a model's). */
export const itemsOf = (d: ModuleDecl | ModelDecl): readonly ModelItem[] => d.items;

export function definitionOf(kind: DefKind, name: Ident, extra: Omit<Definition, 'kind' | 'name' | 'span'> = {}): Definition {
  return { kind, name: name.name, span: name.span, ...extra };
}

/** Same declaration: same file and position. */
export function sameDefinition(a: Definition, b: Definition): boolean {
  return a.span.file === b.span.file && a.span.line === b.span.line && a.span.col === b.span.col && a.name === b.name;
}

class Scope {
  private readonly names = new Map<string, Definition>();
  constructor(private readonly parent?: Scope) {}
  get(name: string): Definition | undefined {
    return this.names.get(name) ?? this.parent?.get(name);
  }
  set(d: Definition): void {
    this.names.set(d.name, d);
  }
}

const ROLE_OF: Readonly<Record<DefKind, Role>> = {
  module: 'type',
  model: 'type',
  method: 'method',
  tune: 'namespace',
  config: 'variable',
  input: 'variable',
  param: 'property',
  child: 'property',
  arg: 'parameter',
  'forward-input': 'parameter',
  size: 'typeParameter',
  let: 'variable',
  output: 'variable',
  option: 'parameter',
  binding: 'parameter',
  file: 'namespace',
};

/** Every name occurrence of `file`, in source order. */
export function collectOccurrences(file: MileFile, globals: Globals): Occurrence[] {
  const w = new Walker(file, globals);
  for (const d of file.decls) w.topDecl(d);
  return w.out.sort((a, b) => a.span.line - b.span.line || a.span.col - b.span.col);
}

class Walker {
  readonly out: Occurrence[] = [];
  constructor(
    private readonly file: MileFile,
    private readonly globals: Globals,
  ) {}

  private declare(
    kind: DefKind,
    name: Ident,
    scope: Scope | undefined,
    extra: Omit<Definition, 'kind' | 'name' | 'span'> = {},
  ): Definition {
    const def = definitionOf(kind, name, extra);
    scope?.set(def);
    this.out.push({ span: name.span, name: name.name, role: ROLE_OF[kind], isDecl: true, def });
    return def;
  }

  private refer(name: Ident, def: Definition | undefined, role?: Role, extra: Partial<Occurrence> = {}): void {
    this.out.push({ span: name.span, name: name.name, role: role ?? (def ? ROLE_OF[def.kind] : 'variable'), isDecl: false, def, ...extra });
  }

  private globalDef(name: string): Definition | undefined {
    const d = this.globals.module(name);
    if (!d) return undefined;
    return definitionOf(d.kind, d.name, { node: d });
  }

  private methodDef(name: string): Definition | undefined {
    const d = this.globals.method(name);
    return d ? definitionOf('method', d.name, { node: d }) : undefined;
  }

  topDecl(d: MileFile['decls'][number]): void {
    switch (d.kind) {
      case 'use':
        return this.use(d);
      case 'module':
        return this.module(d);
      case 'model':
        return this.model(d);
      case 'tune':
        return this.tune(d);
      case 'method':
        return this.method(d);
    }
  }

  private use(d: UseDecl): void {
    for (const p of d.paths) {
      const target = this.globals.useTarget(this.file, p.parts);
      const def: Definition | undefined = target && {
        kind: 'file',
        name: p.parts.join('.'),
        span: { file: target.name, line: 1, col: 1, endLine: 1, endCol: 1 },
        path: target.path,
      };
      this.out.push({ span: p.span, name: p.parts.join('.'), role: 'namespace', isDecl: false, def });
    }
  }

  private module(d: ModuleDecl): void {
    this.declare('module', d.name, undefined, { node: d });
    const scope = new Scope();
    for (const a of d.args) {
      if (a.default) this.expr(a.default, scope);
      this.declare('arg', a.name, scope, { container: d.name.name, node: a });
    }
    this.body(d.name.name, d.items, scope);
  }

  private model(d: ModelDecl): void {
    this.declare('model', d.name, undefined, { node: d });
    const scope = new Scope();
    const container = d.name.name;
    for (const item of d.items) {
      if (item.kind === 'config') {
        for (const e of item.entries) {
          this.expr(e.value, scope);
          this.declare('config', e.name, scope, { container, node: e });
        }
      }
    }
    for (const item of d.items) {
      if (item.kind === 'input') {
        this.declare('input', item.name, scope, { container, node: item });
        this.tensorType(item.type, scope, scope);
      } else if (item.kind === 'weights') {
        for (const e of item.entries) {
          this.refer(e.name, undefined, 'property');
          this.expr(e.value, scope);
        }
      }
    }
    this.body(container, d.items, scope);
  }

  /** Parameters, children and the forward of a module or model body. */
  private body(container: string, items: readonly ModuleDecl['items'][number][] | ModelDecl['items'], scope: Scope): void {
    // Parameters and children are visible everywhere in the body, whatever their order.
    for (const item of items) {
      if (item.kind === 'param') scope.set(definitionOf('param', item.name, { container, node: item }));
      if (item.kind === 'child') scope.set(definitionOf('child', item.name, { container, node: item, module: item.module.name }));
    }
    for (const item of items) {
      if (item.kind === 'param') this.param(item, container, scope);
      else if (item.kind === 'child') this.child(item, container, scope);
      else if (item.kind === 'forward') this.forward(item, container, scope);
    }
  }

  private param(p: ParamDecl, container: string, scope: Scope): void {
    this.declare('param', p.name, undefined, { container, node: p });
    this.tensorType(p.type, scope, undefined);
    if (p.init) {
      this.refer(p.init.name, undefined, 'function', initArgs[p.init.name.name] ? { builtin: 'initializer' } : {});
      this.args(p.init.args, scope, { callee: p.init.name.name, kind: 'builtin' });
    }
    if (p.condition) this.expr(p.condition, scope);
  }

  private child(c: ChildDecl, container: string, scope: Scope): void {
    this.declare('child', c.name, undefined, { container, node: c, module: c.module.name });
    this.refer(c.module, this.globalDef(c.module.name), 'type');
    if (c.repeat) this.expr(c.repeat, scope);
    const target = this.globals.module(c.module.name);
    for (const a of c.args) {
      if (a.name) {
        const decl = target?.kind === 'module' ? target.args.find((x) => x.name.name === a.name!.name) : undefined;
        const def = decl && definitionOf('arg', decl.name, { container: c.module.name, node: decl });
        this.refer(a.name, def, 'parameter', { argumentOf: { callee: c.module.name, kind: 'module' } });
      }
      this.expr(a.value, scope);
    }
    if (c.condition) this.expr(c.condition, scope);
  }

  private forward(f: ForwardDecl, container: string, outer: Scope): void {
    const scope = new Scope(outer);
    for (const p of f.params) {
      if (p.type) this.tensorType(p.type, outer, scope);
      if (p.default) this.expr(p.default, scope);
      this.declare('forward-input', p.name, scope, { container, node: p });
    }
    if (f.returns) this.tensorType(f.returns, scope, scope);
    this.block(f.body, scope, container);
  }

  private block(b: Block, scope: Scope, container: string): void {
    for (const s of b.stmts) {
      this.expr(s.value, scope);
      if (s.kind === 'let') this.declare('let', s.name, scope, { container, node: s });
      if (s.kind === 'output') this.declare('output', s.name, scope, { container, node: s });
    }
    if (b.result) this.expr(b.result, scope);
  }

  /**
   * Dimensions of a tensor type: names of the scope, else sizes (`B`, `T`) that the type binds;
   * `binder` is where a newly bound size is declared (none for a parameter's type).
   */
  private tensorType(t: TensorType, scope: Scope, binder: Scope | undefined): void {
    for (const d of t.dims) {
      if (d.kind !== 'dim') continue;
      const e = d.expr;
      if (e.kind === 'name' && !scope.get(e.name) && !binder?.get(e.name) && binder) {
        this.declare('size', { name: e.name, span: e.span }, binder);
        continue;
      }
      this.expr(e, binder ?? scope);
    }
  }

  private args(
    args: readonly Arg[],
    scope: Scope,
    of: Occurrence['argumentOf'],
    paramDef?: (name: string) => Definition | undefined,
  ): void {
    for (const a of args) {
      if (a.name) this.refer(a.name, paramDef?.(a.name.name), 'parameter', { argumentOf: of });
      this.expr(a.value, scope);
    }
  }

  /** The module a value expression names (a child, or a member of one), for member and argument lookup. */
  private moduleOf(e: Expr, scope: Scope): ModuleDecl | ModelDecl | undefined {
    if (e.kind === 'name') {
      const d = scope.get(e.name);
      return d?.kind === 'child' && d.module ? this.globals.module(d.module) : undefined;
    }
    if (e.kind === 'indexing') return this.moduleOf(e.target, scope);
    if (e.kind === 'member') {
      const m = this.moduleOf(e.target, scope);
      const c = m && itemsOf(m).find((i): i is ChildDecl => i.kind === 'child' && i.name.name === e.member.name);
      return c ? this.globals.module(c.module.name) : undefined;
    }
    return undefined;
  }

  private expr(e: Expr, scope: Scope): void {
    switch (e.kind) {
      case 'number':
      case 'bool':
      case 'none':
      case 'string':
        return;
      case 'name': {
        const def = scope.get(e.name);
        if (def) return this.refer(e, def);
        if (builtins[e.name]) return this.refer(e, undefined, 'function', { builtin: 'function' });
        return this.refer(e, undefined, /^[A-Z]/.test(e.name) ? 'typeParameter' : 'variable');
      }
      case 'list':
        for (const x of e.items) this.expr(x, scope);
        return;
      case 'unary':
      case 'transpose':
        return this.expr(e.operand, scope);
      case 'binary':
        this.expr(e.left, scope);
        return this.expr(e.right, scope);
      case 'call':
        return this.call(e, scope);
      case 'indexing':
        this.expr(e.target, scope);
        for (const it of e.items) {
          if (it.kind === 'index') this.expr(it.value, scope);
          else if (it.kind === 'slice') for (const x of [it.start, it.stop, it.step]) if (x) this.expr(x, scope);
        }
        return;
      case 'member': {
        this.expr(e.target, scope);
        const m = this.moduleOf(e.target, scope);
        const item =
          m &&
          itemsOf(m).find((i): i is ChildDecl | ParamDecl => (i.kind === 'child' || i.kind === 'param') && i.name.name === e.member.name);
        const def =
          item &&
          definitionOf(item.kind, item.name, {
            container: m!.name.name,
            node: item,
            ...(item.kind === 'child' ? { module: item.module.name } : {}),
          });
        return this.refer(e.member, def, 'property');
      }
      case 'hook':
        this.refer(e.name, undefined, 'decorator');
        return this.expr(e.value, scope);
    }
  }

  private call(e: Extract<Expr, { kind: 'call' }>, scope: Scope): void {
    this.expr(e.callee, scope);
    const callee = e.callee;
    const calleeName = callee.kind === 'name' ? callee.name : callee.kind === 'member' ? callee.member.name : undefined;
    const mod = this.moduleOf(callee, scope);
    if (mod) {
      const fwd = itemsOf(mod).find((i): i is ForwardDecl => i.kind === 'forward');
      const paramDef = (n: string) => {
        const p = fwd?.params.find((x) => x.name.name === n);
        return p && definitionOf('forward-input', p.name, { container: mod.name.name, node: p });
      };
      return this.args(e.args, scope, { callee: mod.name.name, kind: 'forward' }, paramDef);
    }
    const isBuiltin = callee.kind === 'name' && !scope.get(callee.name) && builtins[callee.name] !== undefined;
    this.args(e.args, scope, calleeName && isBuiltin ? { callee: calleeName, kind: 'builtin' } : undefined);
  }

  private tune(t: TuneDecl): void {
    this.declare('tune', t.name, undefined, { node: t });
    this.refer(t.model, this.globalDef(t.model.name), 'type');
    const empty = new Scope();
    for (const item of t.items) {
      if (item.kind === 'optimizer') {
        for (const e of item.entries) {
          this.refer(e.name, undefined, 'property');
          this.expr(e.value, empty);
        }
        continue;
      }
      if (item.kind === 'apply') {
        const def = this.methodDef(item.method.name);
        const builtin = !def && this.globals.isBuiltinMethod(item.method.name);
        this.refer(item.method, def, 'method', builtin ? { builtin: 'method' } : {});
        const decl = this.globals.method(item.method.name);
        const optionDef = (n: string) => {
          const o = decl?.options.find((x) => x.name.name === n);
          return o && definitionOf('option', o.name, { container: decl!.name.name, node: o });
        };
        this.args(item.args, empty, { callee: item.method.name, kind: 'method' }, optionDef);
      }
      item.selectors.forEach((selector) => this.selector(t, item, selector));
    }
  }

  private selector(tune: TuneDecl, item: TuneItem, selector: Selector): void {
    selector.segments.forEach((seg, segment) => {
      const ctx: SelectorContext = { tune, item, selector, segment };
      if (seg.kind === 'name') this.out.push({ span: seg.span, name: seg.name, role: 'property', isDecl: false, selector: ctx });
      if (seg.kind === 'alt')
        for (const n of seg.names) this.out.push({ span: n.span, name: n.name, role: 'property', isDecl: false, selector: ctx });
    });
  }

  private method(m: MethodDecl): void {
    this.declare('method', m.name, undefined, { node: m });
    const container = m.name.name;
    const scope = new Scope();
    for (const o of m.options) {
      if (o.default) this.expr(o.default, scope);
      this.declare('option', o.name, scope, { container, node: o });
    }
    for (const site of m.sites) {
      this.refer(site.module, this.globalDef(site.module.name), 'type');
      const target = this.globals.module(site.module.name);
      for (const b of site.bindings) {
        const arg = target?.kind === 'module' ? target.args.find((a) => a.name.name === b.member.name) : undefined;
        const item =
          target?.kind === 'module'
            ? itemsOf(target).find(
                (i): i is ChildDecl | ParamDecl => (i.kind === 'param' || i.kind === 'child') && i.name.name === b.member.name,
              )
            : undefined;
        const member = arg ?? item;
        const memberDef =
          member &&
          definitionOf(item ? item.kind : 'arg', member.name, {
            container: site.module.name,
            node: member,
          });
        const renamed = b.name.span.line !== b.member.span.line || b.name.span.col !== b.member.span.col;
        if (renamed) {
          this.refer(b.member, memberDef, 'property');
          this.declare('binding', b.name, scope, { container, node: b });
        } else if (!scope.get(b.name.name)) {
          this.declare('binding', b.name, scope, { container, node: b });
        } else this.refer(b.name, scope.get(b.name.name));
      }
    }
    for (const item of m.items) {
      if (item.kind === 'param') scope.set(definitionOf('param', item.name, { container, node: item }));
    }
    for (const item of m.items) {
      if (item.kind === 'param') this.param(item, container, scope);
      else if (item.kind === 'rewrite') {
        const inner = new Scope(scope);
        for (const i of item.inputs) this.declare('forward-input', i, inner, { container, node: item });
        this.block(item.body, inner, container);
      } else {
        this.refer(item.name, undefined, 'decorator');
        const inner = new Scope(scope);
        this.declare('forward-input', item.input, inner, { container, node: item });
        this.block(item.body, inner, container);
      }
    }
  }
}

/** The occurrence at a 1-based line and column (the end column counts, so a cursor just after a name finds it). */
export function occurrenceAt(occurrences: readonly Occurrence[], line: number, col: number): Occurrence | undefined {
  let best: Occurrence | undefined;
  for (const o of occurrences) {
    const s = o.span;
    if (s.line > line) break;
    if (s.line === line && s.endLine === line && col >= s.col && col <= s.endCol) {
      best = o;
      if (col < s.endCol) return o;
    } else if (s.line < line && s.endLine >= line && (s.endLine > line || col <= s.endCol)) best = o;
  }
  return best;
}
