/**
 * Lowering: evaluates the model's forward body over the elaborated (and tuned) module tree,
 * building the tensor IR. Shapes are inferred as nodes are built, with symbolic batch
 * sizes; every shape error is located at the expression that caused it. Calls of sites
 * that carry PEFT attachments are rewritten by their methods.
 */
import type { Arg, Block, Expr, ForwardDecl, Ident, IndexItem, TensorType } from '../../grammar/ast.ts';
import { CompileError, type Diagnostic, error, suggestion } from '../../core/diagnostic.ts';
import type { Span } from '../../core/span.ts';
import type { MethodLookup, RewriteContext } from './rewrite.ts';
import { constEval, describeScalar, literalScalar, scalarBinary, type ScalarEnv } from '../sema/consteval.ts';
import {
  allParams,
  type Attachment,
  type Attachments,
  attachmentsAt,
  type ElaboratedModel,
  type Instance,
  NO_ATTACHMENTS,
  type Scalar,
} from '../sema/instance.ts';
import { builtins, type LowerOps } from './builtins.ts';
import { type Dim, isConcrete, shapeToString } from '../../core/dim.ts';
import { type Graph, GraphBuilder, type NodeId, SEED_INPUT } from '../ir/graph.ts';
import { describeValue, tensor, type Value } from './value.ts';

export interface LowerOptions {
  /** Training graphs keep dropout; inference graphs drop it. */
  readonly training: boolean;
  /** The PEFT methods a tune attached (`applyTune`'s report); none by default. */
  readonly attachments?: Attachments;
  /**
   * Called with every name a forward binds (its inputs, `let`s and `output`s) and the value
   * bound, in evaluation order: an editor shows these as the shapes of a model's values.
   */
  readonly observeBinding?: (binding: ObservedBinding) => void;
}

/** A name bound while a forward was evaluated, its value described (`f32[B, T, 768]`, `int 64`). */
export interface ObservedBinding {
  readonly name: Ident;
  /** The instance whose forward bound it (the model's root for the model's own forward). */
  readonly instance: Instance;
  readonly type: string;
}

const MAX_CALL_DEPTH = 256;

export function lower(model: ElaboratedModel, registry: MethodLookup, opts: LowerOptions): { graph?: Graph; diagnostics: Diagnostic[] } {
  try {
    return { graph: new Lowering(model, registry, opts).run(), diagnostics: [] };
  } catch (e) {
    if (e instanceof CompileError) return { diagnostics: [e.diagnostic] };
    throw e;
  }
}

interface Scope {
  readonly vars: Map<string, Value>;
  readonly inst: Instance;
  readonly isModel: boolean;
}

class Lowering implements LowerOps {
  readonly b = new GraphBuilder();
  private readonly paramNode = new Map<string, NodeId>();
  private seed: NodeId | undefined;
  private salt = 0;
  private depth = 0;
  /** Active hook interventions, per instance and hook name, installed by method rewrites. */
  private readonly hooks = new Map<Instance, Map<string, ((x: NodeId) => NodeId)[]>>();
  /** Nodes built once per method application (`RewriteContext.perApplication`), by application and key. */
  private readonly perApplication = new Map<number, Map<string, NodeId>>();
  private readonly attachments: Attachments;

  constructor(
    private readonly model: ElaboratedModel,
    private readonly registry: MethodLookup,
    private readonly opts: LowerOptions,
  ) {
    this.attachments = opts.attachments ?? NO_ATTACHMENTS;
  }

  run(): Graph {
    const b = this.b;
    for (const p of allParams(this.model, this.attachments)) {
      const id = b.op('param', [], { name: p.path, shape: [...p.shape] }, p.span);
      this.paramNode.set(p.path, id);
      b.params.push({ name: p.path, node: id, shape: p.shape, init: p.init, trainable: p.trainable, addedBy: p.addedBy, origin: p.span });
    }
    const scope: Scope = { vars: new Map(), inst: this.model.root, isModel: true };
    for (const i of this.model.inputs) {
      const id = b.op('input', [], { name: i.name, shape: [...i.shape], dtype: i.dtype }, i.span);
      b.inputs.push({ name: i.name, node: id, shape: i.shape, dtype: i.dtype });
      scope.vars.set(i.name, tensor(id));
    }
    const fwd = this.model.root.forward!;
    this.evalBlock(fwd.body, scope);
    return b.build();
  }

  // ------------------------------------------------------------ LowerOps (used by builtins and methods)

  tensorOf(v: Value, at: Span): NodeId {
    if (v.kind === 'tensor') return v.id;
    if (v.kind === 'int' && isConcrete(v.v)) return this.b.scalar(v.v, at);
    if (v.kind === 'int') return this.symbolicScalar(v.v, at);
    if (v.kind === 'float') return this.b.scalar(v.v, at);
    if (v.kind === 'function')
      throw new CompileError(error('type', `expected a tensor, got ${describeValue(v)}`, at, { help: `call it: \`${v.name}(x)\`` }));
    throw new CompileError(error('type', `expected a tensor, got ${describeValue(v)}`, at));
  }

  private symbolicScalar(d: Dim, at: Span): NodeId {
    // A symbolic size used as a number: 1 / (1 / d), kept exact by specialize.
    return this.b.op('recip', [this.b.op('const', [], { value: 1, denom: d }, at)], {}, at);
  }

  dropout(x: NodeId, p: number, at: Span): NodeId {
    if (!this.opts.training || p === 0) return x;
    if (this.seed === undefined) {
      this.seed = this.b.op('input', [], { name: SEED_INPUT, shape: [], dtype: 'i32' }, at);
      this.b.inputs.push({ name: SEED_INPUT, node: this.seed, shape: [], dtype: 'i32' });
    }
    const mask = this.b.op('dropout_mask', [this.seed], { shape: [...this.b.shape(x)], p, salt: this.salt++ }, at);
    return this.b.mul(x, mask, at);
  }

  // ------------------------------------------------------------ blocks and statements

  private observe(name: Ident, v: Value, instance: Instance): void {
    if (!this.opts.observeBinding) return;
    const type = v.kind === 'tensor' ? `${this.b.node(v.id).dtype}${shapeToString(this.b.shape(v.id))}` : describeValue(v);
    this.opts.observeBinding({ name, instance, type });
  }

  private evalBlock(block: Block, scope: Scope): Value | undefined {
    for (const s of block.stmts) {
      switch (s.kind) {
        case 'let':
          scope.vars.set(s.name.name, this.eval(s.value, scope));
          this.observe(s.name, scope.vars.get(s.name.name)!, scope.inst);
          break;
        case 'output':
        case 'loss': {
          if (!scope.isModel) throw new CompileError(error('module', `\`${s.kind}\` is only allowed in a model's forward`, s.span));
          const name = s.kind === 'loss' ? 'loss' : s.name.name;
          if (name in this.b.outputs) throw new CompileError(error('name', `\`${name}\` is set twice`, s.span));
          const v = this.eval(s.value, scope);
          const id = this.tensorOf(v, s.value.span);
          if (s.kind === 'loss' && this.b.shape(id).length !== 0) {
            throw new CompileError(
              error('shape', `the loss must be a scalar, got ${shapeToString(this.b.shape(id))}`, s.value.span, {
                help: 'reduce it, e.g. with mean(...)',
              }),
            );
          }
          this.b.outputs[name] = id;
          if (s.kind === 'output') {
            scope.vars.set(name, tensor(id));
            this.observe(s.name, tensor(id), scope.inst);
          }
          break;
        }
      }
    }
    return block.result ? this.eval(block.result, scope) : undefined;
  }

  // ------------------------------------------------------------ expressions

  eval(e: Expr, scope: Scope): Value {
    switch (e.kind) {
      case 'number':
      case 'bool':
      case 'none':
        return literalScalar(e);
      case 'string':
        return { kind: 'string', v: e.value };
      case 'name':
        return this.lookup(e.name, e.span, scope);
      case 'list':
        return { kind: 'list', items: e.items.map((i) => this.eval(i, scope)) };
      case 'unary': {
        const v = this.eval(e.operand, scope);
        if (v.kind === 'tensor') {
          if (e.op === '-') return tensor(this.b.neg(v.id, e.span));
          throw new CompileError(error('type', '`not` expects a bool, got a tensor', e.operand.span));
        }
        return constEval(
          { ...e, operand: { kind: 'name', name: 'operand', span: e.operand.span } },
          new Map([['operand', this.scalarOf(v, e.operand.span)]]),
        );
      }
      case 'binary':
        return this.binary(e, scope);
      case 'transpose': {
        const v = this.eval(e.operand, scope);
        return tensor(this.b.transposeLast(this.tensorOf(v, e.operand.span), e.span));
      }
      case 'call':
        return this.call(e.callee, e.args, e.span, scope);
      case 'indexing':
        return this.index(e.target, e.items, e.span, scope);
      case 'hook': {
        const v = this.eval(e.value, scope);
        const set = this.attachments.hookValues?.get(scope.inst)?.get(e.name.name);
        if (set) {
          // An int hook a method attached beneath this instance sets (`PeftMethod.enclosingHooks`).
          if (v.kind !== 'int')
            throw new CompileError(
              error(
                'type',
                `\`${set.method}\` sets \`hook ${e.name.name}\` to the int ${set.value}, but it marks ${describeValue(v)} here`,
                e.value.span,
                { related: [{ span: set.span, message: `\`${set.method}\` is applied here` }] },
              ),
            );
          return { kind: 'int', v: set.value };
        }
        const fns = this.hooks.get(scope.inst)?.get(e.name.name);
        if (!fns?.length) return v;
        let id = this.tensorOf(v, e.value.span);
        for (const fn of fns) id = fn(id);
        return tensor(id);
      }
      case 'member': {
        const t = this.eval(e.target, scope);
        if (t.kind !== 'module')
          throw new CompileError(error('type', `\`.${e.member.name}\` needs a module, got ${describeValue(t)}`, e.member.span));
        return this.memberOf(t.inst, e.member.name, e.member.span);
      }
    }
  }

  private scalarOf(v: Value, at: Span): Scalar {
    if (v.kind === 'int' || v.kind === 'float' || v.kind === 'bool' || v.kind === 'none') return v;
    throw new CompileError(error('type', `expected a scalar, got ${describeValue(v)}`, at));
  }

  private lookup(name: string, at: Span, scope: Scope): Value {
    const v = scope.vars.get(name);
    if (v) return v;
    const m = this.memberOrUndefined(scope.inst, name);
    if (m) return m;
    const arg = scope.inst.args.get(name);
    if (arg) return arg;
    const candidates = [
      ...scope.vars.keys(),
      ...scope.inst.params.map((p) => p.name),
      ...scope.inst.children.keys(),
      ...scope.inst.args.keys(),
    ];
    throw new CompileError(error('name', `unknown name \`${name}\``, at, suggestion(name, candidates)));
  }

  private memberOrUndefined(inst: Instance, name: string): Value | undefined {
    const p = inst.params.find((x) => x.name === name);
    if (p) return tensor(this.paramNode.get(p.path)!);
    const c = inst.children.get(name);
    if (c) return Array.isArray(c) ? { kind: 'modules', list: c } : { kind: 'module', inst: c };
    if (inst.absent.has(name)) return { kind: 'none' };
    return undefined;
  }

  private memberOf(inst: Instance, name: string, at: Span): Value {
    const v = this.memberOrUndefined(inst, name);
    if (v) return v;
    const names = [...inst.params.map((p) => p.name), ...inst.children.keys()];
    throw new CompileError(
      error('name', `\`${inst.path}\` (${inst.type}) has no parameter or child \`${name}\``, at, suggestion(name, names)),
    );
  }

  private binary(e: Extract<Expr, { kind: 'binary' }>, scope: Scope): Value {
    const l = this.eval(e.left, scope);
    const r = this.eval(e.right, scope);
    const isT = (v: Value) => v.kind === 'tensor';
    if (!isT(l) && !isT(r)) {
      if ((e.op === '+' || e.op === '-') && (l.kind === 'none' || r.kind === 'none')) return l.kind === 'none' ? (e.op === '-' ? r : r) : l;
      return scalarBinary(e.op, this.scalarOf(l, e.left.span), this.scalarOf(r, e.right.span), e.left, e.right, e);
    }
    // An absent optional term (`+ bias` where the bias param is off) leaves the other operand.
    if (e.op === '+' && r.kind === 'none') return l;
    if (e.op === '+' && l.kind === 'none') return r;
    if (e.op === '-' && r.kind === 'none') return l;
    const a = this.tensorOf(l, e.left.span);
    const b2 = this.tensorOf(r, e.right.span);
    switch (e.op) {
      case '+':
        return tensor(this.b.add(a, b2, e.opSpan));
      case '-':
        return tensor(this.b.sub(a, b2, e.opSpan));
      case '*':
        return tensor(this.b.mul(a, b2, e.opSpan));
      case '/':
        return tensor(this.b.div(a, b2, e.opSpan));
      case '@':
        return tensor(this.matmul(a, b2, e.span));
      default:
        throw new CompileError(error('type', `\`${e.op}\` is not defined on tensors`, e.opSpan));
    }
  }

  matmul(a: NodeId, b: NodeId, at: Span): NodeId {
    return this.b.op('matmul', [a, b], { transA: false, transB: false }, at);
  }

  // ------------------------------------------------------------ calls

  private select(args: readonly Arg[], nameSpan: Span, at: Span, scope: Scope): Value {
    const names = ['cond', 'then', 'otherwise'];
    const bound = new Map<string, Arg>();
    let pos = 0;
    for (const a of args) {
      const name = a.name ? a.name.name : names[pos++];
      if (name === undefined || !names.includes(name)) {
        throw new CompileError(
          error(
            'name',
            a.name ? `\`select\` has no argument \`${a.name.name}\`` : '`select` takes 3 arguments',
            a.span,
            a.name ? suggestion(a.name.name, names) : {},
          ),
        );
      }
      if (bound.has(name)) throw new CompileError(error('type', `argument \`${name}\` is given twice`, a.span));
      bound.set(name, a);
    }
    for (const n of names) if (!bound.has(n)) throw new CompileError(error('type', `\`select\` needs argument \`${n}\``, nameSpan));
    const cond = this.eval(bound.get('cond')!.value, scope);
    if (cond.kind !== 'bool')
      throw new CompileError(error('type', `\`cond\` must be a bool, got ${describeValue(cond)}`, bound.get('cond')!.span));
    void at;
    return this.eval(bound.get(cond.v ? 'then' : 'otherwise')!.value, scope);
  }

  private call(callee: Expr, args: readonly Arg[], at: Span, scope: Scope): Value {
    // A builtin is called when the name is not bound, or is bound to something that cannot be
    // called (a method's option `dropout` next to the builtin `dropout(x, p)`).
    const local =
      callee.kind === 'name'
        ? (scope.vars.get(callee.name) ?? this.memberOrUndefined(scope.inst, callee.name) ?? scope.inst.args.get(callee.name))
        : undefined;
    const callable = (v: Value) => v.kind === 'module' || v.kind === 'modules' || v.kind === 'function';
    if (callee.kind === 'name' && (!local || (!callable(local) && builtins[callee.name]))) {
      const fn = builtins[callee.name];
      if (!fn) {
        const names = [...Object.keys(builtins), ...scope.inst.children.keys()];
        throw new CompileError(error('name', `unknown function or module \`${callee.name}\``, callee.span, suggestion(callee.name, names)));
      }
      // `select` is lazy: only the chosen branch is evaluated, so the other may name an
      // absent child or be ill-shaped for this configuration.
      if (callee.name === 'select') return this.select(args, callee.span, at, scope);
      return fn.call(
        this,
        args.map((a) => ({ name: a.name?.name, value: this.eval(a.value, scope), span: a.span })),
        callee.span,
        at,
      );
    }
    const target = this.eval(callee, scope);
    const values = args.map((a) => ({ name: a.name, value: this.eval(a.value, scope), span: a.span }));
    if (target.kind === 'module') return this.callModule(target.inst, values, at);
    if (target.kind === 'function')
      return target.call(
        values.map((v) => ({ ...(v.name ? { name: v.name.name } : {}), value: v.value, span: v.span })),
        at,
      );
    if (target.kind === 'modules') {
      // Calling a repeated child runs its copies in sequence, threading the first argument.
      let [first, ...rest] = values;
      if (!first) throw new CompileError(error('type', 'a repeated module needs at least one argument', at));
      for (const inst of target.list) {
        first = { ...first, value: this.callModule(inst, [first, ...rest], at) };
      }
      return first.value;
    }
    throw new CompileError(error('type', `${describeValue(target)} is not callable`, callee.span));
  }

  private callModule(inst: Instance, args: readonly { name?: { name: string; span: Span }; value: Value; span: Span }[], at: Span): Value {
    const fwd = inst.forward as ForwardDecl;
    if (++this.depth > MAX_CALL_DEPTH) throw new CompileError(error('module', `calls nested deeper than ${MAX_CALL_DEPTH}`, at));
    try {
      const bound = new Map<string, { value: Value; span: Span }>();
      let pos = 0;
      for (const a of args) {
        let name: string;
        if (a.name) {
          if (!fwd.params.some((p) => p.name.name === a.name!.name)) {
            throw new CompileError(
              error(
                'name',
                `\`${inst.path}\` (${inst.type}) has no input \`${a.name.name}\``,
                a.name.span,
                suggestion(
                  a.name.name,
                  fwd.params.map((p) => p.name.name),
                ),
              ),
            );
          }
          name = a.name.name;
        } else {
          const p = fwd.params[pos++];
          if (!p)
            throw new CompileError(error('type', `\`${inst.path}\` (${inst.type}) takes ${fwd.params.length} input(s), got more`, a.span));
          name = p.name.name;
        }
        if (bound.has(name)) throw new CompileError(error('type', `input \`${name}\` is given twice`, a.span));
        bound.set(name, { value: a.value, span: a.span });
      }
      const dims = new Map<string, Scalar>(inst.args);
      const ordered: Value[] = [];
      for (const p of fwd.params) {
        let arg = bound.get(p.name.name);
        if (!arg) {
          if (!p.default) throw new CompileError(error('type', `\`${inst.path}\` (${inst.type}) needs input \`${p.name.name}\``, at));
          arg = { value: constEval(p.default, dims), span: p.default.span };
        }
        if (p.type && arg.value.kind !== 'none') {
          const id = this.tensorOf(arg.value, arg.span);
          this.matchType(p.type, id, dims, arg.span, `\`${inst.path}\` (${inst.type}) expects \`${p.name.name}\``);
        }
        ordered.push(arg.value);
      }
      const runForward = (vals: readonly Value[]): Value => {
        // Sizes bound by the input patterns are variables; module arguments are looked up
        // after parameters and children, so a `bias` param shadows a `bias` flag.
        const vars = new Map<string, Value>([...dims].filter(([k]) => !inst.args.has(k)));
        fwd.params.forEach((p, i) => {
          vars.set(p.name.name, vals[i]!);
          this.observe(p.name, vals[i]!, inst);
        });
        const result = this.withHookValues(inst, () => this.evalBlock(fwd.body, { vars, inst, isModel: false }));
        if (!result) throw new CompileError(error('module', `the forward of \`${inst.type}\` has no result expression`, fwd.body.span));
        if (fwd.returns) {
          const id = this.tensorOf(result, fwd.body.result!.span);
          this.matchType(fwd.returns, id, dims, fwd.body.result!.span, `\`${inst.type}\` declares its result as`);
        }
        return result;
      };
      return this.withAttachments(inst, ordered, runForward, at);
    } finally {
      this.depth--;
    }
  }

  /**
   * Evaluates the forward of an instance whose int hooks a tune set: an index or slice out of
   * range there (a value error, e.g. positions past the end of a table) is reported at the tune
   * item that set the hook, with the method's explanation of the value.
   */
  private withHookValues<T>(inst: Instance, body: () => T): T {
    const set = this.attachments.hookValues?.get(inst);
    if (!set?.size) return body();
    try {
      return body();
    } catch (e) {
      if (!(e instanceof CompileError) || e.diagnostic.code !== 'value') throw e;
      const [name, v] = [...set][0]!;
      const where = inst.path === '' ? 'the model' : `\`${inst.path}\` (${inst.type})`;
      throw new CompileError(
        error(
          'tune',
          `\`${v.method}\` on \`${v.site}\` sets \`hook ${name}\` of ${where} to ${v.value}, and then its forward fails: ${e.diagnostic.message}`,
          v.span,
          { help: v.doc, related: [{ span: e.diagnostic.span, message: e.diagnostic.message }] },
        ),
      );
    }
  }

  /** Each attachment wraps the computation below it; the first attached is innermost. */
  private withAttachments(inst: Instance, vals: readonly Value[], runForward: (v: readonly Value[]) => Value, at: Span): Value {
    let inner = runForward;
    for (const att of attachmentsAt(this.attachments, inst)) {
      const method = this.registry.get(att.method)!;
      const below = inner;
      inner = (v: readonly Value[]) => {
        const tensorSlots = v.flatMap((x, i) => (x.kind === 'tensor' ? [i] : []));
        const params: Record<string, NodeId> = {};
        for (const p of att.params) params[p.name] = this.paramNode.get(p.path)!;
        const siteParams: Record<string, NodeId> = {};
        for (const p of inst.params) siteParams[p.name] = this.paramNode.get(p.path)!;
        const shared: Record<string, NodeId> = {};
        for (const p of att.shared?.params ?? []) shared[p.name] = this.paramNode.get(p.path)!;
        const installed: [string, (x: NodeId) => NodeId][] = [];
        const ctx: RewriteContext = {
          b: this.b,
          site: inst,
          options: att.options,
          args: tensorSlots.map((i) => (v[i] as { id: NodeId }).id),
          base: (ids) => {
            const next = [...v];
            tensorSlots.forEach((slot, k) => (next[slot] = tensor(ids[k]!)));
            return this.tensorOf(below(next), at);
          },
          params,
          dropout: (x, p) => this.dropout(x, p, att.span),
          siteParams,
          shared,
          siteIndex: att.siteIndex,
          siteCount: att.siteCount,
          hook: (name, fn) => {
            let byName = this.hooks.get(inst);
            if (!byName) this.hooks.set(inst, (byName = new Map()));
            const list = byName.get(name) ?? [];
            byName.set(name, [...list, fn]);
            installed.push([name, fn]);
          },
          perApplication: (key, build) => this.oncePerApplication(att, key, build),
          origin: att.span,
          evalBlock: (block, vars) => this.evalMethodBlock(block, vars, inst),
          tensorOf: (x, span) => this.tensorOf(x, span),
        };
        try {
          return tensor(method.rewrite(ctx));
        } finally {
          // Interventions last for this rewrite's base calls only.
          const byName = this.hooks.get(inst);
          for (const [name, fn] of installed)
            byName?.set(
              name,
              (byName.get(name) ?? []).filter((f) => f !== fn),
            );
        }
      };
    }
    return inner(vals);
  }

  private oncePerApplication(att: Attachment, key: string, build: () => NodeId): NodeId {
    let byKey = this.perApplication.get(att.application);
    if (!byKey) this.perApplication.set(att.application, (byKey = new Map()));
    let id = byKey.get(key);
    if (id === undefined) byKey.set(key, (id = build()));
    return id;
  }

  /**
   * Evaluates a block written outside any module (a `.mile` method's `rewrite` or `hook`):
   * only `vars` and the builtins are in scope, not the site's own names.
   */
  private evalMethodBlock(block: Block, vars: ReadonlyMap<string, Value>, site: Instance): Value | undefined {
    const inst: Instance = { ...site, args: new Map(), params: [], children: new Map(), absent: new Set() };
    return this.evalBlock(block, { vars: new Map(vars), inst, isModel: false });
  }

  /**
   * Checks a tensor against a declared type like `f32[B, T, dim]` or `f32[..., in]`.
   * Names not yet bound are bound to the actual size; everything else must agree.
   */
  private matchType(t: TensorType, id: NodeId, env: Map<string, Scalar>, at: Span, what: string): void {
    const node = this.b.node(id);
    const shape = node.shape;
    const declared = `${t.dtype}[${t.dims.map((d) => (d.kind === 'ellipsis' ? '...' : exprText(d.expr))).join(', ')}]`;
    const got = `${node.dtype}${shapeToString(shape)}`;
    const fail = (detail: string) => new CompileError(error('shape', `${what} ${declared}, got ${got}${detail}`, at));
    if (node.dtype !== t.dtype) throw fail('');
    const ell = t.dims.findIndex((d) => d.kind === 'ellipsis');
    const fixed = t.dims.length - (ell >= 0 ? 1 : 0);
    if (ell < 0 ? shape.length !== fixed : shape.length < fixed)
      throw fail(` (rank ${shape.length}, expected ${ell < 0 ? '' : 'at least '}${fixed})`);
    t.dims.forEach((d, i) => {
      if (d.kind === 'ellipsis') return;
      const axis = ell >= 0 && i > ell ? shape.length - (t.dims.length - i) : i;
      const actual = shape[axis]!;
      if (d.expr.kind === 'name' && !env.has(d.expr.name)) {
        env.set(d.expr.name, { kind: 'int', v: actual });
        return;
      }
      const v = constEval(d.expr, env);
      const expected = v.kind === 'int' ? v.v : v.kind === 'float' && Number.isInteger(v.v) ? v.v : undefined;
      if (expected === undefined) throw new CompileError(error('type', `a dimension must be an integer, got ${describeScalar(v)}`, d.span));
      if (expected !== actual) throw fail(` (${exprText(d.expr)} = ${expected}, but axis ${axis} is ${actual})`);
    });
  }

  // ------------------------------------------------------------ indexing

  private index(targetExpr: Expr, items: readonly IndexItem[], at: Span, scope: Scope): Value {
    const target = this.eval(targetExpr, scope);
    if (target.kind === 'modules' || target.kind === 'list') {
      const arr = target.kind === 'modules' ? target.list : target.items;
      const item = items[0];
      if (items.length !== 1 || item!.kind !== 'index') throw new CompileError(error('type', 'index a list with one integer', at));
      const i = this.intOf(this.eval(item.value, scope), item.span);
      const k = i < 0 ? i + arr.length : i;
      if (k < 0 || k >= arr.length) throw new CompileError(error('value', `index ${i} out of range for ${arr.length} items`, item.span));
      return target.kind === 'modules' ? { kind: 'module', inst: target.list[k]! } : target.items[k]!;
    }
    const id = this.tensorOf(target, targetExpr.span);
    const shape = this.b.shape(id);
    const ell = items.findIndex((i) => i.kind === 'ellipsis');
    const explicit = items.filter((i) => i.kind !== 'ellipsis').length;
    if (explicit > shape.length)
      throw new CompileError(error('shape', `too many indices (${explicit}) for a tensor of rank ${shape.length}`, at));
    const ranges = shape.map(() => ({ start: 0, stop: null as number | null }));
    const drop: number[] = [];
    let axis = 0;
    for (const item of items) {
      if (item.kind === 'ellipsis') {
        axis += shape.length - explicit;
        continue;
      }
      const size = shape[axis]!;
      const norm = (v: number, allowEnd: boolean): number => {
        if (!isConcrete(size)) throw new CompileError(error('shape', `cannot index symbolic axis ${axis} (size ${size})`, item.span));
        const k = v < 0 ? v + size : v;
        if (k < 0 || k > size || (!allowEnd && k === size))
          throw new CompileError(error('value', `index ${v} out of range for axis ${axis} of size ${size}`, item.span));
        return k;
      };
      if (item.kind === 'index') {
        const k = norm(this.intOf(this.eval(item.value, scope), item.span), false);
        ranges[axis] = { start: k, stop: k + 1 };
        drop.push(axis);
      } else {
        if (item.step) {
          const st = this.intOf(this.eval(item.step, scope), item.step.span);
          if (st !== 1) throw new CompileError(error('value', `slice steps other than 1 are not supported, got ${st}`, item.step.span));
        }
        const start = item.start ? norm(this.intOf(this.eval(item.start, scope), item.start.span), true) : 0;
        const stop = item.stop ? norm(this.intOf(this.eval(item.stop, scope), item.stop.span), true) : null;
        if (stop !== null && stop <= start) throw new CompileError(error('value', `empty slice ${start}:${stop}`, item.span));
        ranges[axis] = { start, stop };
      }
      axis++;
    }
    void ell;
    let out = this.b.op('slice', [id], { ranges }, at);
    if (ranges.every((r) => r.start === 0 && r.stop === null)) out = id;
    if (drop.length)
      out = this.b.reshape(
        out,
        this.b.shape(out).filter((_, i) => !drop.includes(i)),
        at,
      );
    return tensor(out);
  }

  intOf(v: Value, at: Span): number {
    if (v.kind === 'int' && isConcrete(v.v)) return v.v;
    throw new CompileError(error('type', `expected an integer, got ${describeValue(v)}`, at));
  }
}

function exprText(e: Expr): string {
  switch (e.kind) {
    case 'name':
      return e.name;
    case 'number':
      return String(e.value);
    case 'binary':
      return `${exprText(e.left)} ${e.op} ${exprText(e.right)}`;
    default:
      return '…';
  }
}

export type { ScalarEnv };
